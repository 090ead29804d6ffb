"""Compiling the kernels up front: in parallel processes, with progress, once per machine.

numba compiles a kernel the first time it runs and caches it on disk; the first ``vyx demo``
on a new machine would sit silent while the whole interpreter compiles. :func:`ensure_compiled`
does it up front instead: it loads the interpreter from the cache when it is there (a fraction
of a second), and otherwise compiles the kernel families in parallel — one forked process per
spare CPU plus this one, each family its own compiled unit (:mod:`kernels.families`) cached on
disk — reporting each one done, and the interpreter as soon as every family is (it finds them
in the cache), while the other processes compile the units it does not link.
The outcome kernels (:mod:`kernels.outcomes`: a signal's outcome followed bar by bar) are a
unit too: compiled here, with progress, rather than silently at the first signal; a process
loads them from the cache when it first follows an outcome.

Compile time stays bounded as opcodes are added: a new opcode costs compile time only in its
family, families compile in parallel, and the interpreter's own compile does not grow with the
opcodes. A family that grows large can be split in two (one more entry in
:data:`kernels.families.FAMILIES`).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import time
from collections.abc import Callable
from typing import Any

import attrs
from numba import types

from kernels import atomics, outcomes
from kernels.csv_parse import parse_nb
from kernels.families import FAMILIES
from kernels.fired import scan_nb
from kernels.interp import run_nb

_TUPLE: Any = types.UniTuple
_I1, _I2 = types.int64[::1], types.int64[:, ::1]
_F2, _F3 = types.float64[:, ::1], types.float64[:, :, ::1]

#: The signature every family's ``block_nb`` is called with.
FAMILY_SIGNATURE = (
    types.int64,
    _F2,
    _I2,
    types.int64,
    _TUPLE(types.int64, 4),
    _I1,
    _I1,
    _TUPLE(types.float64, 4),
    types.int64,
    types.int64,
)

#: The signature :func:`kernels.interp.run_nb` is called with.
INTERP_SIGNATURE = (
    _I1,
    _I2,
    _F2,
    _I1,
    _I1,
    _I1,
    _F2,
    _I1,
    _F3,
    _F3,
    types.int64,
    types.int64,
    types.boolean,
    _I2,
    _F3,
    _F2,
    _I2,
    _I2,
    _I2,
    _I2,
    _F2,
    _I1,
)

#: The signature :func:`kernels.fired.scan_nb` is called with.
SCAN_SIGNATURE = (
    _F3,
    types.int64,
    _I2,
    _I1,
    types.uint8[:, :, ::1],
    types.boolean,
    _I1,
    _I2,
    _I2,
    _F2,
)

_F1 = types.float64[::1]

#: The signature :func:`kernels.csv_parse.parse_nb` is called with.
CSV_SIGNATURE = (types.uint8[::1], types.int64, _I1, _F1, _F2)

#: The signatures the outcome kernels (:mod:`kernels.outcomes`) are called with.
OUTCOME_SIGNATURES: tuple[tuple[Any, tuple[Any, ...]], ...] = (
    (outcomes.advance_nb, (_F2, _I1, _I1, _F1, _F1, _F1)),
    (outcomes.history_nb, (_F2, _I1, _I1, _F1, _F1, _F1)),
    (outcomes.mean_true_range_nb, (_F1, _F1, _F1, types.int64, types.int64)),
    (
        outcomes.start_nb,
        (_F2, _I1, _F1, _F1, _F1, _F1, types.int64, types.float64, types.float64),
    ),
)

#: The signatures the helper threads' waits (:mod:`kernels.atomics`) are called with.
CREW_SIGNATURES: tuple[tuple[Any, tuple[Any, ...]], ...] = (
    (atomics.sleep_nb, (_I1, types.int64, types.int64)),
    (atomics.post_nb, (_I1, types.int64)),
)

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
    return (
        _cached(run_nb, INTERP_SIGNATURE)
        and _cached(scan_nb, SCAN_SIGNATURE)
        and _cached(parse_nb, CSV_SIGNATURE)
        and all(_cached(kernel, signature) for kernel, signature in OUTCOME_SIGNATURES)
        and all(_cached(kernel, signature) for kernel, signature in CREW_SIGNATURES)
    )


def _compile_unit(index: int) -> str:
    """Compile kernel family ``index``, (-1) the firing pass, the klines reader and the
    helper threads' waits or (-2) the outcome kernels."""
    if index == -2:
        for kernel, signature in OUTCOME_SIGNATURES:
            kernel.compile(signature)
    elif index < 0:
        scan_nb.compile(SCAN_SIGNATURE)
        parse_nb.compile(CSV_SIGNATURE)
        for kernel, signature in CREW_SIGNATURES:
            kernel.compile(signature)
    else:
        FAMILIES[index].block_nb.compile(FAMILY_SIGNATURE)
    return _unit_name(index)


