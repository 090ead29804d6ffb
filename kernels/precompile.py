"""Compiling the kernels up front: in parallel processes, with progress, once per machine.

numba compiles a kernel the first time it runs and caches it on disk; the first ``vyx demo``
on a new machine would sit silent while the whole interpreter compiles. :func:`ensure_compiled`
does it up front instead: it loads the kernels from the cache when they are there (a fraction
of a second), and otherwise compiles every unit — the interpreter, each kernel family
(:mod:`kernels.families`), the klines reader, the outcome kernels (a signal's
outcome followed bar by bar, :mod:`kernels.outcomes`) and the warm-up replay
(:mod:`kernels.replay`) — each on its own and cached on disk, in
one forked process per CPU, longest first, while this process reports each unit as it is
done. No unit waits for another: the interpreter calls the families through a table filled
when it is loaded (:mod:`kernels.family_table`), so it does not link their code, and the
warm-up replay calls the interpreter through its address in turn.

Compile time stays bounded as opcodes are added: a new opcode costs compile time only in its
family, units compile in parallel, and the interpreter's own compile does not grow with the
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

from kernels import atomics, handoff, outcome_levels, outcomes, record_sums, replay
from kernels.csv_parse import parse_nb
from kernels.families import FAMILIES
from kernels.family_table import FAMILY_SIGNATURE, deferred, family_address, load_families
from kernels.interp import INTERP_SIGNATURE, run_nb

_TUPLE: Any = types.UniTuple
_I1, _I2 = types.int64[::1], types.int64[:, ::1]
_F2, _F3 = types.float64[:, ::1], types.float64[:, :, ::1]

_F1 = types.float64[::1]

#: The signature :func:`kernels.csv_parse.parse_nb` is called with.
CSV_SIGNATURE = (types.uint8[::1], types.int64, _I1, _F1, _F2)

#: The signatures the outcome kernels (:mod:`kernels.outcomes`) are called with.
OUTCOME_SIGNATURES: tuple[tuple[Any, tuple[Any, ...]], ...] = (
    (outcomes.advance_nb, (_F2, _I1, _I1, _F1, _F1, _F1)),
    (outcomes.history_nb, (_F2, _I1, _I1, _F1, _F1, _F1)),
    (outcomes.mean_true_range_nb, (_F1, _F1, _F1, types.int64, types.int64)),
    (outcome_levels.mean_true_ranges_nb, (_F1, _F1, _F1, _I1, types.int64, _F1)),
    (
        record_sums.record_sums_nb,
        (_F2, types.int64, types.int64, types.int64, _F1, _F1, _F2, _I1),
    ),
    (record_sums.window_nb, (_F2, _I1, _F2, types.int64, types.int64, types.int64)),
    (
        outcomes.start_nb,
        (_F2, _I1, _F1, _F1, _F1, _F1, types.int64, types.float64, types.float64),
    ),
)

_TUPLE_OF: Any = types.Tuple
#: The signature :func:`kernels.replay.replay_nb` is called with.
REPLAY_SIGNATURE = (
    _TUPLE_OF(INTERP_SIGNATURE[:6]),
    _F1,
    types.float64[:, :, ::1],
    _I2,
    _I2,
    _F2,
    _I2,
    _I2,
    _I2,
    types.int64,
    _I2,
    types.boolean,
    _TUPLE_OF((_F2, _I1, _I1)),
    _TUPLE_OF((*INTERP_SIGNATURE[6:10], *INTERP_SIGNATURE[13:17])),
)

#: The signatures the helper threads' waits (:mod:`kernels.atomics`) are called with.
CREW_SIGNATURES: tuple[tuple[Any, tuple[Any, ...]], ...] = (
    (atomics.ring_nb, (_I1, types.int64)),
    (handoff.settle_nb, (_I1,)),
)

#: ``progress(done, total, what)``: ``what`` was just compiled (or loaded).
Progress = Callable[[int, int, str], None]


@attrs.frozen
class CompileReport:
    """What :func:`ensure_compiled` did."""

    #: True when everything came from the cache (nothing was compiled).
    cached: bool
    #: Processes that compiled: forked ones, or this one alone (1).
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


def kernel_signatures() -> list[tuple[Any, tuple[Any, ...]]]:
    """Every kernel the units are made of (each a numba dispatcher written to the cache) with
    the signature it is compiled for: the interpreter, the klines reader, each family's entry,
    the outcome kernels, the helper threads' waits and the warm-up replay."""
    return [
        (run_nb, INTERP_SIGNATURE),
        (parse_nb, CSV_SIGNATURE),
        *((f.block_nb, FAMILY_SIGNATURE) for f in FAMILIES),
        *OUTCOME_SIGNATURES,
        *CREW_SIGNATURES,
        (replay.replay_nb, REPLAY_SIGNATURE),
    ]


