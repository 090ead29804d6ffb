"""The daemon process's cyclic garbage collector, once the daemon is ready.

Python's collector traverses every container object of a generation when it collects it; the
oldest generation holds everything the start-up left (the imports, numba's and the kernels'
objects, the services: ~100,000 objects and more). A close's signals allocate a few dozen
containers each, so a full collection comes every few thousand signals and costs milliseconds
each time (~5 µs a signal in ``benchmarks/signals_bench.py``, a stall on a close's path).
:func:`freeze_startup_heap` collects once and moves what is alive to the permanent generation
(:func:`gc.freeze`): later collections traverse only what the running daemon allocated. Objects
frozen are still freed by reference counting; a cycle among them is never collected (the
start-up's garbage cycles are collected just before).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect, then freeze every object alive (call it once, when the daemon is ready; the
    CLI's daemons do, through :attr:`~vyx.app.DaemonOptions.ready`). Takes ~15 ms for
    ~100,000 objects."""
    gc.collect()
    gc.freeze()
