"""Staging a change of traders: compile, migrate and warm, apart from the running state.

:func:`stage` builds everything an :class:`~kernels.executor.Executor` needs to run a new set of
traders — the program (each trader held to the budget), the layouts, and every timeframe's
state with the nodes that stay carried over and the new ones warmed from the rings' history —
and changes nothing it was given, so it can run in a worker thread while the running set keeps
its state; the executor swaps the result in at once (:meth:`~kernels.executor.Executor.install`).

Warming is bounded by the new nodes, not by everything running: for symbols already stepped, only
the new nodes and what they read are replayed, through the bars those symbols have stepped
(so the new nodes end on the same bar as the rest); symbols never stepped take every node from
the whole history. History is replayed in batches of :data:`BATCH_SLOTS` symbols and chunks of
bars, so the memory of a warm-up does not grow with the ring's length.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

import attrs
import numpy as np

from kernels.columns import BLOCK, column_layout, column_state, to_layout
from kernels.graph import F64, I64, Layout, sub_layout
from kernels.group import GroupState, copy_rings, migrate
from kernels.lang import BUDGET, Budget, CompileError
from kernels.ops import EXT, N_BAR_FIELDS, OPEN_TIME
from kernels.program import CompiledTrader, Program, Signature, TraderDef, build
from kernels.ring import RingBuffer
from kernels.timeframes import bar_open_array, timeframe_ms

#: Symbols replayed together when warming new nodes.
BATCH_SLOTS = 32
#: Floats of node memory (column layout) replayed at once, at most (2 MiB).
STATE_FLOATS = 1 << 18
#: Ring slots per symbol copied at once when grafting warmed nodes.
RING_COPY = 2048
#: Floats of bars and other timeframes' values copied per replayed chunk (1 MiB).
CHUNK_FLOATS = 1 << 17


@attrs.frozen(eq=False)
class Staged:
    """A trader set ready to install, and what it was staged from."""

    program: Program
    layouts: dict[str, Layout]
    states: dict[str, GroupState]
    signatures: dict[str, list[Signature]]
    #: Traders that did not compile (or are over budget), with why.
    errors: dict[str, CompileError]
    #: What it was staged from: the executor's generation and every ring's version.
    basis: tuple[int, tuple[int, ...]]


def stage(
    traders: Iterable[TraderDef | CompiledTrader],
    *,
    rings: Mapping[str, RingBuffer],
    states: Mapping[str, GroupState],
    signatures: Mapping[str, list[Signature]],
    budget: Budget = BUDGET,
    basis: tuple[int, tuple[int, ...]] = (0, ()),
) -> Staged:
    """Link ``traders`` (compiling those not compiled yet; a trader on a timeframe ``rings``
    lacks does not compile) and carry the running ``states`` (with their ``signatures``) over
    to their plan, warming new nodes from ``rings``. Reads ``states`` and ``rings`` and
    changes neither."""
    program, errors = build(traders, budget=budget, timeframes=rings.keys())
    layouts = program.layouts()
    sigs = {tf: program.signatures(tf) for tf in program.timeframes}
    staged: dict[str, GroupState] = {}
    # Longest first: an on() reads a longer timeframe, whose new state is then ready.
    for tf in program.timeframes:
        lay = layouts[tf]
        n_ext = len(program.exts[tf].sources)
        old = states.get(tf)
        if old is None:
            state = GroupState(lay, rings[tf].n_slots, n_ext)
            cold = list(range(lay.n_nodes))
        else:
            state, cold = migrate(old, signatures[tf], lay, sigs[tf], n_ext)
        state.grow(rings[tf].n_slots)
        sources = _Sources(tf, program, staged)
        if cold:
            _warm(state, cold, rings[tf], sources)
        staged[tf] = state
    return Staged(program, layouts, staged, sigs, errors, basis)


class _Sources:
    """Values of other timeframes' nodes as the bars of one timeframe see them."""

    def __init__(self, tf: str, program: Program, states: Mapping[str, GroupState]) -> None:
        self.tf = tf
        self.program = program
        self.states = states

    def __call__(self, bars: F64, used: Collection[int], rows: I64) -> F64:
        return ext_values(self.tf, self.program, self.states, bars, used, rows)