def _size(module: Any) -> int:
    try:
        return os.path.getsize(module.__file__)
    except (OSError, TypeError):
        return 0


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ensure_compiled(
    progress: Progress | None = None, *, processes: int | None = None
) -> CompileReport:
    """Make the kernels ready to run: from the cache, or compiled (the families, the firing
    pass and the outcome kernels in parallel over ``processes``, default the CPUs this process
    may use, and the interpreter once the families are). ``progress`` is called after each
    compiled unit."""
    started = time.perf_counter()
    # Largest first (so the processes finish together): by the families' sizes on disk.
    units = [*sorted(range(len(FAMILIES)), key=lambda i: -_size(FAMILIES[i])), -1, -2]
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
    return CompileReport(False, workers + 1, time.perf_counter() - started)


def _compile_interpreter(report: Callable[[str], None]) -> None:
    run_nb.compile(INTERP_SIGNATURE)
    report("interpreter")


def _compile_all(units: list[int], workers: int, report: Callable[[str], None]) -> None:
    """Compile ``units`` in this process and ``workers`` forked ones (each takes the next unit
    left, a counter in shared memory, until none is), and the interpreter in this one as soon
    as every family is compiled: the units it does not link (the firing pass, the outcome
    kernels) compile meanwhile in the other processes."""
    if not workers:
        for index in units:
            report(_compile_unit(index))
        _compile_interpreter(report)
        return
    context = multiprocessing.get_context("fork")
    taken = context.Value("i", 0)
    done = context.Array("b", len(units))
    children = [context.Process(target=_take, args=(units, taken, done)) for _ in range(workers)]
    for child in children:
        child.start()
    reported = [False] * len(units)
    families = [k for k, index in enumerate(units) if index >= 0]

    def families_done() -> bool:
        _report_done(units, done, reported, report)
        return all(reported[k] for k in families)

    try:
        # The families left, then the interpreter once the other processes have done theirs.
        for k in iter(lambda: _next(taken, units, families_only=True), -1):
            report(_compile_unit(units[k]))
            reported[k] = True
        _wait(families_done, children)
        _compile_interpreter(report)
        for k in iter(lambda: _next(taken, units), -1):
            report(_compile_unit(units[k]))
            reported[k] = True
        for child in children:
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"a compiling process failed (exit {child.exitcode})")
        _report_done(units, done, reported, report)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()


def _wait(ready: Callable[[], bool], children: list[Any]) -> None:
    """Until ``ready()``: the other processes are compiling the last units it waits for."""
    while not ready():
        if any(child.exitcode not in (None, 0) for child in children):
            raise RuntimeError("a compiling process failed")
        if all(child.exitcode is not None for child in children) and not ready():
            raise RuntimeError("the compiling processes stopped before their units were done")
        multiprocessing.connection.wait([child.sentinel for child in children], timeout=0.01)


def _next(taken: Any, units: list[int], *, families_only: bool = False) -> int:
    """The next unit's index, or -1 when none is left (with ``families_only``, also when the
    next one is not a family)."""
    with taken.get_lock():
        k = int(taken.value)
        if k >= len(units) or (families_only and units[k] < 0):
            return -1
        taken.value = k + 1
    return k


def _take(units: list[int], taken: Any, done: Any) -> None:
    """A forked process: compile units until none is left (their cache files are written)."""
    for k in iter(lambda: _next(taken, units), -1):
        _compile_unit(units[k])
        done[k] = 1


def _report_done(
    units: list[int], done: Any, reported: list[bool], report: Callable[[str], None]
) -> None:
    for k, flag in enumerate(done):
        if flag and not reported[k]:
            reported[k] = True
            report(_unit_name(units[k]))


def _unit_name(index: int) -> str:
    if index < 0:
        return "firing rules, klines reader" if index == -1 else "outcomes"
    return FAMILIES[index].__name__.rsplit(".", 1)[-1]
