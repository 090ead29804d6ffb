"""The live executor: every trader's plan stepped as candles close, for every symbol.

One :class:`~kernels.group.GroupState` per timeframe holds every node's state per symbol slot
(slots are the ring buffers' slots). A screen is three calls so the heavy part can run in worker
threads while the ring buffers stay single-writer:

- :meth:`Executor.prepare` (event-loop thread) copies the bars to step out of the rings;
- :meth:`StepJob.run` (:mod:`kernels.step_job`: any thread, releases the GIL; disjoint slot
  ranges in parallel) steps;
- :meth:`Executor.finish` (event-loop thread) applies the firing rules and returns the result.

:meth:`Executor.advance` does all three. Symbols that missed bars (a gap repaired over REST)
step through every missed bar in order, and those bars can fire too. Traders are added, edited
and removed with :meth:`Executor.set_traders` without disturbing shared nodes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from kernels.edges import fires
from kernels.graph import F64, I64, Layout
from kernels.group import GroupState, load_interpreter
from kernels.interp import outputs
from kernels.lang import BUDGET, Budget, CompileError
from kernels.lower import EXT_HISTORY
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import CompiledTrader, Program, Signature, TraderDef, TraderPlan
from kernels.ring import RingBuffer
from kernels.screens import Match, ScreenResult, TraderStats
from kernels.staging import Staged, ext_values, stage
from kernels.step_job import StepJob
from kernels.threads import MIN_SPLIT_STEPS, crew

__all__ = ["EXT_HISTORY", "Executor", "Match", "ScreenResult", "StaleStage", "StepJob"]

B = npt.NDArray[np.bool_]


def _screening(definition: TraderDef | None) -> TraderDef | None:
    """What of a trader decides whether it matches (all but its cooldown)."""
    return None if definition is None else attrs.evolve(definition, cooldown=None)


class StaleStage(Exception):
    """A staged trader set no longer fits the executor (it stepped, or a ring was written)."""


@attrs.define
class _Edges:
    """Firing state of the traders of one timeframe, one column per trader."""

    ids: list[str]
    #: Output columns (in the timeframe's gathered outputs) of each trader's whole filter.
    root_cols: I64
    #: Bars of its own timeframe each trader needs.
    need: I64
    #: Each trader's cooldown in bars (its own, else the executor's).
    cooldown: I64
    #: (trader column, other timeframe, bars needed there) for on() references.
    ext_need: list[tuple[int, str, int]]
    #: Did the trader match on each slot's previous bar.
    previous: B
    #: Bar index of each slot's last signal per trader (-1: none).
    last_fire: I64


class Executor:
    """Streaming state of a user's traders over the symbols of ``rings`` (timeframe -> ring).

    Args:
        rings: closed-bar history per timeframe; a trader using a timeframe without one does
            not compile.
        cooldown_bars: minimum bars between two signals of one trader on one symbol, for
            traders without a cooldown of their own (:attr:`TraderDef.cooldown`).
        budget: the limits of each filter and of all traders together.

    Creating one loads the interpreter's machine code (:func:`~kernels.group.load_interpreter`),
    so no screen pays for that.
    """

    def __init__(
        self,
        rings: Mapping[str, RingBuffer],
        cooldown_bars: int = 0,
        *,
        budget: Budget = BUDGET,
    ) -> None:
        load_interpreter()
        self.rings = rings
        self.cooldown_bars = cooldown_bars
        self.budget = budget
        # Bumped whenever the states change: a staged trader set is installed only on the
        # states it was staged from.
        self._generation = 0
        self.program = Program()
        self.layouts: dict[str, Layout] = {}
        self.states: dict[str, GroupState] = {}
        self._signatures: dict[str, list[Signature]] = {}
        self._edges: dict[str, _Edges] = {}
        self._outs: dict[str, tuple[I64, dict[int, int]]] = {}
        #: Per timeframe, the interpreter's ``out_nodes`` for ``_outs``' nodes (made once per
        #: install, not per close; read only).
        self._out_specs: dict[str, I64] = {}

    # -- what the screener asks ---------------------------------------------------------------

    def screens(self, tf: str) -> bool:
        """Does some trader screen ``tf`` or read it through ``on()``?"""
        return tf in self.states

    def last_stepped(self, tf: str, slot: int) -> int:
        """Open time of the newest bar stepped for ``slot`` of ``tf``; -1 when none was (or
        nothing screens ``tf``)."""
        state = self.states.get(tf)
        if state is None or slot >= state.n_slots:
            return -1
        return int(state.last_time[slot])

    def stepped_slots(self, tf: str, slots: Iterable[int]) -> list[int]:
        """Those of ``slots`` with at least one bar of ``tf`` stepped."""
        return [slot for slot in slots if self.last_stepped(tf, slot) >= 0]

    def sources(self, tf: str) -> list[str]:
        """The timeframes ``tf``'s traders read through ``on()`` and that run, sorted."""
        exts = self.program.exts.get(tf)
        found = {src for src, _ in exts.sources} if exts else set()
        return [src for src in sorted(found) if src in self.states]

    def readers(self, tf: str) -> list[str]:
        """The running timeframes whose traders read ``tf`` through ``on()``."""
        return [
            reader
            for reader, exts in self.program.exts.items()
            if reader in self.states and tf in {src for src, _ in exts.sources}
        ]

    def behind(self, tf: str, slots: Sequence[int], need: int) -> bool:
        """Has one of ``slots`` stepped some bar of ``tf``, but not yet the one opening at
        ``need``?"""
        state = self.states[tf]
        last = state.last_time[[slot for slot in slots if slot < state.n_slots]]
        return bool(np.any((last >= 0) & (last < need)))

    # -- traders -------------------------------------------------------------------------------

    @property
    def traders(self) -> Mapping[str, TraderPlan]:
        """Compiled traders by id."""
        return self.program.traders

    def stage(self, traders: Iterable[TraderDef | CompiledTrader]) -> Staged:
        """Everything needed to run ``traders`` instead (:func:`kernels.staging.stage`),
        leaving this executor as it is: safe in a worker thread while nothing steps this
        executor. A trader on a timeframe without a ring does not compile."""
        return stage(
            traders,
            rings=self.rings,
            states=self.states,
            signatures=self._signatures,
            budget=self.budget,
            basis=self._basis(),
            running=self.program,
        )

    def install(self, staged: Staged) -> None:
        """Run the staged traders from now on (quick: no compiling, no warming).

        Raises:
            StaleStage: something was stepped or a ring written since ``staged`` was made
                (stage again); nothing changed.
        """
        if staged.basis != self._basis():
            raise StaleStage("the executor or its rings changed since the traders were staged")
        old_defs = {tid: p.definition for tid, p in self.program.traders.items()}
        self.program, self.layouts = staged.program, staged.layouts
        self.states, self._signatures = staged.states, staged.signatures
        self._generation += 1
        self._outs = {tf: self._out_nodes(tf) for tf in self.layouts}
        self._out_specs = {tf: outputs(nodes) for tf, (nodes, _) in self._outs.items()}
        old_edges = self._edges
        self._edges = {}
        for tf in self.layouts:
            self._edges[tf] = self._new_edges(tf, old_edges.get(tf), old_defs)

    def set_traders(self, traders: Iterable[TraderDef | CompiledTrader]) -> dict[str, CompileError]:
        """Replace the trader set; returns the traders that did not compile, with errors.

        Nodes that stay keep their state untouched; new nodes (and rings that must grow) are
        warmed from the rings' history; a new trader's edge state starts from its match at
        the newest bar, so conditions already true do not fire until they become true again.
        ``stage`` then ``install``: a trader that does not compile, is over budget or reads a
        timeframe without a ring is an error here, never an exception.
        """
        staged = self.stage(traders)
        self.install(staged)
        return staged.errors

    def _basis(self) -> tuple[int, tuple[int, ...]]:
        # A read-only stand-in for a ring (a snapshot of one) has no version: it never changes.
        versions = tuple(getattr(ring, "version", 0) for ring in self.rings.values())
        return self._generation, versions

    def _new_edges(self, tf: str, old: _Edges | None, old_defs: Mapping[str, TraderDef]) -> _Edges:
        plans = [p for p in self.program.traders.values() if p.timeframe == tf]
        state = self.states[tf]
        _, col = self._outs[tf]
        n, k = state.n_slots, len(plans)
        edges = _Edges(
            [p.id for p in plans],
            np.asarray([col[p.root] for p in plans], dtype=np.int64),
            np.zeros(k, dtype=np.int64),
            np.asarray([p.definition.cooldown_or(self.cooldown_bars) for p in plans], np.int64),
            [],
            np.zeros((n, k), dtype=bool),
            np.full((n, k), -1, dtype=np.int64),
        )
        for i, plan in enumerate(plans):
            needs = self.program.warmup(plan.id, self.layouts)
            edges.need[i] = needs[tf]
            edges.ext_need.extend((i, other, b) for other, b in needs.items() if other != tf)
        warm = self._warm_matrix(edges, state.count)
        for i, plan in enumerate(plans):
            # A new cooldown alone is no edit: the trader's last signals still count.
            same = _screening(old_defs.get(plan.id)) == _screening(plan.definition)
            if old is not None and plan.id in old.ids and same:
                j = old.ids.index(plan.id)
                m = min(n, len(old.previous))
                edges.previous[:m, i] = old.previous[:m, j]
                edges.last_fire[:m, i] = old.last_fire[:m, j]
            else:
                # A new or edited trader: conditions already true must become true again.
                edges.previous[:, i] = (state.value(plan.root) == 1.0) & warm[:, i]
        return edges

    def _warm_matrix(self, edges: _Edges, count: I64) -> B:
        """Per slot and trader: enough history on every timeframe the trader reads?"""
        warm: B = count[:, None] >= edges.need[None, :]
        for i, other, need in edges.ext_need:
            counts = self.states[other].count
            m = min(len(warm), len(counts))
            warm[:m, i] &= counts[:m] >= need
            warm[m:, i] = False
        return warm

    def _out_nodes(self, tf: str) -> tuple[I64, dict[int, int]]:
        nodes: list[int] = []
        for plan in self.program.traders.values():
            if plan.timeframe != tf:
                continue
            nodes.append(plan.root)
            for clause in plan.clauses:
                nodes.append(clause.node)
                nodes.extend(o.node for o in clause.operands)
        unique = list(dict.fromkeys(nodes))
        return np.asarray(unique, dtype=np.int64), {n: i for i, n in enumerate(unique)}

    # -- screening -----------------------------------------------------------------------------

    def prepare(
        self,
        tf: str,
        until: int | None = None,
        *,
        forming: bool = False,
        slots: Iterable[int] | None = None,
        threads: int = 1,
    ) -> StepJob:
        """Copy the bars of ``tf`` to step: every closed bar newer than what each slot has
        stepped (up to open time ``until``), or with ``forming`` the forming bars (evaluated
        without committing). ``slots`` limits the screen to those slots. With ``threads``
        over 1 and a screen that may be split (:meth:`StepJob.threads_worth`), helper threads
        are woken now, to be ready when it is (:meth:`kernels.threads.Crew.expect`)."""
        ring = self.rings[tf]
        state = self.states[tf]
        state.grow(ring.n_slots)
        if threads > 1 and state.n_slots * state.layout.n_nodes >= MIN_SPLIT_STEPS:
            crew().expect(threads - 1)
        self._grow_edges(tf, ring.n_slots)
        n = state.n_slots
        chosen = np.ones(ring.n_slots, dtype=bool)
        if slots is not None:
            chosen[:] = False
            chosen[np.fromiter(slots, dtype=np.int64)] = True
        if forming:
            bars = np.full((n, 1, N_BAR_FIELDS), np.nan)
            for slot in range(ring.n_slots):
                held = ring.symbol_at(slot) is not None and chosen[slot]
                bar = ring.forming(slot) if held else None
                if bar is not None and bar[0] > state.last_time[slot]:
                    bars[slot, 0, : N_BAR_FIELDS - 1] = bar[1]
                    bars[slot, 0, OPEN_TIME] = bar[0]
            open_time = int(np.nanmax(bars[:, 0, OPEN_TIME], initial=-1))
        else:
            times, values = ring.newest()
            last = state.last_time[: len(times)]
            fresh = (times > last) & chosen
            # A slot whose newest bar is past ``until`` may still have older bars due.
            beyond = np.zeros_like(fresh)
            if until is not None:
                beyond = fresh & (times > until)
                fresh &= times <= until
            one_step = times - ring.timeframe_ms == last
            for first in np.nonzero(fresh & (last < 0))[0].tolist():
                one_step[first] = ring.length(first) == 1
            if not beyond.any() and np.all(one_step[fresh]):
                # The common case, vectorised: every slot has at most its one next bar.
                bars = np.full((n, 1, N_BAR_FIELDS), np.nan)
                bars[: len(times), 0, : N_BAR_FIELDS - 1] = np.where(fresh[:, None], values, np.nan)
                bars[: len(times), 0, OPEN_TIME] = np.where(fresh, times, np.nan)
                open_time = int(times[fresh].max(initial=-1))
                job = self._job(tf, state, bars, open_time, commit=True)
                job.bars_stepped = int(np.count_nonzero(fresh))
                return job
            per_slot: list[tuple[int, I64, F64]] = []
            depth = 0
            for slot in range(ring.n_slots):
                if ring.symbol_at(slot) is None or not chosen[slot]:
                    continue
                times, values = ring.window(slot)
                keep = times > state.last_time[slot]
                if until is not None:
                    keep &= times <= until
                if keep.any():
                    per_slot.append((slot, times[keep], values[:, keep]))
                    depth = max(depth, int(keep.sum()))
            bars = np.full((n, max(depth, 1), N_BAR_FIELDS), np.nan)
            for slot, times, values in per_slot:
                k = len(times)
                # Right-aligned: the newest bar of every slot is at the last step.
                bars[slot, depth - k :, : N_BAR_FIELDS - 1] = values.T
                bars[slot, depth - k :, OPEN_TIME] = times
            open_time = int(max((int(t[-1]) for _, t, _ in per_slot), default=-1))
        return self._job(tf, state, bars, open_time, commit=not forming)

    def _job(
        self, tf: str, state: GroupState, bars: F64, open_time: int, *, commit: bool
    ) -> StepJob:
        if commit:
            self._generation += 1
        ext = ext_values(tf, self.program, self.states, bars)
        nodes, _ = self._outs[tf]
        out = np.empty((state.n_slots, bars.shape[1], len(nodes)))
        spec = self._out_specs.get(tf)
        return StepJob(tf, open_time, state, bars, ext, nodes, out, commit, out_spec=spec)

    def _grow_edges(self, tf: str, n_slots: int) -> None:
        edges = self._edges[tf]
        extra = n_slots - len(edges.previous)
        if extra > 0:
            k = len(edges.ids)
            edges.previous = np.vstack([edges.previous, np.zeros((extra, k), dtype=bool)])
            edges.last_fire = np.vstack([edges.last_fire, np.full((extra, k), -1, dtype=np.int64)])

    def finish(self, job: StepJob, *, emit: bool = True) -> ScreenResult:
        """Apply the firing rules to a stepped job; without ``emit`` only edge state advances
        (used when stepping history that must not produce signals)."""
        tf = job.timeframe
        state = job.state
        ring = self.rings[tf]
        edges = self._edges[tf]
        present = ~np.isnan(job.bars[:, :, OPEN_TIME])
        if job.commit:
            self._generation += 1
            newest = np.where(present.any(axis=1), job.bars[:, -1, OPEN_TIME], np.nan)
            stepped = ~np.isnan(newest)
            state.last_time[stepped] = newest[stepped].astype(np.int64)
        n_t = job.bars.shape[1]
        # Bars stepped per slot before each step (count is already advanced after a commit).
        after = np.cumsum(present, axis=1)
        base = state.count - after[:, -1] if job.commit else state.count
        roots = job.out[:, :, edges.root_cols]
        matches: list[Match] = []
        match = np.zeros(edges.previous.shape, dtype=bool)
        warm = self._warm_matrix(edges, base + after[:, -1])
        for t in range(n_t):
            here = present[:, t]
            if not here.any():
                continue
            count = base + after[:, t]
            if n_t > 1:
                warm = self._warm_matrix(edges, count)
            match = (roots[:, t, :] == 1.0) & warm & here[:, None]
            bar_index = (count - 1)[:, None]
            fire = fires(match, edges.previous, bar_index, edges.last_fire, edges.cooldown)
            fire &= here[:, None]
            if job.commit:
                edges.previous = np.where(here[:, None], match, edges.previous)
                edges.last_fire = np.where(fire, bar_index, edges.last_fire)
            if emit and fire.any():
                for slot, i in zip(*np.nonzero(fire), strict=True):
                    plan = self.program.traders[edges.ids[i]]
                    matches.append(self._match(plan, job, int(slot), t, ring))
        # The job's slots: the market may have added ring slots while the job ran.
        held = np.zeros(len(job.bars), dtype=bool)
        k = min(len(held), ring.n_slots)
        held[:k] = [ring.symbol_at(s) is not None for s in range(k)]
        warming = held[:, None] & ~warm
        counts = base + after[:, -1]
        short = np.where(warming, edges.need[None, :] - counts[:, None], 0)
        # One reduction per statistic over all traders (not one per trader).
        matching = match.sum(axis=0).tolist()
        warming_n = warming.sum(axis=0).tolist()
        needed = short.max(axis=0, initial=0).tolist()
        stats = {
            tid: TraderStats(matching[i], warming_n[i], needed[i])
            for i, tid in enumerate(edges.ids)
        }
        matches.sort(key=lambda m: (m.open_time, m.trader_id, m.symbol))
        return ScreenResult(
            tf,
            job.open_time,
            tuple(matches),
            stats,
            int(present.any(axis=1).sum()),
            int(present.sum()),
            time.perf_counter() - job.started,
        )

    def _match(self, plan: TraderPlan, job: StepJob, slot: int, t: int, ring: RingBuffer) -> Match:
        _, col = self._outs[job.timeframe]
        matched, clauses = plan.explain(job.out[slot, t].tolist(), col)
        bar = job.bars[slot, t]
        return Match(
            plan.id,
            ring.symbol_at(slot) or "",
            job.timeframe,
            int(bar[OPEN_TIME]),
            float(bar[3]),
            matched,
            clauses,
            provisional=not job.commit,
        )

    def advance(self, tf: str, until: int | None = None, *, emit: bool = True) -> ScreenResult:
        """Prepare, run and finish a screen of ``tf`` in this thread."""
        if tf not in self.states:
            return ScreenResult(tf, -1, (), {}, 0, 0, 0.0)
        job = self.prepare(tf, until)
        job.run()
        return self.finish(job, emit=emit)

    def peek(self, tf: str) -> ScreenResult:
        """Evaluate the forming bars of ``tf`` without committing: provisional matches."""
        if tf not in self.states:
            return ScreenResult(tf, -1, (), {}, 0, 0, 0.0)
        job = self.prepare(tf, forming=True)
        job.run()
        return self.finish(job)

    def remove_symbol(self, tf: str, slot: int) -> None:
        """Forget everything stepped for ``slot`` of ``tf`` (its symbol left the universe)."""
        self._generation += 1
        state = self.states.get(tf)
        if state is not None and slot < state.n_slots:
            state.reset_slot(slot)
        edges = self._edges.get(tf)
        if edges is not None and slot < len(edges.previous):
            edges.previous[slot] = False
            edges.last_fire[slot] = -1
