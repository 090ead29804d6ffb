"""The plan interpreter: one precompiled numba function that steps every node of a plan.

Filters are never compiled to machine code of their own (DESIGN §3): a plan is data (the node
table below) and this fixed interpreter runs it. Array contract of :func:`run_nb`:

- node table, ``n`` nodes in topological order: ``op`` int64[n], ``ins`` int64[n, 4] input node
  ids (-1 unused), ``prm`` float64[n, 4] parameters, ``soff`` int64[n] state offsets,
  ``roff``/``rdep`` int64[n] output ring offsets and depths (see :mod:`kernels.ind`);
- ``mem`` float64[n_symbols, width]: per symbol, every node's state and output ring;
  ``count`` int64[n_symbols]: bars stepped per symbol (the ``c`` of the next bar);
- ``bars`` float64[n_symbols, n_t, 9]: the bars to step, fields as :data:`kernels.ops.OPEN` ...
  :data:`kernels.ops.OPEN_TIME`; a NaN open time means "no bar here" (the symbol does not
  advance at that step); ``ext`` float64[n_symbols, n_t, n_ext]: values of other
  timeframes' nodes (``EXT`` nodes read them);
- ``out_nodes`` int64[2, k] (:func:`outputs`) and ``out`` float64[n_symbols, n_t, k]: node
  outputs gathered per step;
- ``scratch`` float64[rows, width] and ``work`` int64[rows, 5 + block] (:func:`workspace`):
  rows stepped without committing, and the work items of a batch (below); ``block``, the bars
  stepped per node at a time, is ``work``'s width less 5;
- ``fire_spec``, ``ready``, ``fired``, ``values``: the traders whose signals a backtest takes
  as it steps (column mode only; :data:`NO_FIRES` for none, see *Fires* below). Returns the
  number of fires found;
- ``claims`` int64: :data:`ALONE` (this call steps ``lo..hi-1``), or the counters of a job
  shared by threads (:func:`shared_claims`): each thread's call takes pieces of the range
  until none is left (below).

With ``commit`` the symbols' memory advances; without it (evaluating a forming bar) rows are
copied into ``scratch`` and stepped there, so committed state is untouched. Compiled without
numba's runtime (:mod:`kernels.jit`) and releases the GIL: disjoint symbol ranges may run in
parallel threads, each with its own ``scratch`` and ``work``.

**Pieces.** Threads sharing a job (:mod:`kernels.threads`) pass it the same ``claims``: each
call takes the next piece not taken (an atomic add, :mod:`kernels.atomics`), steps it, counts
it done, and takes another, so a thread makes one call per job and never needs the GIL in
between, and a thread that starts late takes fewer pieces. The waiting thread takes pieces
from the front and helpers from the back, so each thread steps about the same symbols every
close. The waiting thread's call then spins (bounded) for the pieces others are still
stepping (:func:`shared_claims`). Which thread steps a symbol changes nothing in its numbers.
Threads sharing claims take no fires (a ``fire_spec`` holds one thread's state).

**Batches.** Nodes step *batches* of work items (a row, its first and end bar), each node
through the whole batch before the next node starts, so the opcode dispatch and each kernel's
state loads cost once per node and batch. With ``block`` 1 (the live screener, on the
planner's layout) a batch is one bar of up to ``rows`` symbols; with a larger ``block``
(backtests and ``vyx eval``, :mod:`kernels.columns`) it is up to ``block`` bars of one
symbol, on a layout whose rings hold a block plus the deepest lag and whose constants' rings
are filled once (they are not stepped). Either way each node computes each bar with the
same kernel, from the same inputs, in the same order: the results are bit for bit the same.

**Fires.** In column mode a backtest's traders fire inside the interpreter, right after each
block is stepped, while the block's values are still in the rings (:mod:`kernels.firing`, which
says what ``fire_spec``, ``ready``, ``fired`` and ``values`` hold). Nothing but the fires
leaves the kernel: the filters' values at every bar are never gathered.

**Families.** Opcodes are run by their family's ``block_nb`` (:mod:`kernels.families`), called
through a table of the compiled families (:mod:`kernels.family_table`: the interpreter does
not link their code, so it compiles on its own, beside them); only ``CONST``, ``SRC`` and
``EXT`` are run here. Adding an opcode or a family needs no change here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

from kernels import atomics, ops
from kernels.families import table
from kernels.family_table import call_family, needs_families
from kernels.firing import NO_FIRES as NO_FIRES
from kernels.firing import fire_block, reset
from kernels.graph import F64, I64
from kernels.jit import entry, loops

_CONST, _SRC, _EXT, _OPEN_TIME = ops.CONST, ops.SRC, ops.EXT, ops.OPEN_TIME
#: Family index of each opcode (a compile-time constant of :func:`run_nb`).
_FAMILY = table()
#: Symbols stepped together (one bar each) in a live batch; rows of ``scratch``.
SCRATCH_ROWS = 32


def outputs(nodes: Sequence[int] | I64, gates: Sequence[int] | None = None) -> I64:
    """The ``out_nodes`` argument of :func:`run_nb`: ``int64[2, k]``, the nodes gathered into
    the output columns, and per column the earlier column that gates it (-1: none). A gated
    column is written only at steps where its gate holds 1.0 (elsewhere it is left as it
    was): a backtest keeps a trader's clause values only where its filter matched."""
    spec = np.full((2, len(nodes)), -1, dtype=np.int64)
    spec[0] = nodes
    if gates is not None:
        spec[1] = gates
    return spec


