"""``python -m vyx`` runs the command-line interface."""

from vyx.cli import main

main()
