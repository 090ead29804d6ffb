"""Staging a change of traders: compile, migrate and warm, apart from the running state.

:func:`stage` builds everything an :class:`~kernels.executor.Executor` needs to run a new set of
traders — the program (each trader held to the budget), the layouts, and every timeframe's
state with the nodes that stay carried over and the new ones warmed from the rings' history —
and changes nothing it was given, so it can run in a worker thread while the running set keeps
its state; the executor swaps the result in at once (:meth:`~kernels.executor.Executor.install`).

Warming is bounded by the new nodes, not by everything running: for symbols already stepped, only
the new nodes and what they read are replayed, through the bars those symbols have stepped
(so the new nodes end on the same bar as the rest); symbols never stepped take every node from
the whole history. History is replayed a symbol at a time in chunks of bars, in one compiled call
per ring block of symbols (:mod:`kernels.replay`: the worker lets go of the GIL once for it, not
once per NumPy operation), so the memory of a warm-up does not grow with the ring's length nor
with the symbols.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import attrs
import numpy as np

from kernels import replay
from kernels.columns import BLOCK, column_layout, fresh_row
from kernels.graph import F64, I64, Layout, sub_layout
from kernels.group import GroupState, migrate
from kernels.interp import outputs, workspace
from kernels.lang import BUDGET, Budget, CompileError
from kernels.ops import EXT, N_BAR_FIELDS, OPEN_TIME
from kernels.program import CompiledTrader, Program, Signature, TraderDef, build
from kernels.ring import RingBuffer
from kernels.timeframes import bar_open, bar_open_array, timeframe_ms

#: Floats of bars and other timeframes' values a symbol steps at once (1 MiB).
CHUNK_FLOATS = 1 << 17
#: Floats of other timeframes' rings copied for one warm-up call, at most (2 MiB).
EXT_FLOATS = 1 << 18


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
    running: Program | None = None,
) -> Staged:
    """Link ``traders`` (compiling those not compiled yet; a trader on a timeframe ``rings``
    lacks does not compile) and carry the running ``states`` (with their ``signatures``) over
    to their plan, warming new nodes from ``rings``. Reads ``states`` and ``rings`` and
    changes neither. The traders ``running`` (the program of ``states``) linked first, in the
    same order, are copied from it rather than linked again (:func:`~kernels.program.build`)."""
    program, errors = build(traders, budget=budget, timeframes=rings.keys(), base=running)
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

    def reads(self, used: Collection[int]) -> _Reads:
        """What :func:`~kernels.replay.replay_nb` needs to gather the ext slots ``used``."""
        groups = _ext_groups(self.tf, self.program, self.states, used)
        table = np.zeros((len(groups), 5), dtype=np.int64)
        cols: list[tuple[int, int]] = []
        picked = []
        width = 0
        for g, ((src_tf, depth), nodes) in enumerate(groups.items()):
            step = timeframe_ms(src_tf)
            table[g] = (step, bar_open(src_tf, 0), depth, len(cols), len(cols) + len(nodes))
            cols.extend((k, width + q * depth) for q, (k, _) in enumerate(nodes))
            src = self.states[src_tf]
            rings = src.layout.roff[[node for _, node in nodes]][:, None] + np.arange(depth)
            picked.append((src, rings.ravel()))
            width += len(nodes) * depth
        return _Reads(table, np.asarray(cols, dtype=np.int64).reshape(-1, 2), picked, width)


@attrs.frozen(eq=False)
class _Reads:
    """The ext slots a warm-up reads: ``groups`` and ``cols`` as
    :func:`~kernels.replay.replay_nb` takes them, and per group the state read and the columns
    of its rings (``width`` floats per symbol in all)."""

    groups: I64
    cols: I64
    picked: list[tuple[GroupState, I64]]
    width: int

    def rows(self, slots: I64) -> tuple[F64, I64]:
        """``sources`` and ``seen`` of :func:`~kernels.replay.replay_nb` for ``slots``."""
        values = np.empty((len(slots), self.width))
        seen = np.zeros((len(slots), 2 * len(self.picked)), dtype=np.int64)
        seen[:, 0::2] = -1
        at = 0
        for g, (src, columns) in enumerate(self.picked):
            # A slot the other timeframe does not hold reads NaN (a count of 0).
            held = np.nonzero(slots < src.n_slots)[0]
            values[held, at : at + len(columns)] = src.mem[slots[held][:, None], columns]
            seen[held, 2 * g] = src.last_time[slots[held]]
            seen[held, 2 * g + 1] = src.count[slots[held]]
            at += len(columns)
        return values, seen


def _ext_groups(
    tf: str, program: Program, states: Mapping[str, GroupState], used: Collection[int] | None
) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """The ext slots of ``tf`` (those ``used``) whose node ``states`` hold, as ``(slot,
    node)`` by the timeframe and ring depth they are read from (they share ring positions)."""
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for k, (src_tf, node) in enumerate(program.exts[tf].sources):
        src = states.get(src_tf)
        if (used is not None and k not in used) or src is None or node >= src.layout.n_nodes:
            continue
        if src.layout.keys[node] == program.graphs[src_tf].nodes[node]:
            groups.setdefault((src_tf, int(src.layout.rdep[node])), []).append((k, node))
    return groups


def ext_values(tf: str, program: Program, states: Mapping[str, GroupState], bars: F64) -> F64:
    """Other timeframes' values as each bar of ``bars`` (``[n_slots, n_t, 9]``, slots from 0)
    of ``tf`` sees them: at the last bar of that timeframe closed by the bar's close (the
    newest one when it is not stepped yet), on the same slot. One gather per other timeframe
    and ring depth, whatever the number of values read."""
    sources = program.exts[tf].sources
    n_slots, n_t = bars.shape[0], bars.shape[1]
    ext = np.full((n_slots, n_t, max(1, len(sources))), np.nan)
    close = bars[:, :, OPEN_TIME] + timeframe_ms(tf)
    for (src_tf, depth), picked in _ext_groups(tf, program, states, None).items():
        src = states[src_tf]
        m = min(n_slots, src.n_slots)
        step = timeframe_ms(src_tf)
        wanted = bar_open_array(src_tf, close[:m]) - step
        lag = np.nan_to_num((src.last_time[:m, None] - wanted) // step, nan=0.0)
        back = np.clip(lag, 0, depth - 1).astype(np.int64)
        pos = src.count[:m, None] - 1 - back
        # One flat take: much cheaper than indexing rows and columns with two arrays.
        at = (np.arange(m) * src.mem.shape[1])[:, None] + (pos & (depth - 1))
        nodes = np.asarray([node for _, node in picked])
        vals = np.take(src.mem, at[:, :, None] + src.layout.roff[nodes])
        vals[pos < 0] = np.nan
        ext[:m, :, [k for k, _ in picked]] = vals
    return ext


def _warm(state: GroupState, cold: list[int], ring: RingBuffer, sources: _Sources) -> None:
    """Compute the ``cold`` nodes of ``state`` from ``ring``'s history (see the module doc)."""
    held = np.zeros(state.n_slots, dtype=bool)
    held[: ring.n_slots] = ring.lengths() > 0
    stepped = np.nonzero(held & (state.count > 0))[0]
    if len(stepped):
        sub, ids = sub_layout(state.layout, cold)
        at = {int(j): q for q, j in enumerate(ids.tolist())}
        pairs = np.asarray([(at[j], j) for j in cold], dtype=np.int64).reshape(-1, 2)
        _replay(sub, pairs, ring, stepped, state, sources, whole=False)
    never = np.nonzero(held & (state.count == 0))[0]
    if len(never):
        every = np.repeat(np.arange(state.layout.n_nodes, dtype=np.int64)[:, None], 2, axis=1)
        state.mem[never] = np.nan  # rings: what the replay does not fill stays NaN
        _replay(state.layout, every, ring, never, state, sources, whole=True)


