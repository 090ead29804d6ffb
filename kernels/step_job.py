"""A screen's bars copied out of the rings, and their stepping through the timeframe's plan.

:meth:`Executor.prepare <kernels.executor.Executor.prepare>` makes a :class:`StepJob` on the
event loop's thread; :meth:`StepJob.run` (or :meth:`StepJob.run_split` over several threads)
steps it anywhere, releasing the GIL; :meth:`Executor.finish <kernels.executor.Executor.finish>`
reads its outputs back on the event loop's thread.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import attrs
import numpy as np

from kernels.graph import F64, I64
from kernels.group import GroupState
from kernels.interp import ALONE, NO_FIRES, SCRATCH_ROWS, outputs, run_nb, workspace
from kernels.ops import OPEN_TIME
from kernels.threads import MIN_SPLIT_STEPS, PIECE_STEPS, crew


@attrs.define(eq=False)
class StepJob:
    """Bars copied out of a ring, ready to step (see the module docstring; the executor's
    says how a screen goes)."""

    timeframe: str
    open_time: int
    state: GroupState
    bars: F64
    ext: F64
    out_nodes: I64
    out: F64
    commit: bool
    started: float = attrs.field(factory=time.perf_counter)

    #: The interpreter's ``out_nodes`` (:func:`~kernels.interp.outputs` of ``out_nodes``),
    #: when the maker of the job keeps one per installed program (None: made per call).
    out_spec: I64 | None = attrs.field(default=None, kw_only=True)

    #: Bars to step (not NaN in ``bars``), when the maker of the job counted them (-1:
    #: :meth:`node_steps` counts them).
    bars_stepped: int = attrs.field(default=-1, kw_only=True)
    #: The share of a split job's pieces helper threads stepped (:meth:`run_split`; 0 when
    #: the calling thread stepped them all).
    helped: float = attrs.field(default=0.0, init=False)

    def run(self, lo: int = 0, hi: int | None = None) -> None:
        """Step slots ``lo..hi-1``; thread-safe for disjoint ranges, releases the GIL."""
        run_nb(*self.arguments(lo, self.state.n_slots if hi is None else hi, ALONE))

    def arguments(self, lo: int, hi: int, claims: I64, nodes: I64 | None = None) -> tuple[Any, ...]:
        """:func:`~kernels.interp.run_nb`'s arguments stepping slots ``lo..hi-1`` as
        ``claims`` says (:data:`~kernels.interp.ALONE`: all of them), with a workspace of
        their own (``nodes``: the job's :func:`~kernels.interp.outputs`, when made already)."""
        return (
            *self._leading(lo, hi, nodes),
            *workspace(self.state.layout.width, hi - lo, self.commit),
            *NO_FIRES,
            claims,
        )

    def _leading(self, lo: int, hi: int, nodes: I64 | None = None) -> tuple[Any, ...]:
        """:func:`~kernels.interp.run_nb`'s arguments up to ``out``: the same for every
        thread stepping ``lo..hi-1`` (a workspace, no fires and ``claims`` follow)."""
        lay = self.state.layout
        if nodes is None:
            nodes = outputs(self.out_nodes) if self.out_spec is None else self.out_spec
        return (
            *lay.program,
            self.state.mem,
            self.state.count,
            self.bars,
            self.ext,
            lo,
            hi,
            self.commit,
            nodes,
            self.out,
        )

    def chunks(self, n: int) -> list[tuple[int, int]]:
        """``n`` contiguous slot ranges covering every slot (for worker threads)."""
        total = self.state.n_slots
        bounds = np.linspace(0, total, max(1, n) + 1).astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]

    def node_steps(self) -> int:
        """Node steps this job takes: bars to step times the plan's nodes."""
        if self.bars_stepped < 0:
            self.bars_stepped = int(np.count_nonzero(~np.isnan(self.bars[:, :, OPEN_TIME])))
        return self.bars_stepped * self.state.layout.n_nodes

    def threads_worth(self, available: int) -> int:
        """Threads worth splitting this job over: one below
        :data:`~kernels.threads.MIN_SPLIT_STEPS` node steps, else ``available``."""
        return 1 if self.node_steps() < MIN_SPLIT_STEPS else max(1, available)

    def piece_slots(self) -> int:
        """Slots of a piece of a split job: about :data:`~kernels.threads.PIECE_STEPS` node
        steps, in whole batches of the interpreter's (:data:`~kernels.interp.SCRATCH_ROWS`)."""
        per_slot = max(1, self.node_steps()) / max(1, self.state.n_slots)
        return max(1, round(PIECE_STEPS / per_slot / SCRATCH_ROWS)) * SCRATCH_ROWS

    def run_split(self, n: int) -> None:
        """Step every slot on ``n`` threads, this one and the process's helpers (releases
        the GIL; :class:`~kernels.threads.Crew`): each thread takes pieces of
        :meth:`piece_slots` in turn until none is left."""
        if n <= 1:
            self.run()
            return
        lay = self.state.layout
        leading = self._leading(0, self.state.n_slots)
        self.helped = crew().run(leading, lay.width, self.commit, n - 1, self.piece_slots())
