"""Vyx kernels: ring buffers, streaming indicators, the filter language and its executor.

This package imports nothing from ``vyx``; the daemon builds on it, never the other way round.
"""