def _replay(
    lay: Layout,
    pairs: I64,
    ring: RingBuffer,
    slots: I64,
    state: GroupState,
    sources: _Sources,
    *,
    whole: bool,
) -> None:
    """Step a fresh state of ``lay`` through the history of ``slots`` (``whole``: all of it,
    and every node taken; else up to the bar each slot of ``state`` stepped last) and copy
    nodes ``pairs[:, 0]`` of ``lay`` into nodes ``pairs[:, 1]`` of ``state``: one compiled
    call per ring block (:func:`~kernels.replay.replay_nb`; fewer symbols a call when the
    other timeframes' rings they read are over :data:`EXT_FLOATS`)."""
    col = column_layout(lay)
    target = state.layout
    graft = np.column_stack(
        [
            col.soff[pairs[:, 0]],
            col.roff[pairs[:, 0]],
            col.rdep[pairs[:, 0]],
            target.soff[pairs[:, 1]],
            target.ssize[pairs[:, 1]],
            target.roff[pairs[:, 1]],
            target.rdep[pairs[:, 1]],
        ]
    ).astype(np.int64)
    reads = sources.reads({int(p) for p, o in zip(lay.prm[:, 0], lay.op, strict=True) if o == EXT})
    n_ext = max(1, state.n_ext)
    longest = max(1, int(ring.lengths()[slots].max()))
    chunk = max(1, min(longest, CHUNK_FLOATS // (N_BAR_FIELDS + n_ext)))
    job = (
        np.empty((1, col.width)),
        np.zeros(1, dtype=np.int64),
        np.empty((1, chunk, N_BAR_FIELDS)),
        np.full((1, chunk, n_ext), np.nan),  # the columns no group writes stay NaN
        outputs(()),
        np.empty((1, chunk, 0)),
        *workspace(col.width, 1, True, BLOCK),
    )
    until = np.full(len(slots), np.iinfo(np.int64).max) if whole else state.last_time[slots]
    fresh = fresh_row(col)
    per_call = max(1, EXT_FLOATS // max(1, reads.width))
    replay.ready()
    for data, times, of, rows in ring.blocks(slots):
        for a in range(0, len(of), per_call):
            part = of[a : a + per_call]
            syms = np.column_stack([rows[a : a + per_call], until[part], slots[part]])
            values, seen = reads.rows(slots[part])
            replay.replay_nb(
                col.program,
                fresh,
                data,
                times,
                syms,
                values,
                seen,
                reads.groups,
                reads.cols,
                timeframe_ms(sources.tf),
                graft,
                whole,
                (state.mem, state.count, state.last_time),
                job,
            )