def is_cached() -> bool:
    """Is every compiled unit in numba's on-disk cache for this machine and these sources?"""
    return all(_cached(kernel, signature) for kernel, signature in kernel_signatures())


#: Families compiled as one unit, in one process: they link the same helpers (the window
#: extremes of :mod:`kernels.ind.windows`, ``stats.track``), which a process types and lowers
#: once for all its units; compiled in two processes they cost ~0.35-0.5 s more of CPU.
SHARED_UNITS = (("oscillators", "stats", "structure"),)

#: Each unit's compile CPU, seconds (measured in the two forked processes of cold compiles on
#: the reference 2-vCPU machine at load ~2, two runs; the first unit of each process, the
#: interpreter and oscillators' group, includes numba's set-up, which every process pays):
#: only the order units are taken in, longest first, so that the processes finish together;
#: a stale or missing figure costs balance, never correctness.
UNIT_SECONDS = {
    "oscillators, stats, structure": 4.3,
    "interpreter": 3.0,
    "outcomes": 1.5,
    "elementwise": 1.2,
    "candles": 1.05,
    "trend": 0.95,
    "averages": 0.65,
    "klines reader, thread waits": 0.63,
    "warm-up replay": 0.59,
    "volume": 0.58,
}


def units() -> list[str]:
    """Every compiled unit (the interpreter, each family or group of :data:`SHARED_UNITS`,
    the klines reader with the helper threads' waits, the outcome kernels, the warm-up
    replay), longest first (:data:`UNIT_SECONDS`)."""
    shared = {family: ", ".join(group) for group in SHARED_UNITS for family in group}
    families = [shared.get(name, name) for name in map(_family_name, FAMILIES)]
    names = [
        "interpreter",
        *dict.fromkeys(families),
        "klines reader, thread waits",
        "outcomes",
        "warm-up replay",
    ]
    return sorted(names, key=lambda name: -UNIT_SECONDS.get(name, 0.0))


def _family_name(module: Any) -> str:
    name: str = module.__name__.rsplit(".", 1)[-1]
    return name


def _compile_unit(name: str) -> str:
    """Compile unit ``name`` (or load it from the cache) and return its name."""
    if name == "interpreter":
        # Not its families: they may be compiling in another process (see _load).
        with deferred():
            run_nb.compile(INTERP_SIGNATURE)
    elif name == "klines reader, thread waits":
        parse_nb.compile(CSV_SIGNATURE)
        for kernel, signature in CREW_SIGNATURES:
            kernel.compile(signature)
    elif name == "warm-up replay":
        replay.replay_nb.compile(REPLAY_SIGNATURE)
    elif name == "outcomes":
        for kernel, signature in OUTCOME_SIGNATURES:
            kernel.compile(signature)
    else:
        families = [_family_name(f) for f in FAMILIES]
        for family in name.split(", "):
            family_address(families.index(family))
    return name


def _load() -> None:
    """The interpreter and its families ready in this process."""
    load_families()
    run_nb.compile(INTERP_SIGNATURE)


