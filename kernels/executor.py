"""The live executor: every trader's plan stepped as candles close, for every symbol.

One :class:`~kernels.group.GroupState` per timeframe holds every node's state per symbol slot
(slots are the ring buffers' slots). A screen is three calls so the heavy part can run in worker
threads while the ring buffers stay single-writer:

- :meth:`Executor.prepare` (event-loop thread) copies the bars to step out of the rings;
- :meth:`StepJob.run` (any thread, releases the GIL; disjoint slot ranges in parallel) steps;
- :meth:`Executor.finish` (event-loop thread) applies the firing rules and returns the result.

:meth:`Executor.advance` does all three. Symbols that missed bars (a gap repaired over REST)
step through every missed bar in order, and those bars can fire too. Traders are added, edited
and removed with :meth:`Executor.set_traders` without disturbing shared nodes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping

import attrs
import numpy as np
import numpy.typing as npt

from kernels.edges import fires
from kernels.graph import F64, I64, Layout
from kernels.group import GroupState, migrate
from kernels.interp import run_nb
from kernels.lang import CompileError
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import Program, Signature, TraderDef, TraderPlan, build
from kernels.ring import RingBuffer

B = npt.NDArray[np.bool_]


@attrs.frozen
class Match:
    """A trader firing on a symbol at a bar, with its "why it fired"."""

    trader_id: str
    symbol: str
    timeframe: str
    open_time: int
    price: float
    matched: tuple[str, ...]
    clauses: Mapping[str, Mapping[str, object]]
    provisional: bool = False


@attrs.frozen
class TraderStats:
    """Per-trader outcome of one screen."""

    #: Symbols matching at their newest bar.
    matching: int
    #: Symbols without enough history yet.
    warming: int
    #: Bars still needed by the least warmed-up symbol (0 when none is warming).
    bars_needed: int


@attrs.frozen
class ScreenResult:
    """What one screen of a timeframe produced."""

    timeframe: str
    open_time: int
    matches: tuple[Match, ...]
    traders: Mapping[str, TraderStats]
    symbols_stepped: int
    bars_stepped: int
    duration_s: float


@attrs.define
class _Edge:
    previous: B
    last_fire: I64


@attrs.define(eq=False)
class StepJob:
    """Bars copied out of a ring, ready to step (see the module docstring)."""

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
            self.out_nodes,
            self.out,
            np.empty(lay.width),
        )

    def chunks(self, n: int) -> list[tuple[int, int]]:
        """``n`` contiguous slot ranges covering every slot (for worker threads)."""
        total = self.state.n_slots
        bounds = np.linspace(0, total, max(1, n) + 1).astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


class Executor:
    """Streaming state of a user's traders over the symbols of ``rings`` (timeframe -> ring).

    Args:
        rings: closed-bar history per timeframe; every timeframe a trader uses must have one.
        cooldown_bars: minimum bars between two signals of one trader on one symbol.
    """

    def __init__(self, rings: Mapping[str, RingBuffer], cooldown_bars: int = 0) -> None:
        self.rings = rings
        self.cooldown_bars = cooldown_bars
        self.program = Program()
        self.layouts: dict[str, Layout] = {}
        self.states: dict[str, GroupState] = {}
        self._signatures: dict[str, list[Signature]] = {}
        self._edges: dict[str, _Edge] = {}
        self._outs: dict[str, tuple[I64, dict[int, int]]] = {}

    # -- traders -------------------------------------------------------------------------------

    @property
    def traders(self) -> Mapping[str, TraderPlan]:
        """Compiled traders by id."""
        return self.program.traders

    def set_traders(self, traders: Iterable[TraderDef]) -> dict[str, CompileError]:
        """Replace the trader set; returns the traders that did not compile, with errors.

        Nodes that stay keep their state untouched; new nodes (and rings that must grow) are
        warmed from the rings' history; a new trader's edge state starts from its match at
        the newest bar, so conditions already true do not fire until they become true again.
        """
        defs = list(traders)
        for t in defs:
            if t.timeframe not in self.rings:
                raise KeyError(f"trader {t.id}: no ring buffer for timeframe {t.timeframe}")
        program, errors = build(defs)
        old_defs = {tid: p.definition for tid, p in self.program.traders.items()}
        layouts = program.layouts()
        states: dict[str, GroupState] = {}
        old_states = self.states
        self.states = dict(old_states)
        for tf in program.timeframes:
            lay = layouts[tf]
            n_ext = len(program.exts[tf].sources)
            n_slots = self.rings[tf].n_slots
            sigs = program.signatures(tf)
            old = old_states.get(tf)
            if old is None:
                state = GroupState(lay, n_slots, n_ext)
                cold = list(range(lay.n_nodes))
            else:
                state, cold = migrate(old, self._signatures[tf], lay, sigs, n_ext)
            state.grow(n_slots)
            states[tf] = state
            self.states[tf] = state
            if cold:
                self._warm(tf, state, cold, program, layouts)
            self._signatures[tf] = sigs
        self.program, self.layouts, self.states = program, layouts, states
        self._outs = {tf: self._out_nodes(tf) for tf in layouts}
        edges: dict[str, _Edge] = {}
        for tid, plan in program.traders.items():
            kept = self._edges.get(tid)
            if kept is not None and old_defs.get(tid) == plan.definition:
                edges[tid] = kept
            else:
                edges[tid] = self._initial_edge(plan)
        self._edges = edges
        return errors

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

    def _history(self, tf: str, n_slots: int) -> F64:
        ring = self.rings[tf]
        bars = np.full((n_slots, ring.capacity, N_BAR_FIELDS), np.nan)
        for slot in range(ring.n_slots):
            if ring.symbol_at(slot) is None:
                continue
            times, values = ring.window(slot)
            n = len(times)
            if n:
                bars[slot, ring.capacity - n :, : N_BAR_FIELDS - 1] = values.T
                bars[slot, ring.capacity - n :, OPEN_TIME] = times
        return bars

    def _warm(
        self,
        tf: str,
        state: GroupState,
        cold: list[int],
        program: Program,
        layouts: Mapping[str, Layout],
    ) -> None:
        """Compute ``cold`` nodes over the ring's history and graft them into ``state``."""
        lay = layouts[tf]
        fresh = GroupState(lay, state.n_slots, state.n_ext)
        bars = self._history(tf, state.n_slots)
        ext = self._ext_now(tf, program, fresh.n_slots, bars.shape[1])
        fresh.run(bars, ext=ext)
        for j in cold:
            a, size = int(lay.soff[j]), int(lay.ssize[j])
            state.mem[:, a : a + size] = fresh.mem[:, a : a + size]
            d = int(lay.rdep[j])
            rows = np.arange(state.n_slots)
            for lag in range(d):
                src = lay.roff[j] + (fresh.count - 1 - lag) % d
                dst = lay.roff[j] + (state.count - 1 - lag) % d
                valid = (fresh.count - 1 - lag >= 0) & (state.count - 1 - lag >= 0)
                state.mem[rows[valid], dst[valid]] = fresh.mem[rows[valid], src[valid]]
        # Slots never stepped before take everything from the history run.
        never = state.count == 0
        state.mem[never] = fresh.mem[never]
        state.count[never] = fresh.count[never]
        state.last_time[never] = fresh.last_time[never]

    def _ext_now(self, tf: str, program: Program, n_slots: int, n_t: int) -> F64:
        """Other timeframes' values as of their newest committed bar."""
        sources = program.exts[tf].sources
        ext = np.full((n_slots, n_t, max(1, len(sources))), np.nan)
        for k, (src_tf, node) in enumerate(sources):
            src_state = self.states.get(src_tf)
            if src_state is None or node >= src_state.layout.n_nodes:
                continue
            if src_state.layout.keys[node] != program.graphs[src_tf].nodes[node]:
                continue
            vals = src_state.value(node)
            m = min(n_slots, len(vals))
            ext[:m, :, k] = vals[:m, None]
        return ext

    def _warm_ok(self, plan: TraderPlan, count: I64) -> B:
        needs = self.program.warmup(plan.id, self.layouts)
        ok: B = count >= needs[plan.timeframe]
        for tf, need in needs.items():
            if tf != plan.timeframe:
                other = self.states[tf].count
                m = min(len(ok), len(other))
                ok[:m] &= other[:m] >= need
                ok[m:] = False
        return ok

    def _initial_edge(self, plan: TraderPlan) -> _Edge:
        state = self.states[plan.timeframe]
        match = (state.value(plan.root) == 1.0) & self._warm_ok(plan, state.count)
        return _Edge(match, np.full(state.n_slots, -1, dtype=np.int64))

    # -- screening -----------------------------------------------------------------------------

    def prepare(self, tf: str, until: int | None = None, *, forming: bool = False) -> StepJob:
        """Copy the bars of ``tf`` to step: every closed bar newer than what each slot has
        stepped (up to open time ``until``), or with ``forming`` the forming bars (evaluated
        without committing)."""
        ring = self.rings[tf]
        state = self.states[tf]
        state.grow(ring.n_slots)
        self._grow_edges(tf, ring.n_slots)
        n = state.n_slots
        if forming:
            bars = np.full((n, 1, N_BAR_FIELDS), np.nan)
            for slot in range(ring.n_slots):
                bar = ring.forming(slot) if ring.symbol_at(slot) is not None else None
                if bar is not None and bar[0] > state.last_time[slot]:
                    bars[slot, 0, : N_BAR_FIELDS - 1] = bar[1]
                    bars[slot, 0, OPEN_TIME] = bar[0]
            open_time = int(np.nanmax(bars[:, 0, OPEN_TIME], initial=-1))
        else:
            per_slot: list[tuple[int, I64, F64]] = []
            depth = 0
            for slot in range(ring.n_slots):
                if ring.symbol_at(slot) is None:
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
        ext = self._ext_now(tf, self.program, n, bars.shape[1])
        nodes, _ = self._outs[tf]
        out = np.empty((n, bars.shape[1], len(nodes)))
        return StepJob(tf, open_time, state, bars, ext, nodes, out, not forming)

    def _grow_edges(self, tf: str, n_slots: int) -> None:
        for tid, plan in self.program.traders.items():
            if plan.timeframe != tf:
                continue
            edge = self._edges[tid]
            extra = n_slots - len(edge.previous)
            if extra > 0:
                edge.previous = np.concatenate([edge.previous, np.zeros(extra, dtype=bool)])
                edge.last_fire = np.concatenate(
                    [edge.last_fire, np.full(extra, -1, dtype=np.int64)]
                )

    def finish(self, job: StepJob, *, emit: bool = True) -> ScreenResult:
        """Apply the firing rules to a stepped job; without ``emit`` only edge state advances
        (used when stepping history that must not produce signals)."""
        tf = job.timeframe
        state = job.state
        ring = self.rings[tf]
        present = ~np.isnan(job.bars[:, :, OPEN_TIME])
        if job.commit:
            newest = np.where(present.any(axis=1), job.bars[:, -1, OPEN_TIME], np.nan)
            stepped = ~np.isnan(newest)
            state.last_time[stepped] = newest[stepped].astype(np.int64)
        _, col = self._outs[tf]
        n_t = job.bars.shape[1]
        # Bars stepped per slot before each step (count is already advanced after a commit).
        after = np.cumsum(present, axis=1)
        base = state.count - after[:, -1] if job.commit else state.count
        matches: list[Match] = []
        stats: dict[str, TraderStats] = {}
        for plan in self.program.traders.values():
            if plan.timeframe != tf:
                continue
            edge = self._edges[plan.id]
            root = job.out[:, :, col[plan.root]]
            warm = np.zeros(state.n_slots, dtype=bool)
            for t in range(n_t):
                here = present[:, t]
                if not here.any():
                    continue
                count = base + after[:, t]
                warm = self._warm_ok(plan, count)
                match = (root[:, t] == 1.0) & warm & here
                bar_index = count - 1
                fire = fires(match, edge.previous, bar_index, edge.last_fire, self.cooldown_bars)
                fire &= here
                if job.commit:
                    edge.previous = np.where(here, match, edge.previous)
                    edge.last_fire = np.where(fire, bar_index, edge.last_fire)
                if emit:
                    for slot in np.nonzero(fire)[0]:
                        matches.append(self._match(plan, job, int(slot), t, ring))
            newest = np.where(present.any(axis=1), root[:, -1] == 1.0, False)
            counts = base + after[:, -1]
            needs = self.program.warmup(plan.id, self.layouts)[tf]
            held = np.array(
                [ring.symbol_at(s) is not None for s in range(ring.n_slots)]
                + [False] * (state.n_slots - ring.n_slots)
            )
            warming = held & ~self._warm_ok(plan, counts)
            missing = int(np.max(needs - counts[warming], initial=0)) if warming.any() else 0
            stats[plan.id] = TraderStats(int((newest & warm).sum()), int(warming.sum()), missing)
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
        row = job.out[slot, t]
        clauses: dict[str, dict[str, object]] = {}
        matched: list[str] = []
        for clause in plan.clauses:
            held = bool(row[col[clause.node]] == 1.0)
            if held:
                matched.append(clause.label)
            values = {o.label: _number(row[col[o.node]]) for o in clause.operands}
            clauses[clause.label] = {"held": held, "values": values}
        return Match(
            plan.id,
            ring.symbol_at(slot) or "",
            job.timeframe,
            int(job.bars[slot, t, OPEN_TIME]),
            float(job.bars[slot, t, 3]),
            tuple(matched),
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
        state = self.states.get(tf)
        if state is not None and slot < state.n_slots:
            state.reset_slot(slot)
        for tid, plan in self.program.traders.items():
            if plan.timeframe == tf and slot < len(self._edges[tid].previous):
                self._edges[tid].previous[slot] = False
                self._edges[tid].last_fire[slot] = -1


def _number(v: float) -> float | None:
    return None if np.isnan(v) else float(v)
