"""What else the daemon did while a close was on its way: long task steps, collections, spans.

:mod:`benchmarks.close_trace` notes when each close passed each hop; this module, installed in
the same daemon process, notes what could have held a hop up:

- **steps**: every trio task step longer than :data:`LONG_STEP_S` (a trio ``Instrument``), with
  the event loop thread's CPU time over the step, the whole process's, and the thread's
  involuntary context switches. A step whose wall time is far above the process's CPU time
  did not run for lack of a CPU (the machine's other processes, or the hypervisor's steal:
  then no switch is counted either); one whose process CPU is far above the thread's shared
  the CPU with the daemon's own threads (the store's writer);
- **collections**: every cyclic garbage collection (``gc.callbacks``), with its generation;
- **spans**: the outcomes' work after a close (``Outcomes.follow``, ``Outcomes.catch_up``) and
  the SQLite writer thread's batches (``SqliteDatabase.write_batch``).

All on ``time.perf_counter()`` (the monotonic clock, comparable across processes). The wrapped
names are private: a rename shows up as a missing span, never as a wrong time.
"""

from __future__ import annotations

import gc
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import trio

#: Task steps noted: longer than this.
LONG_STEP_S = 0.0005
#: A step is a stall when its wall time exceeds its process CPU time by more than this.
STALL_S = 0.001


class Notes:
    """What :func:`install` collects in the daemon's process (JSON-ready lists)."""

    def __init__(self) -> None:
        #: (start, wall s, thread CPU s, process CPU s, involuntary switches, task name)
        self.steps: list[tuple[float, float, float, float, int, str]] = []
        #: (start, s, generation, objects collected)
        self.gc: list[tuple[float, float, int, int]] = []
        #: (start, s, what)
        self.spans: list[tuple[float, float, str]] = []

    def to_json(self) -> dict[str, Any]:
        """The notes as one JSON object."""
        return {"steps": self.steps, "gc": self.gc, "spans": self.spans}


class _Steps(trio.abc.Instrument):
    def __init__(self, notes: Notes) -> None:
        self.notes = notes
        self.started = (0.0, 0.0, 0.0, 0)

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
        self.started = (time.perf_counter(), time.thread_time(), time.process_time(), switches)

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        at, thread, process, switches = self.started
        wall = time.perf_counter() - at
        if wall > LONG_STEP_S:
            self.notes.steps.append(
                (
                    at,
                    wall,
                    time.thread_time() - thread,
                    time.process_time() - process,
                    resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - switches,
                    task.name,
                )
            )


def _span_async(notes: Notes, cls: Any, name: str, label: str) -> None:
    wrapped = getattr(cls, name)

    async def wrapper(self: Any, *args: Any) -> Any:
        at = time.perf_counter()
        try:
            return await wrapped(self, *args)
        finally:
            notes.spans.append((at, time.perf_counter() - at, label))

    setattr(cls, name, wrapper)


def _span_sync(notes: Notes, cls: Any, name: str, label: Callable[[Any], str]) -> None:
    wrapped = getattr(cls, name)

    def wrapper(self: Any, arg: Any) -> Any:
        at = time.perf_counter()
        try:
            return wrapped(self, arg)
        finally:
            notes.spans.append((at, time.perf_counter() - at, label(arg)))

    setattr(cls, name, wrapper)


def install(notes: Notes) -> None:
    """In the daemon's process, before ``vyx`` starts: note steps, collections and spans."""
    from vyx.outcomes.service import Outcomes
    from vyx.store.sqlite import SqliteDatabase

    began = [0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            at = began[0]
            notes.gc.append((at, time.perf_counter() - at, info["generation"], info["collected"]))

    gc.callbacks.append(collected)
    run = trio.run

    def run_instrumented(*args: Any, **kwargs: Any) -> Any:
        kwargs["instruments"] = [*kwargs.get("instruments", ()), _Steps(notes)]
        return run(*args, **kwargs)

    trio.run = run_instrumented
    _span_async(notes, Outcomes, "follow", "outcomes follow")
    _span_async(notes, Outcomes, "catch_up", "outcomes step")
    _span_sync(notes, SqliteDatabase, "write_batch", lambda rows: f"sqlite {len(rows)} items")


def window(notes: dict[str, Any], zero: float, lo: float, hi: float) -> list[str]:
    """Lines for what ``notes`` hold that began between ``lo`` and ``hi``, in time order, each
    at its ms after ``zero``."""
    found: list[tuple[float, str]] = []
    for at, wall, thread, process, switches, name in notes["steps"]:
        if lo <= at <= hi:
            found.append(
                (
                    at,
                    f"step {name}: {wall * 1e3:.2f} ms, CPU {thread * 1e3:.2f} "
                    f"(process {process * 1e3:.2f}), {switches} preempted",
                )
            )
    for at, dur, gen, count in notes["gc"]:
        if lo <= at <= hi:
            found.append((at, f"gc generation {gen}: {dur * 1e3:.2f} ms, {count} collected"))
    for at, dur, what in notes["spans"]:
        if lo <= at <= hi:
            found.append((at, f"{what}: {dur * 1e3:.2f} ms"))
    return [f"    {(at - zero) * 1e3:7.1f}  {text}" for at, text in sorted(found)]


def summary(notes: dict[str, Any], since: float) -> list[str]:
    """Lines: collections per generation, stalls, the outcomes' and the writer's spans, from
    ``since`` on (the first close: the start-up's are left out)."""
    notes = {k: [n for n in v if n[0] >= since] for k, v in notes.items()}
    lines = []
    for gen in range(3):
        ms = [dur * 1e3 for _, dur, g, _ in notes["gc"] if g == gen]
        if ms:
            lines.append(
                f"gc generation {gen}: {len(ms)} collections, median {statistics.median(ms):.2f} "
                f"ms, max {max(ms):.2f} ms"
            )
    stalls = [
        (wall - process, switches)
        for _, wall, _, process, switches, _ in notes["steps"]
        if wall - process > STALL_S
    ]
    unswitched = sum(1 for _, switches in stalls if switches == 0)
    lines.append(
        f"stalls (a step's wall time > its process CPU + {STALL_S * 1e3:g} ms): {len(stalls)}, "
        f"{unswitched} of them without a context switch; longest "
        f"{max((s for s, _ in stalls), default=0) * 1e3:.1f} ms"
    )
    for what in ("outcomes follow", "outcomes step", "sqlite"):
        ms = [dur * 1e3 for _, dur, w in notes["spans"] if w.startswith(what)]
        if ms:
            lines.append(
                f"{what}: {len(ms)}, median {statistics.median(ms):.2f} ms, max {max(ms):.2f} ms"
            )
    return lines
