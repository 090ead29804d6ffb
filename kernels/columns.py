"""Column mode: a plan stepped through a whole history, a block of bars per node at a time.

Backtests and ``vyx eval`` run the live interpreter (:func:`kernels.interp.run_nb`) with
``block`` > 1 on a *column layout*: the plan's layout with every output ring deep enough to hold
a block of bars plus the deepest lag its consumers read. Each node then steps through a whole
block before the next node starts, so the interpreter dispatches once per node and block instead
of once per node and bar, while every bar is computed by the same kernel, from the same inputs,
in the same order as the live screener computes it: outputs are bit for bit the live ones.

Symbols are independent: they are cut into a few contiguous ranges per thread that parallel
threads (the interpreter releases the GIL), the calling thread among them, take in turn
(:func:`kernels.threads.share`). Each thread steps its
symbols in small groups through its own memory (the plan's state is only needed per symbol, for
the duration of its history), so memory stays at a few rows of the column layout per thread.

With a *sink* (:func:`stream_columns`, the backtest's way) the outputs are not kept at all: each
group's outputs go into a buffer of the thread's own, reused from group to group (so it stays in
the cache and its pages are touched once), and the sink takes what it needs from it (the values
other timeframes read) before the next group overwrites it. The traders' signals are taken by
the interpreter itself as it steps (:class:`Firing`; *Fires* in :mod:`kernels.interp`): the
sink is handed each group's fires, never the filters' values at every bar.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

import attrs
import numpy as np
import numpy.typing as npt

from kernels import ops
from kernels.graph import F64, I64, Layout
from kernels.group import GroupState, copy_rings
from kernels.interp import FIRE_NODES, NO_FIRES, run_nb, workspace
from kernels.ops import N_BAR_FIELDS
from kernels.threads import TakeFn, share

#: Bars each node steps at a time in column mode.
BLOCK = 64
#: Symbols stepped through one buffer of state before it is reset for the next ones.
GROUP = 4
#: Floats of outputs a thread's buffer holds at most when they are handed to a sink (16 MiB):
#: fewer symbols a group when their histories are long.
SINK_FLOATS = 1 << 21

ProgressFn = Callable[[int], None]
#: ``sink(lo, hi, out, bars, fired, values)``: the outputs ``out[hi - lo, n_t, k]`` of symbols
#: ``lo..hi-1``, their bars, and their fires (:class:`Firing`: rows (symbol - ``lo``, step,
#: trader) of ``fired`` and the explanation values of each in ``values``), valid only during
#: the call (called from the thread that stepped them: it must be safe to call from several
#: threads at once).
SinkFn = Callable[[int, int, F64, F64, I64, F64], None]
U8 = npt.NDArray[np.uint8]


@attrs.frozen(eq=False)
class Firing:
    """The traders whose signals a column run takes as it steps (*Fires* in
    :mod:`kernels.interp`): ``spec`` (``int64[n_traders, FIRE_COLUMNS + w]``, the state columns
    are the kernel's) and ``others`` (``uint8[n_sym, n_t, n_traders]``, None: no trader reads
    another timeframe)."""

    spec: I64
    others: U8 | None


#: Fires a group's buffer holds at first: one per 16 trader-bars (more: the group is stepped
#: again with room for all).
FIRE_ROOM = 16
#: ``rows(lo, hi, into)``: the bars of symbols ``lo..hi-1``, ``float64[hi - lo, n_t, 9]`` in C
#: order: a view of bars held, or ``into[: hi - lo]`` filled (``into``: the calling thread's
#: buffer of :data:`GROUP` symbols' bars, reused from group to group).
RowsFn = Callable[[int, int, F64], F64]


def column_layout(lay: Layout, block: int = BLOCK) -> Layout:
    """``lay`` with every ring deep enough for a block of ``block`` bars plus its lags (and
    the bar before the block, which steps without a bar of their own report)."""
    need = lay.rdep + block
    rdep = (1 << np.ceil(np.log2(need)).astype(np.int64)).astype(np.int64)
    n = lay.n_nodes
    soff = np.zeros(n, dtype=np.int64)
    roff = np.zeros(n, dtype=np.int64)
    pos = 0
    for j in range(n):
        soff[j] = pos
        pos += int(lay.ssize[j])
        roff[j] = pos
        pos += int(rdep[j])
    return attrs.evolve(lay, soff=soff, roff=roff, rdep=rdep, width=max(pos, 1))


def column_state(lay: Layout, n_slots: int, n_ext: int = 0) -> GroupState:
    """A state of ``n_slots`` symbols that have stepped nothing on the column layout of
    ``lay`` (step it with ``GroupState.run(..., block=BLOCK)``; :func:`to_layout` turns it
    into the state stepping ``lay`` bar by bar would have left)."""
    state = GroupState(column_layout(lay), n_slots, n_ext)
    state.mem[:] = _fresh_row(state.layout)
    return state


def to_layout(state: GroupState, lay: Layout) -> GroupState:
    """The state of :func:`column_state` ``state`` on ``lay`` (the layout it was made
    from): the same state blocks, and each ring's newest values (as many as ``lay``'s ring
    holds) where the same bars sit in a ``lay`` ring; slots not stepped stay NaN, as
    stepping ``lay`` leaves them."""
    out = GroupState(lay, state.n_slots, state.n_ext)
    out.count[:] = state.count
    out.last_time[:] = state.last_time
    col = state.layout
    blocks = [np.arange(lay.soff[j], lay.soff[j] + lay.ssize[j]) for j in range(lay.n_nodes)]
    if blocks:
        # Same state sizes in both layouts: one gather of every block.
        src = [np.arange(col.soff[j], col.soff[j] + col.ssize[j]) for j in range(lay.n_nodes)]
        out.mem[:, np.concatenate(blocks)] = state.mem[:, np.concatenate(src)]
    by_depth: dict[tuple[int, int], list[int]] = {}
    for j in range(lay.n_nodes):
        by_depth.setdefault((int(col.rdep[j]), int(lay.rdep[j])), []).append(j)
    for (_, depth), nodes in by_depth.items():
        # At most 2048 ring slots per symbol at once: the index arrays stay small.
        step = max(1, 2048 // depth)
        for k in range(0, len(nodes), step):
            ids = np.asarray(nodes[k : k + step])
            copy_rings(state, ids, out, ids, depth)
    return out


def _fresh_row(lay: Layout) -> F64:
    """The memory of a symbol that has stepped nothing: NaN rings, zero state, and constants'
    rings full of their value (column mode does not step them)."""
    row = np.full(lay.width, np.nan)
    for j in range(lay.n_nodes):
        a = int(lay.soff[j])
        row[a : a + int(lay.ssize[j])] = 0.0
        if lay.op[j] == ops.CONST:
            b = int(lay.roff[j])
            row[b : b + int(lay.rdep[j])] = lay.prm[j, 0]
    return row


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges covering ``0..n-1`` (fewer when ``n`` is small)."""
    bounds = np.linspace(0, n, max(1, min(parts, n)) + 1).astype(int).tolist()
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