def ensure_loaded() -> CompileReport:
    """Every unit ready in this process, not only the interpreter and its families: the outcome
    kernels, the warm-up replay, the klines reader and the helper threads' waits too, so that
    none is loaded (or compiled) when first called. A daemon calls this before it is ready:
    loading a unit at a close costs that close milliseconds (the outcome kernels at the first
    signal), compiling one costs it seconds and keeps numba's compiler in the process's memory
    for good (~40 MiB). From the cache (~15 ms more than :func:`ensure_compiled`'s load); on a
    cold cache everything is compiled first, in this process (a caller that can show progress
    or fork compiles first: ``vyx run`` and ``vyx demo`` call
    :func:`kernels.warmup.prepare_kernels` before they start the daemon)."""
    report = ensure_compiled(processes=1)
    for name in units():
        _compile_unit(name)  # loaded now, or already (a no-op)
    return report


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ensure_compiled(
    progress: Progress | None = None, *, processes: int | None = None, cached: bool | None = None
) -> CompileReport:
    """Make the interpreter and its families ready to run: from the cache, or compiled, every
    unit on its own, in ``processes`` forked processes (default: one per CPU this process may
    use, even on one CPU, so that this process never holds numba's compiler; 1: in this one).
    ``progress`` is called as each unit is compiled. The other units are loaded when first
    called (:func:`ensure_loaded` loads them all). ``cached``: what :func:`is_cached` just
    said, if the caller asked (each asking reads every unit's index file)."""
    started = time.perf_counter()
    names = units()
    if is_cached() if cached is None else cached:
        _load()
        if progress is not None:
            progress(len(names), len(names), "kernels (cached)")
        return CompileReport(True, 1, time.perf_counter() - started)
    done = 0

    def report(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(names), what)

    workers = max(1, processes or _cpus())
    if processes == 1 or "fork" not in multiprocessing.get_all_start_methods():
        workers = 1
        for name in names:
            report(_compile_unit(name))
    else:
        _compile_in_processes(names, workers, report)
    _load()
    return CompileReport(False, workers, time.perf_counter() - started)


def _compile_in_processes(names: list[str], workers: int, report: Callable[[str], None]) -> None:
    """Compile ``names`` in ``workers`` forked processes, each taking the next unit left (a
    counter in shared memory) until none is; this one reports each unit as it is done (the
    processes write a unit's name to a pipe once its cache files are written)."""
    context = multiprocessing.get_context("fork")
    taken = context.Value("i", 0)
    reader, writer = context.Pipe(duplex=False)
    children = [context.Process(target=_take, args=(names, taken, writer)) for _ in range(workers)]
    for child in children:
        child.start()
    writer.close()
    running = {child.sentinel: child for child in children}
    listening = True  # until every process has closed the pipe
    left = len(names)
    try:
        while left:
            for ready in multiprocessing.connection.wait([reader] * listening + [*running]):
                if ready is reader:
                    try:
                        report(reader.recv())
                    except EOFError:
                        listening = False
                        continue
                    left -= 1
                    continue
                child = running.pop(ready)  # type: ignore[arg-type]
                child.join()
                if child.exitcode != 0:
                    raise RuntimeError(f"a compiling process failed (exit {child.exitcode})")
            if left and not running and not (listening and reader.poll()):
                raise RuntimeError("the compiling processes stopped before their units were done")
        for child in children:
            child.join()
    finally:
        reader.close()
        for child in children:
            if child.is_alive():
                child.kill()
                child.join()


def _next(taken: Any, count: int) -> int:
    """The next unit's index, or -1 when none is left."""
    with taken.get_lock():
        k = int(taken.value)
        if k >= count:
            return -1
        taken.value = k + 1
    return k


def _take(names: list[str], taken: Any, writer: Any) -> None:
    """A forked process: compile units until none is left (their cache files are written)."""
    for k in iter(lambda: _next(taken, len(names)), -1):
        writer.send(_compile_unit(names[k]))
