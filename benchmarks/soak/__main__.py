"""``python -m benchmarks.soak``: the soak (``just soak``)."""

from benchmarks.soak.cli import main

if __name__ == "__main__":
    main()
