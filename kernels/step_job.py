"""A screen's bars copied out of the rings, and their stepping through the timeframe's plan.

:meth:`Executor.prepare <kernels.executor.Executor.prepare>` makes a :class:`StepJob` on the
event loop's thread; :meth:`StepJob.run` (or :meth:`StepJob.run_split` over several threads)
steps it anywhere, releasing the GIL; :meth:`Executor.finish <kernels.executor.Executor.finish>`
reads its outputs back on the event loop's thread.
"""

from __future__ import annotations

import itertools
import time

import attrs
import numpy as np

from kernels.graph import F64, I64
from kernels.group import GroupState
from kernels.interp import NO_FIRES, outputs, run_nb, workspace
from kernels.ops import OPEN_TIME
from kernels.threads import MIN_SPLIT_STEPS, PIECE_STEPS, run_shared


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

    def run(self, lo: int = 0, hi: int | None = None) -> None:
        """Step slots ``lo..hi-1``; thread-safe for disjoint ranges, releases the GIL."""
        hi = self.state.n_slots if hi is None else hi
        lay = self.state.layout
        run_nb(
            lay.op,
            lay.ins,
            lay.prm,
            lay.soff,
            lay.roff,
            lay.rdep,
            self.state.mem,
            self.state.count,
            self.bars,
            self.ext,
            lo,
            hi,
            self.commit,
            outputs(self.out_nodes),
            self.out,
            *workspace(lay.width, hi - lo, self.commit),
            *NO_FIRES,
        )

    def chunks(self, n: int) -> list[tuple[int, int]]:
        """``n`` contiguous slot ranges covering every slot (for worker threads)."""
        total = self.state.n_slots
        bounds = np.linspace(0, total, max(1, n) + 1).astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]

    def node_steps(self) -> int:
        """Node steps this job takes: bars to step times the plan's nodes."""
        bars = int(np.count_nonzero(~np.isnan(self.bars[:, :, OPEN_TIME])))
        return bars * self.state.layout.n_nodes

    def threads_worth(self, available: int) -> int:
        """Threads worth splitting this job over: one below
        :data:`~kernels.threads.MIN_SPLIT_STEPS` node steps, else ``available``."""
        return 1 if self.node_steps() < MIN_SPLIT_STEPS else max(1, available)

    def run_split(self, n: int) -> None:
        """Step every slot on ``n`` threads, this one included (releases the GIL): in pieces
        of about :data:`~kernels.threads.PIECE_STEPS` node steps (up to four per thread)
        that the threads take in turn (:func:`~kernels.threads.run_shared`)."""
        if n <= 1:
            self.run()
            return
        pieces = min(4 * n, max(n, self.node_steps() // PIECE_STEPS))
        run_shared(self.run, self.chunks(pieces), n)
