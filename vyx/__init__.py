"""Vyx: an always-on, per-user crypto market screener."""

__version__ = "0.1.0"