def ext_values(
    tf: str,
    program: Program,
    states: Mapping[str, GroupState],
    bars: F64,
    used: Collection[int] | None = None,
    rows: I64 | None = None,
) -> F64:
    """Other timeframes' values as each bar of ``bars`` (``[n, n_t, 9]``: the bars of slots
    ``rows``, all slots from 0 by default) of ``tf`` sees them: at the last bar of that
    timeframe closed by the bar's close (the newest one when it is not stepped yet), on the same
    slot. ``used`` limits it to those ext slots (the others are NaN). One gather per other
    timeframe and ring depth, whatever the number of values read."""
    sources = program.exts[tf].sources
    n_slots, n_t = bars.shape[0], bars.shape[1]
    slots = np.arange(n_slots) if rows is None else np.asarray(rows, dtype=np.int64)
    ext = np.full((n_slots, n_t, max(1, len(sources))), np.nan)
    # Values read from one timeframe through rings of one depth share their ring positions.
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for k, (src_tf, node) in enumerate(sources):
        src = states.get(src_tf)
        if (used is not None and k not in used) or src is None or node >= src.layout.n_nodes:
            continue
        if src.layout.keys[node] == program.graphs[src_tf].nodes[node]:
            groups.setdefault((src_tf, int(src.layout.rdep[node])), []).append((k, node))
    close = bars[:, :, OPEN_TIME] + timeframe_ms(tf)
    for (src_tf, depth), picked in groups.items():
        src = states[src_tf]
        # Rows whose slot the other timeframe holds (a state holds at least its ring's slots).
        held = np.nonzero(slots < src.n_slots)[0]
        at_slot = slots[held]
        step = timeframe_ms(src_tf)
        wanted = bar_open_array(src_tf, close[held]) - step
        lag = np.nan_to_num((src.last_time[at_slot, None] - wanted) // step, nan=0.0)
        back = np.clip(lag, 0, depth - 1).astype(np.int64)
        pos = src.count[at_slot, None] - 1 - back
        # One flat take: much cheaper than indexing rows and columns with two arrays.
        at = (at_slot * src.mem.shape[1])[:, None] + (pos & (depth - 1))
        nodes = np.asarray([node for _, node in picked])
        vals = np.take(src.mem, at[:, :, None] + src.layout.roff[nodes])
        vals[pos < 0] = np.nan
        ext[held[:, None, None], np.arange(n_t)[None, :, None], [[[k for k, _ in picked]]]] = vals
    return ext


def _warm(state: GroupState, cold: list[int], ring: RingBuffer, sources: _Sources) -> None:
    """Compute the ``cold`` nodes of ``state`` from ``ring``'s history (see the module doc)."""
    held = np.asarray(
        [ring.symbol_at(s) is not None and ring.length(s) > 0 for s in range(ring.n_slots)]
        + [False] * (state.n_slots - ring.n_slots),
        dtype=bool,
    )
    stepped = np.nonzero(held & (state.count > 0))[0]
    if len(stepped):
        sub, ids = sub_layout(state.layout, cold)
        at = {int(j): q for q, j in enumerate(ids.tolist())}

        def graft(rows: I64, fresh: GroupState) -> None:
            _graft(state, fresh, rows, cold, sub, at)

        until = state.last_time[stepped]
        _replay(sub, ring, stepped, until, state.n_ext, sources, graft)
    never = np.nonzero(held & (state.count == 0))[0]
    if len(never):

        def take(rows: I64, fresh: GroupState) -> None:
            state.mem[rows] = fresh.mem
            state.count[rows] = fresh.count
            state.last_time[rows] = fresh.last_time

        _replay(state.layout, ring, never, None, state.n_ext, sources, take)


def _graft(
    state: GroupState,
    fresh: GroupState,
    rows: I64,
    cold: list[int],
    sub: Layout,
    at: Mapping[int, int],
) -> None:
    """Copy the ``cold`` nodes (sub-layout ids ``at[j]``) of ``fresh`` into ``rows`` of
    ``state``: their state blocks in one gather, their rings a few gathers per ring depth."""
    lay = state.layout
    cols = [np.arange(lay.soff[j], lay.soff[j] + lay.ssize[j]) for j in cold]
    sub_cols = [np.arange(sub.soff[at[j]], sub.soff[at[j]] + sub.ssize[at[j]]) for j in cold]
    state.mem[rows[:, None], np.concatenate(cols)[None, :]] = fresh.mem[:, np.concatenate(sub_cols)]
    own = np.arange(len(rows))
    by_depth: dict[int, list[int]] = {}
    for j in cold:
        by_depth.setdefault(int(lay.rdep[j]), []).append(j)
    for depth, nodes in by_depth.items():
        # At most RING_COPY ring slots per symbol at once: index arrays stay small.
        step = max(1, RING_COPY // depth)
        for k in range(0, len(nodes), step):
            dst = np.asarray(nodes[k : k + step])
            src = np.asarray([at[j] for j in nodes[k : k + step]])
            copy_rings(fresh, src, state, dst, depth, rows, own)


def _replay(
    lay: Layout,
    ring: RingBuffer,
    slots: I64,
    until: I64 | None,
    n_ext: int,
    sources: _Sources,
    done: Callable[[I64, GroupState], None],
) -> None:
    """Step a fresh state of ``lay`` through the history of ``slots`` (up to open time
    ``until`` per slot), :data:`BATCH_SLOTS` at a time (fewer when their node memory is
    over :data:`STATE_FLOATS`), handing each batch to ``done``."""
    used = {int(p) for p, o in zip(lay.prm[:, 0], lay.op, strict=True) if o == EXT}
    # Column mode's rings are deeper: fewer symbols at once when they are wide.
    batch = max(1, min(BATCH_SLOTS, STATE_FLOATS // column_layout(lay).width))
    chunk = max(1, CHUNK_FLOATS // (batch * (N_BAR_FIELDS + (len(used) if used else 0))))
    for lo in range(0, len(slots), batch):
        rows = slots[lo : lo + batch]
        windows = []
        for k, slot in enumerate(rows.tolist()):
            times, values = ring.window(slot)
            if until is not None:
                n = int(np.searchsorted(times, until[lo + k], side="right"))
                times, values = times[:n], values[:, :n]
            windows.append((times, values))
        depth = max((len(t) for t, _ in windows), default=0)
        # Column mode (bit for bit what stepping bar by bar gives, and several times
        # faster), then the state on ``lay``.
        fresh = column_state(lay, len(rows), n_ext)
        for a in range(0, depth, chunk):
            b = min(depth, a + chunk)
            bars = np.full((len(rows), b - a, N_BAR_FIELDS), np.nan)
            for k, (times, values) in enumerate(windows):
                # Right-aligned: every symbol's newest bar is at the last step.
                first = depth - len(times)
                i0, i1 = max(a, first), b
                if i1 > i0:
                    bars[k, i0 - a : i1 - a, : N_BAR_FIELDS - 1] = values[
                        :, i0 - first : i1 - first
                    ].T
                    bars[k, i0 - a : i1 - a, OPEN_TIME] = times[i0 - first : i1 - first]
            ext = sources(bars, used, rows) if used else None
            fresh.run(bars, ext=ext, block=BLOCK)
        done(rows, to_layout(fresh, lay))
