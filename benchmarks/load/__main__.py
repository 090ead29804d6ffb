"""``python -m benchmarks.load``: the load benchmark, or one of its processes (``--role``)."""

from benchmarks.load.cli import main

if __name__ == "__main__":
    main()
