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
  rows stepped without committing (committing blocks: the kernels' scratch memory, its one
  row, which must not be ``mem``'s), and the work items of a batch (below); ``block``, the
  bars stepped per node at a time, is ``work``'s width less 5;
- ``fire_spec``, ``ready``, ``fired``, ``values``: the traders whose signals a backtest takes
  as it steps (column mode only; :data:`NO_FIRES` for none, see *Fires* below; ``fire_spec``
  holds the traders' rows once for each symbol of a batch, ``work``'s rows less one: their
  state columns are that symbol's). Returns the number of fires found;
- ``claims`` int64: :data:`ALONE` (this call steps ``lo..hi-1``), or a crew's words (this
  call posts the job to the crew's helpers and takes pieces of the range until none is left),
  or a helper's own words (this call serves the crew's jobs until it stops; below).

With ``commit`` the symbols' memory advances; without it (evaluating a forming bar) rows are
copied into ``scratch`` and stepped there, so committed state is untouched. Compiled without
numba's runtime (:mod:`kernels.jit`) and releases the GIL: disjoint symbol ranges may run in
parallel threads, each with its own ``scratch`` and ``work``.

**Pieces.** A job shared with a crew's helpers (:mod:`kernels.threads`, :mod:`kernels.handoff`)
is cut in pieces: its caller's call posts it from inside the kernel and takes pieces from the
front, the helpers' calls (each asleep in the kernel between jobs) take pieces from the back,
each piece with one atomic operation, so no thread needs the GIL during a job and a helper
that starts late takes fewer pieces. Each thread steps about the same symbols every close.
The caller's call returns once every piece a helper took is done. Which thread steps a symbol
changes nothing in its numbers. Threads sharing a job take no fires (a ``fire_spec`` holds
one thread's state).

**Batches.** Nodes step *batches* of work items (a row, its first and end bar), each node
through the whole batch before the next node starts, so the opcode dispatch and each kernel's
state loads cost once per node and batch. With ``block`` 1 (the live screener, on the
planner's layout) a batch is one bar of up to ``rows`` symbols; with a larger ``block``
(backtests and ``vyx eval``, :mod:`kernels.columns`) it is the bars of ``block`` steps of up
to :data:`LANES` symbols, on a layout whose rings hold a block plus the deepest lag and whose
constants' rings are filled once (they are not stepped). Kernels whose bars form a chain of
dependent operations step the symbols of a batch two by two when both have the same bars
(:func:`kernels.ind.access.paired`). Either way each node computes each bar with the same
kernel arithmetic, from the same inputs, in the same order: the results are bit for bit the
same.

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
from numba import njit, types

from kernels import atomics, handoff, ops
from kernels.batches import COUNT as _COUNT
from kernels.batches import END as _END
from kernels.batches import FIRST as _FIRST
from kernels.batches import ROW as _ROW
from kernels.batches import STEPS as _STEPS
from kernels.batches import SYM as _SYM
from kernels.batches import batch, copy_in, copy_row, fill
from kernels.families import table
from kernels.family_table import call_family, needs_families
from kernels.firing import NO_FIRES as NO_FIRES
from kernels.firing import fire_block, reset, unsigned
from kernels.graph import F64, I64
from kernels.jit import entry, loops, overload_loops

_CONST, _SRC, _EXT = ops.CONST, ops.SRC, ops.EXT
#: Family index of each opcode (a compile-time constant of :func:`run_nb`).
_FAMILY = table()
#: Symbols stepped together (one bar each) in a live batch; rows of ``scratch``.
SCRATCH_ROWS = 32
#: Symbols stepped together (a block of bars each) in a column batch: kernels whose bars
#: form a chain of dependent operations step two symbols side by side (their chains overlap).
#: Eight (a column group's symbols): each node's family is called once per eight symbols,
#: not two (the elementwise opcodes' calls were most of their time): a backtest ~5 % faster.
LANES = 8

_I1, _I2 = types.int64[::1], types.int64[:, ::1]
_F2, _F3 = types.float64[:, ::1], types.float64[:, :, ::1]
#: The argument types :func:`run_nb` is compiled for (and called with).
INTERP_SIGNATURE = (
    *(_I1, _I2, _F2, _I1, _I1, _I1),
    *(_F2, _I1, _F3, _F3, types.int64, types.int64, types.boolean, _I2, _F3, _F2, _I2),
    *(_I2, _I2, _I2, _F2, _I1),
)


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
    if block == 1:
        rows = min(max(1, n_slots), SCRATCH_ROWS)
        return np.empty((1 if commit else rows, width)), np.empty(
            (rows, _STEPS + block), dtype=np.int64
        )
    # With blocks, a batch is up to LANES symbols (their rows of ``work``), and one row more:
    # the steps of a block where a gate holds; committing, ``scratch`` is the kernels' (four
    # floats a bar at least, see :mod:`kernels.ind`).
    rows = min(max(1, n_slots), LANES) if commit else 1
    return np.empty((1, max(width, 4 * block) if commit else width)), np.empty(
        (rows + 1, _STEPS + block), dtype=np.int64
    )


#: ``claims`` of a call that steps all of ``lo..hi-1`` itself.
ALONE = np.zeros(0, dtype=np.int64)


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
    (``claims`` :data:`ALONE`), or as the caller of a job shared with a crew's helpers
    (``claims``: the crew's words, :mod:`kernels.handoff`), or serve the crew as a helper
    (``claims``: the helper's words; the other arrays only give their types, each job's
    come from its caller); returns the number of fires found."""
    plan = (op, ins, prm, soff, roff, rdep)
    job = (mem, count, bars, ext, commit, out_nodes, out, scratch, work)
    take = (fire_spec, ready, fired, values)
    if claims.shape[0] == handoff.HELPER_WORDS:
        _serve_contiguous(plan, job, take, claims)
        return 0
    alone = claims.shape[0] == 0
    n = 1 if alone else handoff.post(claims, plan, job, lo, hi)
    size = hi - lo if alone else max(1, claims[handoff.PIECE])
    found = 0
    # The caller takes pieces from the front, helpers from the back: each thread steps
    # about the same slots every close, whose memory its core's cache still holds.
    i = 0
    while True:
        if not alone:
            word = atomics.fetch_add(claims, handoff.WORD, handoff.FRONT)
            i = word & handoff.FIELD
            if i + ((word >> 20) & handoff.FIELD) >= n:
                break  # none left: the helpers' count is final
        elif i >= n:
            break
        found = _steps(plan, job, take, lo + i * size, min(hi, lo + (i + 1) * size), found)
        i += 1
    if not alone:
        handoff.wait_helpers(claims)
    return found


def _serve_contiguous(plan, job, take, claims):
    """A helper's whole life (:mod:`kernels.handoff`), in an interpreter compiled for
    C-contiguous arrays: each job posted to the crew, until it stops, gets pieces taken from
    the back and stepped in this helper's own workspace. ``plan`` and ``job``
    (:func:`_steps`'s) give the types of each job's arrays, read at the addresses its caller
    wrote (as C-contiguous: an interpreter compiled for other layouts serves nothing);
    ``take``: no fires (threads sharing a job take none)."""


@overload_loops(_serve_contiguous)
def _serve_typed(plan, job, take, claims):
    if handoff.contiguous(plan, job):
        return _serve
    return lambda plan, job, take, claims: None


def _serve(plan, job, take, claims):
    """:func:`_serve_contiguous`."""
    ctl = atomics.view_at(claims, handoff.H_CTL, claims)
    seen = atomics.load(ctl, handoff.POST)
    while True:
        posted = handoff.await_post(ctl, seen, claims[handoff.H_SPINS])
        if posted < 0:
            return
        seen = posted
        # Not a job that is over already, wants fewer helpers or a larger workspace.
        word = atomics.load(ctl, handoff.WORD)
        rows, width = ctl[handoff.SCRATCH_AT + 1], ctl[handoff.SCRATCH_AT + 2]
        items, columns = ctl[handoff.WORK_AT + 1], ctl[handoff.WORK_AT + 2]
        if (
            (word >> 40) != (posted & handoff.GENS)
            or claims[handoff.H_INDEX] >= ctl[handoff.HELPERS]
            or rows * width > claims[handoff.H_SCRATCH + 3]
            or items * columns > claims[handoff.H_WORK + 3]
        ):
            continue
        claims[handoff.H_SCRATCH + 1], claims[handoff.H_SCRATCH + 2] = rows, width
        claims[handoff.H_WORK + 1], claims[handoff.H_WORK + 2] = items, columns
        at = handoff.ARRAYS
        op, ins, prm, soff, roff, rdep = plan
        mem, count, bars, ext, _, out_nodes, out, scratch, work = job
        posted_plan = (
            atomics.view_at(ctl, at, op),
            atomics.view_at(ctl, at + 4, ins),
            atomics.view_at(ctl, at + 8, prm),
            atomics.view_at(ctl, at + 12, soff),
            atomics.view_at(ctl, at + 16, roff),
            atomics.view_at(ctl, at + 20, rdep),
        )
        posted_job = (
            atomics.view_at(ctl, at + 24, mem),
            atomics.view_at(ctl, at + 28, count),
            atomics.view_at(ctl, at + 32, bars),
            atomics.view_at(ctl, at + 36, ext),
            ctl[handoff.COMMIT] != 0,
            atomics.view_at(ctl, at + 40, out_nodes),
            atomics.view_at(ctl, at + 44, out),
            atomics.view_at(claims, handoff.H_SCRATCH, scratch),
            atomics.view_at(claims, handoff.H_WORK, work),
        )
        lo, hi, size = ctl[handoff.LO], ctl[handoff.HI], max(1, ctl[handoff.PIECE])
        n = (hi - lo + size - 1) // size
        while True:
            # The next piece from the back: taken only while the job is still the one
            # whose arrays were read (its generation) and a piece is left.
            word = atomics.load(ctl, handoff.WORD)
            k = (word >> 20) & handoff.FIELD
            if (word >> 40) != (posted & handoff.GENS) or (word & handoff.FIELD) + k >= n:
                break
            if not atomics.compare_swap(ctl, handoff.WORD, word, word + handoff.BACK):
                continue
            i = n - 1 - k
            claims[handoff.H_HOLDING] = 1
            _steps(posted_plan, posted_job, take, lo + i * size, min(hi, lo + (i + 1) * size), 0)
            claims[handoff.H_HOLDING] = 0
            claims[handoff.H_STEPPED] += 1
            atomics.fetch_add(ctl, handoff.DONE, 1)
            if atomics.load(ctl, handoff.WAITING) != 0:  # the caller sleeps: woken
                atomics.fetch_add(ctl, handoff.BELL, 1)
                atomics.futex_wake(ctl, handoff.BELL, 1 << 30)


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
    # Symbols a batch: with blocks, the last row of ``work`` is the gate's list.
    g = work.shape[0] if block == 1 else work.shape[0] - 1
    tmp = _kernel_scratch(scratch, block, commit)
    fires = block > 1 and fire_spec.shape[0] > 0
    n_fire = fire_spec.shape[0] // g  # the traders; fire_spec holds one block per row
    for a in range(lo, hi, g):
        if fires:
            reset(fire_spec)
        b = min(hi, a + g)
        rows = mem[a:b] if commit else scratch
        for r in range(b - a):
            if not commit:
                copy_row(mem[a + r], rows[r])
            work[r, _COUNT] = count[a + r]
        t0 = 0
        while t0 < bars.shape[1]:
            k, t1 = batch(bars, work, a, b, t0, block)
            items = work[:k]
            for j in range(op.shape[0] if k > 0 else 0):
                o = op[j]
                oj = roff[j]
                mj = rdep[j] - 1
                if o in (_SRC, _EXT):
                    copy_in(bars if o == _SRC else ext, int(prm[j, 0]), rows, items, oj, mj)
                elif o == _CONST:
                    fill(prm[j, 0], rows, items, oj, mj, block)
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
                        tmp,
                    )
            for w in range(k if fires else 0):
                r = items[w, _ROW]
                found = fire_block(
                    rows[r],
                    roff,
                    rdep,
                    fire_spec[r * n_fire : (r + 1) * n_fire],
                    ready,
                    bars,
                    fired,
                    values,
                    items[w, _SYM],
                    items[w, _FIRST],
                    items[w, _END],
                    work[w, _STEPS:],
                    found,
                )
            w = 0
            for r in range(b - a):
                # Item ``w`` is row ``r``'s (rows without a bar in the batch have none).
                has = w < k and items[w, _ROW] == r
                _gather_steps(
                    rows[r], roff, rdep, out_nodes, out, a + r, t0, t1, work, r, w, has, block
                )
                w += has
            t0 = t1
        for r in range(b - a if commit else 0):
            count[a + r] = work[r, _COUNT]
    return found


@njit(cache=True, nogil=True, inline="always")
def _gather_steps(row, roff, rdep, out_nodes, out, s, t0, t1, work, r, w, has, block):
    """Outputs of symbol ``s`` (``row``, row ``r`` of the batch) at steps ``t0..t1-1`` of a
    batch, its item ``w`` if it ``has`` one (bars in the batch): a block's steps see the
    bars up to theirs (which the rings still hold: :func:`kernels.columns.column_layout`),
    gathered a column at a time; without an item, each step sees the symbol's last bar."""
    if out_nodes.shape[1] == 0:
        return
    if block == 1 or not has:
        for t in range(t0, t1):
            _gather(row, roff, rdep, out_nodes, out, s, t, work[r, _COUNT])
        return
    c0, nb = work[w, _FIRST], work[w, _END] - work[w, _FIRST]
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
            held = work[work.shape[0] - 1]
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
                _gather_column(row, roff, rdep, out_nodes, out, s, t0, t1, work, w, i, c0, nb)
        j = e


@njit(cache=True, nogil=True, inline="always")
def _gather_column(row, roff, rdep, out_nodes, out, s, t0, t1, work, w, j, c0, nb):
    """Column ``j`` of a block's outputs (see :func:`_gather_steps`)."""
    n, g = out_nodes[0, j], out_nodes[1, j]
    off, mask = roff[n], rdep[n] - 1
    at = off + (c0 & mask)
    if g < 0 and nb == t1 - t0 and at + nb - 1 == off + ((c0 + nb - 1) & mask):
        # Every step has a bar, the block in place in the ring, no gate (other timeframes'
        # values, kept for the next timeframe): unsigned indices, no wraparound per value.
        for q in range(nb):
            out[unsigned(s), unsigned(t0 + q), unsigned(j)] = row[unsigned(at + q)]
        return
    if nb == t1 - t0:
        # Every step has a bar: step t0 + q sees bar c0 + q.
        for q in range(nb):
            if g < 0 or out[s, t0 + q, g] == 1.0:
                out[s, t0 + q, j] = row[off + ((c0 + q) & mask)]
        return
    i = 0
    for t in range(t0, t1):
        while i < nb and work[w, _STEPS + i] <= t:
            i += 1
        if g < 0 or out[s, t, g] == 1.0:
            c = c0 + i
            out[s, t, j] = row[off + ((c - 1) & mask)] if c > 0 else math.nan


@njit(cache=True, nogil=True, inline="always")
def _kernel_scratch(scratch, block, commit):
    """The kernels' scratch memory (:mod:`kernels.ind`): ``scratch``'s row when committing
    blocks (it is unused then: the rows stepped are ``mem``'s), else none."""
    return scratch[0] if block > 1 and commit else scratch[0, :0]