def workspace(width: int, n_slots: int, commit: bool, block: int = 1) -> tuple[F64, I64]:
    """The ``scratch`` and ``work`` arguments of :func:`run_nb` for stepping ``n_slots``
    symbols ``block`` bars at a time (``scratch``: one row when committing, it is unused)."""
    rows = min(max(1, n_slots), SCRATCH_ROWS) if block == 1 else 1
    scratch = np.empty((1 if commit else rows, width))
    # With blocks, a second row of ``work``: the steps of a block where a gate holds.
    return scratch, np.empty((rows if block == 1 else 2, _STEPS + block), dtype=np.int64)


#: ``claims`` of a call that steps all of ``lo..hi-1`` itself.
ALONE = np.zeros(0, dtype=np.int64)
#: Fields of shared ``claims``: pieces taken (from the front and from the back, below),
#: pieces done, slots a piece, and the waiting thread's only: spins to wait for pieces other
#: threads took, and what it posts as its call starts (:func:`shared_claims`).
_TAKEN, _DONE, _PIECE, _WAIT, _POST_AT, _POST, _SEQ_AT = range(7)
#: Threads woken by a post (all).
_ALL = 1 << 30
#: One piece taken from the back, in ``claims[_TAKEN]`` (its high 32 bits).
_BACK = 1 << 32


def shared_claims(piece: int, wait: int) -> I64:
    """Shared ``claims`` of a job cut in pieces of ``piece`` slots. The thread that waits for
    the job passes them whole: its call, once no piece is left to take, spins up to ``wait``
    times for the pieces other threads are still stepping; the others pass
    :func:`helper_claims` (no wait). See :func:`posting` for what the call may post."""
    return np.array([0, 0, max(1, piece), max(0, wait), 0, 0, 0], dtype=np.int64)


def posting(shared: I64, post: tuple[int, int, int]) -> I64:
    """``shared`` claims whose waiting thread's call, as it starts (the GIL released),
    stores ``post[1]`` at address ``post[0]``, then bumps the word at ``post[2]`` and wakes
    the threads asleep on it (:class:`kernels.threads.Crew`: helpers that go on only once
    this thread is in the kernel, so they find the GIL free). Zeros: nothing posted."""
    shared[_POST_AT:] = post
    return shared


def helper_claims(shared: I64) -> I64:
    """The view of ``shared`` claims a helping thread passes (the same counters, no wait)."""
    return shared[:_WAIT]


