"""Column mode: a plan stepped through a whole history, a block of bars per node at a time.

Backtests and ``vyx eval`` run the live interpreter (:func:`kernels.interp.run_nb`) with
``block`` > 1 on a *column layout*: the plan's layout with every output ring deep enough to hold
a block of bars plus the deepest lag its consumers read. Each node then steps through a whole
block before the next node starts, so the interpreter dispatches once per node and block instead
of once per node and bar, while every bar is computed by the same kernel, from the same inputs,
in the same order as the live screener computes it: outputs are bit for bit the live ones.

Symbols are independent: they are cut into contiguous pieces of one group of symbols each
that parallel threads (the interpreter releases the GIL), the calling thread among them, take
in turn (:func:`kernels.threads.share`). Each thread steps its
symbols in small groups through its own memory (the plan's state is only needed per symbol, for
the duration of its history), so memory stays at a few rows of the column layout per thread.

A backtest (:func:`stream_columns`) keeps only the outputs other timeframes read (written in
place, no copy) and the traders' signals, taken by the interpreter itself as it steps
(:class:`Firing`; *Fires* in :mod:`kernels.interp`): the filters' values at every bar are never
gathered. Each thread collects its fires in a buffer of its own, handed back once at the end.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import attrs
import numpy as np

from kernels import ops
from kernels.firing import FIRE_NODES, NO_FIRES
from kernels.graph import F64, I64, Layout, spans, with_rings
from kernels.interp import ALONE, LANES, run_nb, workspace
from kernels.ops import N_BAR_FIELDS
from kernels.threads import TakeFn, share

#: Bars each node steps at a time in column mode.
BLOCK = 64
#: Symbols stepped through one buffer of state before it is reset for the next ones.
GROUP = 8
#: Floats of bars a thread's buffer holds at most (16 MiB): fewer symbols a group when their
#: histories are long.
BARS_FLOATS = 1 << 21
#: A thread's buffer of fires holds one per 16 trader-bars of the whole run at first, at most
#: :data:`FIRE_ROWS` (more: it grows, and the group that did not fit is stepped again).
FIRE_ROOM = 16
FIRE_ROWS = 1 << 20

ProgressFn = Callable[[int], None]
Rows = TypeVar("Rows", F64, I64)
#: ``rows(lo, hi, into)``: the bars of symbols ``lo..hi-1``, ``float64[hi - lo, n_t, 9]`` in C
#: order: a view of bars held, or ``into[: hi - lo]`` filled (``into``: the calling thread's
#: buffer of a group of symbols' bars, reused from group to group).
RowsFn = Callable[[int, int, F64], F64]
#: Other timeframes' values as ``rows`` gives bars (into a buffer of theirs), and how many
#: columns they have.
Ext = tuple[RowsFn, int]


@attrs.frozen(eq=False)
class Firing:
    """The traders whose signals a column run takes as it steps (*Fires* in
    :mod:`kernels.interp`): ``spec`` (``int64[n_traders, FIRE_COLUMNS + w]``; its state columns
    are the kernel's) and ``ready`` (``int64[n_sym, n_traders]``, the first step each trader may
    fire at on each symbol for the history of the other timeframes it reads; None: no trader
    reads another timeframe)."""

    spec: I64
    ready: I64 | None


@attrs.frozen(eq=False)
class Found:
    """The fires one thread found: rows (symbol, step, trader) and, in the same rows, the
    values of the trader's explanation nodes then the bar's close (``values``: rows ``at``
    on of the threads' ``shared`` buffer, when they are there)."""

    fired: I64
    values: F64
    shared: F64 | None = None
    at: int = 0


class _FireRoom:
    """One buffer of fires for every thread of a run, a region of ``room`` rows each (taken
    in turn), so that the threads' values need no joining: a region's untouched rows cost
    no memory (a thread with more fires than room moves to a buffer of its own)."""

    def __init__(self, threads: int, room: int, width: int) -> None:
        self.room = room
        self.fired = np.empty((threads * room, 3), dtype=np.int64)
        self.values = np.empty((threads * room, width))
        self._taken = itertools.count()
        self._lock = threading.Lock()

    def region(self) -> int:
        """The first row of a region not taken yet."""
        with self._lock:
            return next(self._taken) * self.room


def column_layout(lay: Layout, block: int = BLOCK) -> Layout:
    """``lay`` with every ring deep enough for a block of ``block`` bars plus its lags (and
    the bar before the block, which steps without a bar of their own report)."""
    need = lay.rdep + block
    return with_rings(lay, (1 << np.ceil(np.log2(need)).astype(np.int64)).astype(np.int64))


def fresh_row(lay: Layout) -> F64:
    """The memory of a symbol that has stepped nothing: NaN rings, zero state, and constants'
    rings full of their value (column mode does not step them)."""
    row = np.full(lay.width, np.nan)
    row[spans(lay.soff, lay.ssize)] = 0.0
    const = lay.op == ops.CONST
    row[spans(lay.roff[const], lay.rdep[const])] = np.repeat(lay.prm[const, 0], lay.rdep[const])
    return row


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
    shape: tuple[int, int],
    ext: Ext,
    outs: I64,
    out: F64,
    firing: Firing | None,
    take: TakeFn,
    progress: _Progress,
    caller: bool,
    fire_room: _FireRoom | None = None,
) -> Found | None:
    """Step the symbols of each range ``take()`` gives a group at a time, their outputs into
    ``out`` and (``firing``) the fires into this thread's region of ``fire_room`` (or a
    buffer of its own); returns those."""
    n_t = shape[1]
    fresh = fresh_row(lay)
    group = _group(n_t)
    mem = np.empty((group, lay.width))
    count = np.zeros(group, dtype=np.int64)
    spare, work = workspace(lay.width, group, True, BLOCK)
    bars_buffer = np.empty((group, n_t, N_BAR_FIELDS))
    ext_buffer = np.empty((group, n_t, ext[1]))
    spec, ready, fired, values = NO_FIRES
    at = -1
    if firing is not None:
        # Its state columns are this thread's, one copy for each symbol of a batch.
        spec = np.tile(firing.spec, (len(work) - 1, 1))
        if fire_room is not None:
            at = fire_room.region()
            fired = fire_room.fired[at : at + fire_room.room]
            values = fire_room.values[at : at + fire_room.room]
        else:
            fired = np.empty((_room(shape, firing), 3), dtype=np.int64)
            values = np.empty((len(fired), spec.shape[1] - FIRE_NODES + 1))
    used = 0
    for a, b in _groups(take, group):
        bars = rows(a, b, bars_buffer)
        ext_rows = ext[0](a, b, ext_buffer)
        if firing is not None and firing.ready is not None:
            ready = firing.ready[a:b]
        while True:
            mem[:] = fresh
            count[:] = 0
            found = run_nb(
                *lay.program,
                mem,
                count,
                bars,
                ext_rows,
                0,
                b - a,
                True,
                outs,
                out[a:b],
                spare,
                work,
                spec,
                ready,
                fired[used:],
                values[used:],
                ALONE,
            )
            if used + found <= len(fired):
                break
            # More fires than room: a larger buffer of its own, and the group again.
            n = max(2 * (used + found), 2 * len(fired))
            fired, values, at = _grown(fired, used, n), _grown(values, used, n), -1
        fired[used : used + found, 0] += a
        used += found
        progress.add(b - a, caller=caller)
    if firing is None:
        return None
    if at < 0 or fire_room is None:
        return Found(fired[:used], values[:used])
    return Found(fired[:used], values[:used], fire_room.values, at)