@attrs.define
class _Progress:
    """Symbols stepped so far, across threads; reported from the calling thread."""

    report: ProgressFn | None
    done: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def add(self, n: int, *, caller: bool) -> None:
        with self.lock:
            self.done += n
            done = self.done
        if caller and self.report is not None:
            self.report(done)


def _step_pieces(
    lay: Layout,
    rows: RowsFn,
    n_t: int,
    ext: F64,
    outs: I64,
    out: F64 | None,
    sink: SinkFn | None,
    firing: Firing | None,
    take: TakeFn,
    progress: _Progress,
    caller: bool,
) -> None:
    """Step the symbols of each range ``take()`` gives a group at a time, into ``out`` or
    (``out`` None) a buffer of this thread's handed to ``sink`` after each group with the
    group's fires (``firing``)."""
    fresh = _fresh_row(lay)
    group = GROUP if out is not None else _group(n_t, outs.shape[1])
    mem = np.empty((group, lay.width))
    count = np.zeros(group, dtype=np.int64)
    spare, work = workspace(lay.width, group, True, BLOCK)
    into = out if out is not None else np.empty((group, n_t, outs.shape[1]))
    bars_buffer = np.empty((group, n_t, N_BAR_FIELDS))
    spec, others, fired, values = NO_FIRES
    if firing is not None:
        spec = firing.spec.copy()  # its state columns are this thread's
        room = max(1024, group * n_t * len(spec) // FIRE_ROOM)
        fired = np.empty((room, 3), dtype=np.int64)
        values = np.empty((room, spec.shape[1] - FIRE_NODES))
    for a, b in _groups(take, group):
        # The interpreter indexes symbols from 0: views of the group's bars and outputs.
        target = into[a:b] if out is not None else into[: b - a]
        bars = rows(a, b, bars_buffer)
        if firing is not None and firing.others is not None:
            others = firing.others[a:b]
        while True:
            mem[:] = fresh
            count[:] = 0
            found = run_nb(
                lay.op,
                lay.ins,
                lay.prm,
                lay.soff,
                lay.roff,
                lay.rdep,
                mem,
                count,
                bars,
                ext[a:b],
                0,
                b - a,
                True,
                outs,
                target,
                spare,
                work,
                spec,
                others,
                fired,
                values,
            )
            if found <= len(fired):
                break
            # More fires than room: the group again, with room for every one.
            fired = np.empty((found, 3), dtype=np.int64)
            values = np.empty((found, values.shape[1]))
        if sink is not None:
            sink(a, b, target, bars, fired[:found], values[:found])
        progress.add(b - a, caller=caller)


def _group(n_t: int, k: int) -> int:
    """Symbols a group when outputs go to a sink: :data:`GROUP`, fewer when their
    ``n_t`` steps of ``k`` outputs are over :data:`SINK_FLOATS`."""
    return max(1, min(GROUP, SINK_FLOATS // max(1, n_t * (k + N_BAR_FIELDS))))


def _groups(take: TakeFn, group: int) -> Iterator[tuple[int, int]]:
    """The groups of ``group`` symbols of each range ``take()`` gives."""
    for lo, hi in iter(take, None):
        for a in range(lo, hi, group):
            yield a, min(hi, a + group)


def run_columns(
    lay: Layout,
    bars: F64,
    ext: F64,
    outs: I64,
    *,
    threads: int = 1,
    progress: ProgressFn | None = None,
) -> F64:
    """Step every symbol of ``bars[n_sym, n_t, 9]`` (with ``ext[n_sym, n_t, n_ext]``) from its
    first bar through the plan ``lay`` (a planner layout) and return the output columns
    ``outs`` (:func:`kernels.interp.outputs`) at every step: ``float64[n_sym, n_t, k]``,
    exactly what the live interpreter gives stepping the same bars one at a time.
    ``progress(symbols_done)`` is called from the calling thread."""
    bars = np.ascontiguousarray(bars)
    out = np.empty((bars.shape[0], bars.shape[1], outs.shape[1]))

    def rows(lo: int, hi: int, _into: F64) -> F64:
        return bars[lo:hi]

    _run(lay, rows, bars.shape[0], bars.shape[1], ext, outs, out, (None, None), threads, progress)
    return out


def stream_columns(
    lay: Layout,
    rows: RowsFn,
    shape: tuple[int, int],
    ext: F64,
    outs: I64,
    sink: SinkFn,
    *,
    firing: Firing | None = None,
    threads: int = 1,
    progress: ProgressFn | None = None,
) -> None:
    """:func:`run_columns` over the ``shape`` (symbols, steps) bars that ``rows`` gives a
    group of symbols at a time, the outputs handed to ``sink`` instead of kept, with the
    fires of ``firing``'s traders: memory stays at a few symbols' bars and outputs per
    thread, however many symbols there are."""
    _run(lay, rows, shape[0], shape[1], ext, outs, None, (sink, firing), threads, progress)


def _run(
    lay: Layout,
    rows: RowsFn,
    n_sym: int,
    n_t: int,
    ext: F64,
    outs: I64,
    out: F64 | None,
    sink: tuple[SinkFn | None, Firing | None],
    threads: int,
    progress: ProgressFn | None,
) -> None:
    col = column_layout(lay)
    ext = np.ascontiguousarray(ext)
    state = _Progress(progress)
    caller = threading.get_ident()

    def step(take: TakeFn) -> None:
        mine = threading.get_ident() == caller
        _step_pieces(col, rows, n_t, ext, outs, out, *sink, take, state, mine)

    # A few pieces per thread, taken in turn: a thread that starts late takes fewer.
    pieces = split(n_sym, min(4 * threads, -(-n_sym // GROUP)) if threads > 1 else 1)
    share(step, pieces, threads)
    if progress is not None:
        progress(n_sym)