def pieces_left(shared: I64, lo: int, hi: int) -> int:
    """Pieces of ``lo..hi-1`` under ``shared`` claims not yet stepped (taken or not)."""
    piece = int(shared[_PIECE])
    return -(-(hi - lo) // piece) - int(shared[_DONE])


def helped(shared: I64, lo: int, hi: int) -> float:
    """The share of the pieces of ``lo..hi-1`` helpers stepped, once all are done (the
    waiting thread took the others from the front, plus one try that found none left)."""
    n = -(-(hi - lo) // int(shared[_PIECE]))
    front = int(shared[_TAKEN]) & (_BACK - 1)
    return (n - (front - 1)) / n if n else 0.0


#: Columns of ``work``: the row of ``mem`` (or ``scratch``) stepped, its first bar, its end
#: bar (the families read these three), the symbol, its bar count, then the steps (indices
#: into ``bars``) of its bars.
_ROW, _FIRST, _END, _SYM, _COUNT, _STEPS = range(6)


@njit(cache=True, nogil=True, inline="always")
def _copy(src, dst):
    """``dst[:] = src`` (a plain loop: a slice assignment may need a temporary array, and
    the loops below run without numba's runtime)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@njit(cache=True, nogil=True, inline="always")
def _copy_in(src, f, rows, items, oj, mj):
    """Field ``f`` of ``src`` (the bars, or other timeframes' values) into a node's ring."""
    for w in range(items.shape[0]):
        row = rows[items[w, _ROW]]
        s = items[w, _SYM]
        c0 = items[w, _FIRST]
        for q in range(items[w, _END] - c0):
            row[oj + ((c0 + q) & mj)] = src[s, items[w, _STEPS + q], f]


@njit(cache=True, nogil=True, inline="always")
def _gather(row, roff, rdep, out_nodes, out, s, t, c):
    """Outputs at step ``t``: each output node's value at bar ``c - 1`` (NaN before any),
    where its gate column holds 1.0 (see :func:`outputs`; a run of columns with one gate
    tests it once)."""
    gate = -1
    held = True
    for k in range(out_nodes.shape[1]):
        g = out_nodes[1, k]
        if g != gate:
            gate = g
            held = g < 0 or out[s, t, g] == 1.0
        if held:
            n = out_nodes[0, k]
            out[s, t, k] = row[roff[n] + ((c - 1) & (rdep[n] - 1))] if c > 0 else math.nan


@entry
def run_nb(
    op,
    ins,
    prm,
    soff,
    roff,
    rdep,
    mem,
    count,
    bars,
    ext,
    lo,
    hi,
    commit,
    out_nodes,
    out,
    scratch,
    work,
    fire_spec,
    ready,
    fired,
    values,
    claims,
):
    """Step symbols ``lo..hi-1`` through ``bars`` (see the module docstring), all of them
    (``claims`` :data:`ALONE`) or the pieces this thread takes (see :func:`shared_claims`);
    returns the number of fires found."""
    alone = claims.shape[0] == 0
    size = hi - lo if alone else max(1, claims[_PIECE])
    n = 1 if alone else (hi - lo + size - 1) // size
    # The waiting thread takes pieces from the front, helpers from the back: each thread
    # steps about the same slots every close, whose memory its core's cache still holds.
    front = claims.shape[0] > _WAIT
    if claims.shape[0] > _SEQ_AT and claims[_POST_AT] != 0:
        atomics.store_at(claims[_POST_AT], claims[_POST])
        atomics.add_at(claims[_SEQ_AT], 1)
        atomics.wake_at(claims[_SEQ_AT], _ALL)
    found = 0
    taken = 0
    while True:
        if alone:
            i = taken
        else:
            # One word counts the pieces taken at both ends (the front's in its low half): a
            # piece is taken only while both together are short of ``n``.
            both = atomics.fetch_add(claims, _TAKEN, 1 if front else _BACK)
            f, k = both & (_BACK - 1), both >> 32
            i = n if f + k >= n else f if front else n - 1 - k
        taken += 1
        if i >= n:
            break
        found = _steps(
            (op, ins, prm, soff, roff, rdep),
            (mem, count, bars, ext, commit, out_nodes, out, scratch, work),
            (fire_spec, ready, fired, values),
            lo + i * size,
            min(hi, lo + (i + 1) * size),
            found,
        )
        if not alone:
            atomics.fetch_add(claims, _DONE, 1)
    # The waiting thread (its ``claims`` has a wait): pieces other threads took, finishing.
    for _ in range(claims[_WAIT] if claims.shape[0] > _WAIT else 0):
        if atomics.load(claims, _DONE) >= n:
            break
        atomics.pause()
    return found


needs_families(run_nb)


@loops
def _steps(plan, job, take, lo, hi, found):
    """Step symbols ``lo..hi-1``, ``work``'s rows at a time (a batch): ``plan``, ``job`` and
    ``take`` hold :func:`run_nb`'s arguments (the node table; the memory, bars and outputs;
    the fires to take, written from row ``found`` on). Returns the fires found so far.
    A kernel of its own, called once per piece: numba inlining it into :func:`run_nb` cost
    ~1 s of the first compile (a copy of its code typed again)."""
    op, ins, prm, soff, roff, rdep = plan
    mem, count, bars, ext, commit, out_nodes, out, scratch, work = job
    fire_spec, ready, fired, values = take
    block = work.shape[1] - _STEPS
    g = work.shape[0] if block == 1 else 1
    fires = block > 1 and fire_spec.shape[0] > 0
    for a in range(lo, hi, g):
        if fires:
            reset(fire_spec)
        b = min(hi, a + g)
        rows = mem[a:b] if commit else scratch
        for r in range(b - a):
            if not commit:
                _copy(mem[a + r], rows[r])
            work[r, _COUNT] = count[a + r]
        t0 = 0
        while t0 < bars.shape[1]:
            k, t1 = _batch(bars, work, a, b, t0, block)
            items = work[:k]
            for j in range(op.shape[0] if k > 0 else 0):
                o = op[j]
                oj = roff[j]
                mj = rdep[j] - 1
                if o in (_SRC, _EXT):
                    _copy_in(bars if o == _SRC else ext, int(prm[j, 0]), rows, items, oj, mj)
                elif o == _CONST:
                    _fill(prm[j, 0], rows, items, oj, mj, block)
                elif _FAMILY[o] >= 0:
                    call_family(
                        _FAMILY[o],
                        o,
                        rows,
                        items,
                        soff[j],
                        (ins[j, 0], ins[j, 1], ins[j, 2], ins[j, 3]),
                        roff,
                        rdep,
                        (prm[j, 0], prm[j, 1], prm[j, 2], prm[j, 3]),
                        oj,
                        mj,
                    )
            if fires and k > 0:
                first, end = work[0, _FIRST], work[0, _END]
                steps, listed = work[0, _STEPS:], work[1]
                found = fire_block(
                    rows[0],
                    roff,
                    rdep,
                    fire_spec,
                    ready,
                    bars,
                    fired,
                    values,
                    a,
                    first,
                    end,
                    steps,
                    listed,
                    found,
                )
            for r in range(b - a):
                _gather_steps(rows[r], roff, rdep, out_nodes, out, a + r, t0, t1, work, r, k, block)
            t0 = t1
        for r in range(b - a if commit else 0):
            count[a + r] = work[r, _COUNT]
    return found


@njit(cache=True, nogil=True, inline="always")
def _batch(bars, work, a, b, t0, block):
    """The next bars to step, as items in ``work`` (their counts advanced): with ``block``
    1 the bar at step ``t0`` of every symbol ``a..b-1`` that has one; else up to ``block``
    bars of symbol ``a`` from step ``t0`` on. Returns the items and the step after them."""
    k = 0
    if block == 1:
        for r in range(b - a):
            if not math.isnan(bars[a + r, t0, _OPEN_TIME]):
                c = work[r, _COUNT]
                work[k, _ROW], work[k, _FIRST], work[k, _END] = r, c, c + 1
                work[k, _SYM], work[k, _STEPS] = a + r, t0
                work[r, _COUNT] = c + 1
                k += 1
        return k, t0 + 1
    c0 = work[0, _COUNT]
    nb = 0
    t1 = t0
    while t1 < bars.shape[1] and nb < block:
        if not math.isnan(bars[a, t1, _OPEN_TIME]):
            work[0, _STEPS + nb] = t1
            nb += 1
        t1 += 1
    work[0, _ROW], work[0, _FIRST], work[0, _END], work[0, _SYM] = 0, c0, c0 + nb, a
    work[0, _COUNT] = c0 + nb
    return 1 if nb > 0 else 0, t1


@njit(cache=True, nogil=True, inline="always")
def _gather_steps(row, roff, rdep, out_nodes, out, s, t0, t1, work, r, k, block):
    """Outputs of symbol ``s`` (``row``, item ``r``) at steps ``t0..t1-1`` of a batch: a
    block's steps see the bars up to theirs (which the rings still hold:
    :func:`kernels.columns.column_layout`), gathered a column at a time."""
    if block == 1 or k == 0:
        for t in range(t0, t1):
            _gather(row, roff, rdep, out_nodes, out, s, t, work[r, _COUNT])
        return
    c0, nb = work[0, _FIRST], work[0, _END] - work[0, _FIRST]
    k_out = out_nodes.shape[1]
    j = 0
    while j < k_out:
        # A run of columns with one gate: the gate is tested once per step.
        g = out_nodes[1, j]
        e = j + 1
        while e < k_out and out_nodes[1, e] == g:
            e += 1
        if g >= 0 and nb == t1 - t0:
            # Every step has a bar: step t0 + q sees bar c0 + q. The steps where the gate
            # holds are listed first without a branch (whether a filter matches is as good
            # as random: a branch on it mispredicts), then their columns copied.
            held = work[1]
            m = 0
            for q in range(nb):
                held[m] = q
                m += out[s, t0 + q, g] == 1.0
            for x in range(m):
                q = held[x]
                for i in range(j, e):
                    n = out_nodes[0, i]
                    out[s, t0 + q, i] = row[roff[n] + ((c0 + q) & (rdep[n] - 1))]
        else:
            for i in range(j, e):
                _gather_column(row, roff, rdep, out_nodes, out, s, t0, t1, work, i, c0, nb)
        j = e


@njit(cache=True, nogil=True, inline="always")
def _gather_column(row, roff, rdep, out_nodes, out, s, t0, t1, work, j, c0, nb):
    """Column ``j`` of a block's outputs (see :func:`_gather_steps`)."""
    n, g = out_nodes[0, j], out_nodes[1, j]
    off, mask = roff[n], rdep[n] - 1
    if nb == t1 - t0:
        # Every step has a bar: step t0 + q sees bar c0 + q.
        for q in range(nb):
            if g < 0 or out[s, t0 + q, g] == 1.0:
                out[s, t0 + q, j] = row[off + ((c0 + q) & mask)]
        return
    i = 0
    for t in range(t0, t1):
        while i < nb and work[0, _STEPS + i] <= t:
            i += 1
        if g < 0 or out[s, t, g] == 1.0:
            c = c0 + i
            out[s, t, j] = row[off + ((c - 1) & mask)] if c > 0 else math.nan


@njit(cache=True, nogil=True, inline="always")
def _fill(v, rows, items, oj, mj, block):
    """A constant's ring at the bars of ``items`` (column mode: full from the start)."""
    for w in range(items.shape[0] if block == 1 else 0):
        row = rows[items[w, _ROW]]
        for c in range(items[w, _FIRST], items[w, _END]):
            row[oj + (c & mj)] = v