def _room(shape: tuple[int, int], firing: Firing) -> int:
    """Rows of fires a thread makes room for at first: one per :data:`FIRE_ROOM` trader-bars
    of the whole run."""
    return min(FIRE_ROWS, max(1024, shape[0] * shape[1] * len(firing.spec) // FIRE_ROOM))


def _group(n_t: int) -> int:
    """Symbols a group: :data:`GROUP`, fewer when their ``n_t`` bars are over
    :data:`BARS_FLOATS`; a multiple of :data:`~kernels.interp.LANES` when it can be (the
    interpreter's batches are that many symbols)."""
    group = max(1, min(GROUP, BARS_FLOATS // max(1, n_t * N_BAR_FIELDS)))
    return group - group % LANES if group >= LANES else group


def _grown(rows: Rows, used: int, n: int) -> Rows:
    """A buffer of ``n`` rows like ``rows``, holding its first ``used`` rows."""
    bigger = np.empty((n, rows.shape[1]), dtype=rows.dtype)
    bigger[:used] = rows[:used]
    return bigger


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
    ext = np.ascontiguousarray(ext)
    out = np.empty((bars.shape[0], bars.shape[1], outs.shape[1]))

    def rows(lo: int, hi: int, _into: F64) -> F64:
        return bars[lo:hi]

    def ext_rows(lo: int, hi: int, _into: F64) -> F64:
        return ext[lo:hi]

    _run(lay, rows, bars.shape[:2], (ext_rows, ext.shape[2]), outs, out, None, threads, progress)
    return out


def stream_columns(
    lay: Layout,
    rows: RowsFn,
    ext: Ext,
    outs: I64,
    out: F64,
    *,
    firing: Firing | None = None,
    threads: int = 1,
    progress: ProgressFn | None = None,
) -> list[Found]:
    """:func:`run_columns` over the ``out.shape[:2]`` (symbols, steps) bars that ``rows``
    gives a group of symbols at a time (and other timeframes' values that ``ext`` does,
    :data:`Ext`), the outputs ``outs`` written into ``out`` (for a
    backtest, only those other timeframes read), and the fires of ``firing``'s traders
    returned (per thread that stepped: their order is not the fires' order): memory stays at
    a few symbols' bars per thread, however many symbols there are."""
    return _run(lay, rows, out.shape[:2], ext, outs, out, firing, threads, progress)


def _run(
    lay: Layout,
    rows: RowsFn,
    shape: tuple[int, int],
    ext: Ext,
    outs: I64,
    out: F64,
    firing: Firing | None,
    threads: int,
    progress: ProgressFn | None,
) -> list[Found]:
    col = column_layout(lay)
    state = _Progress(progress)
    caller = threading.get_ident()
    found: list[Found] = []

    n_sym = shape[0]
    # Pieces of one group, taken in turn: the threads finish within a group of each other,
    # and a thread that starts late takes fewer.
    group = _group(shape[1])
    pieces = [(a, min(n_sym, a + group)) for a in range(0, n_sym, group)]
    pieces = pieces if threads > 1 else [(0, n_sym)]
    n_threads = max(1, min(threads, len(pieces)))
    fire_room = None
    if firing is not None and n_threads > 1:
        width = firing.spec.shape[1] - FIRE_NODES + 1
        fire_room = _FireRoom(n_threads, _room(shape, firing), width)

    def step(take: TakeFn) -> None:
        mine = threading.get_ident() == caller
        got = _step_pieces(col, rows, shape, ext, outs, out, firing, take, state, mine, fire_room)
        if got is not None:
            found.append(got)  # list.append is atomic

    share(step, pieces, threads)
    if progress is not None:
        progress(n_sym)
    return found
