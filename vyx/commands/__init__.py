"""Command implementations of the ``vyx`` CLI, one module per command."""
