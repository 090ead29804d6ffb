"""Compiling the kernels up front: in parallel processes, with progress, once per machine.

numba compiles a kernel the first time it runs and caches it on disk; the first ``vyx demo``
on a new machine would sit silent while the whole interpreter compiles. :func:`ensure_compiled`
does it up front instead: it loads the interpreter from the cache when it is there (a fraction
of a second), and otherwise compiles the kernel families in parallel — one forked process per
spare CPU plus this one, each family its own compiled unit (:mod:`kernels.families`) cached on
disk — reporting each one done, then the interpreter, which finds every family in the cache.

Compile time stays bounded as opcodes are added: a new opcode costs compile time only in its
family, families compile in parallel, and the interpreter's own compile does not grow with the
opcodes. A family that grows large can be split in two (one more entry in
:data:`kernels.families.FAMILIES`).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import attrs
from numba import types

from kernels.families import FAMILIES
from kernels.fired import scan_nb
from kernels.interp import run_nb

_TUPLE: Any = types.UniTuple
_I1, _I2 = types.int64[::1], types.int64[:, ::1]
_F2, _F3 = types.float64[:, ::1], types.float64[:, :, ::1]

#: The signature every family's ``block_nb`` is called with.
FAMILY_SIGNATURE = (
    types.int64, _F2, _I2, types.int64, _TUPLE(types.int64, 4), _I1, _I1,
    _TUPLE(types.float64, 4), types.int64, types.int64,
)  # fmt: skip

#: The signature :func:`kernels.interp.run_nb` is called with.
INTERP_SIGNATURE = (
    _I1, _I2, _F2, _I1, _I1, _I1, _F2, _I1, _F3, _F3, types.int64, types.int64,
    types.boolean, _I2, _F3, _F2, _I2,
)  # fmt: skip

#: The signature :func:`kernels.fired.scan_nb` is called with.
SCAN_SIGNATURE = (
    _F3, types.int64, _I2, _I1, types.uint8[:, :, ::1], types.boolean, types.int64, _I2, _I2,
)  # fmt: skip

#: ``progress(done, total, what)``: ``what`` was just compiled (or loaded).
Progress = Callable[[int, int, str], None]


@attrs.frozen
class CompileReport:
    """What :func:`ensure_compiled` did."""

    #: True when everything came from the cache (nothing was compiled).
    cached: bool
    #: Processes that compiled (this one included).
    processes: int
    #: Wall time, seconds.
    seconds: float


def _cached(dispatcher: Any, signature: tuple[Any, ...]) -> bool:
    cache = dispatcher._cache
    try:
        key = cache._index_key(signature, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except (AttributeError, OSError, EOFError, ValueError):  # numba internals; assume cold
        return False


def is_cached() -> bool:
    """Are the interpreter and the backtest's firing pass in numba's on-disk cache for this
    machine and these sources?"""
    return _cached(run_nb, INTERP_SIGNATURE) and _cached(scan_nb, SCAN_SIGNATURE)


def _compile_unit(index: int) -> str:
    """Compile kernel family ``index``, or (-1) the backtest's firing pass."""
    if index < 0:
        scan_nb.compile(SCAN_SIGNATURE)
        return "firing rules"
    family = FAMILIES[index]
    family.block_nb.compile(FAMILY_SIGNATURE)
    return family.__name__.rsplit(".", 1)[-1]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ensure_compiled(
    progress: Progress | None = None, *, processes: int | None = None
) -> CompileReport:
    """Make the kernels ready to run: from the cache, or compiled (the families and the
    firing pass in parallel over ``processes``, default the CPUs this process may use, then
    the interpreter). ``progress`` is called after each compiled unit."""
    started = time.perf_counter()
    units = [*range(len(FAMILIES)), -1]
    total = len(units) + 1
    if is_cached():
        run_nb.compile(INTERP_SIGNATURE)
        scan_nb.compile(SCAN_SIGNATURE)
        if progress is not None:
            progress(total, total, "kernels (cached)")
        return CompileReport(True, 1, time.perf_counter() - started)
    workers = max(1, processes or _cpus()) - 1
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 0
    done = 0

    def report(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, what)

    _compile_all(units, workers, report)
    run_nb.compile(INTERP_SIGNATURE)
    report("interpreter")
    return CompileReport(False, workers + 1, time.perf_counter() - started)


def _compile_all(units: list[int], workers: int, report: Callable[[str], None]) -> None:
    """Compile ``units``: forked workers take them from the front, this process from the
    back, until none is left."""
    pending = list(units)
    if workers:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            running: list[Future[str]] = []
            while pending or running:
                while pending and len(running) < workers:
                    running.append(pool.submit(_compile_unit, pending.pop(0)))
                if pending:
                    report(_compile_unit(pending.pop()))
                for future in [f for f in running if f.done() or not pending]:
                    report(future.result())
                    running.remove(future)
    for index in pending:
        report(_compile_unit(index))
