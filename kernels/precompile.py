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
from types import ModuleType
from typing import Any

import attrs
from numba import types

from kernels.families import FAMILIES
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

#: ``progress(done, total, what)``: ``what`` was just compiled (or loaded).
Progress = Callable[[int, int, str], None]


@attrs.frozen
class CompileReport:
    """What :func:`ensure_compiled` did."""

    #: True when the interpreter came from the cache (nothing was compiled).
    cached: bool
    #: Processes that compiled (this one included).
    processes: int
    #: Wall time, seconds.
    seconds: float


def _name(family: ModuleType) -> str:
    return family.__name__.rsplit(".", 1)[-1]


def is_cached() -> bool:
    """Is the interpreter in numba's on-disk cache for this machine and these sources?"""
    cache = run_nb._cache
    try:
        key = cache._index_key(INTERP_SIGNATURE, run_nb.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except (AttributeError, OSError, EOFError, ValueError):  # numba internals; assume cold
        return False


def _compile_family(index: int) -> str:
    family = FAMILIES[index]
    family.block_nb.compile(FAMILY_SIGNATURE)
    return _name(family)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ensure_compiled(
    progress: Progress | None = None, *, processes: int | None = None
) -> CompileReport:
    """Make the interpreter ready to run: from the cache, or compiled (families in parallel
    over ``processes``, default the CPUs this process may use). ``progress`` is called after
    each compiled unit."""
    started = time.perf_counter()
    total = len(FAMILIES) + 1
    if is_cached():
        run_nb.compile(INTERP_SIGNATURE)
        if progress is not None:
            progress(total, total, "interpreter (cached)")
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

    # Largest families first; this process and the workers each take the next one left.
    pending = sorted(range(len(FAMILIES)), key=lambda i: -len(FAMILIES[i].OPCODES))
    if workers:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            running: list[Future[str]] = []
            while pending or running:
                while pending and len(running) < workers:
                    running.append(pool.submit(_compile_family, pending.pop(0)))
                if pending:
                    report(_compile_family(pending.pop()))
                for future in [f for f in running if f.done() or not pending]:
                    report(future.result())
                    running.remove(future)
    for index in pending:
        report(_compile_family(index))
    run_nb.compile(INTERP_SIGNATURE)
    report("interpreter")
    return CompileReport(False, workers + 1, time.perf_counter() - started)
