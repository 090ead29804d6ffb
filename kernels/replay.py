"""Warming new nodes from a ring's history in one compiled call (:func:`replay_nb`).

A trader installed at run time warms its new nodes in a worker thread
(:mod:`kernels.staging`) while the event loop's thread runs. Each time a worker lets go of
the GIL for long (a NumPy operation on a large array, an interpreter call) it then waits for
the loop's thread to let go in turn: up to the switch interval (5 ms) when that thread is busy.
Here one call per ring block of symbols does all of a warm-up that touches bars: it copies each
symbol's bars from the ring into a chunk buffer, gathers the other timeframes' values each bar
sees, steps the chunk through the plan in column mode with the interpreter (symbol by symbol:
their steps are independent), and copies the warmed nodes into the target state's row; the GIL
is released once for all of it.

Array contract of :func:`replay_nb`:

- ``plan``: the *column layout* (:func:`kernels.columns.column_layout`) of the plan stepped,
  as :attr:`kernels.graph.Layout.program`; ``fresh``: float64[width] the memory of a symbol
  that has stepped nothing on it (:func:`kernels.columns.fresh_row`);
- ``data`` float64[8, rows, 2 * capacity] and ``times`` int64[rows, 2 * capacity]: one block of
  a ring (:meth:`kernels.ring.RingBuffer.blocks`);
- ``syms`` int64[k, 5]: per symbol its row in the block, the end of its window in that row,
  the bars it holds, the open time of the last bar to step (the bars up to it are stepped)
  and its slot in the target state;
- ``sources`` float64[k, n]: per symbol, the rings of the other timeframes' nodes read (a ring
  of ``depth`` values per node, each node's at its offset), ``seen`` int64[k, 2 * groups]: per
  symbol and group, the open time of the last bar that timeframe stepped and its count;
  ``groups`` int64[groups, 5]: per group (a timeframe and a ring depth) its length in ms, the
  open time of one of its bars (they open at multiples of the length from it), the depth, and
  its first and end row of ``cols``;
  ``cols`` int64[n_cols, 2]: the ext column (``EXT``'s parameter) and the offset in
  ``sources`` of each value read; ``tf_ms``: the stepped timeframe's length;
- ``graft`` int64[g, 7]: per node copied into the target, its state offset, ring offset and
  ring depth in ``plan``, then its state offset, state size, ring offset and ring depth in the
  target; ``whole``: the symbols had stepped nothing (their count and last open time are set
  too, and their rows must be NaN: the ring values not copied stay so) rather than having
  stepped the bars the new nodes are warmed through;
- ``target``: the target state's ``(mem, count, last_time)``;
- ``job``: :func:`kernels.interp.run_nb`'s arrays for one symbol: ``(mem[1, width],
  count[1], bars[1, chunk, 9], ext[1, chunk, max(1, n_ext)], out_nodes[2, 0],
  out[1, chunk, 0], scratch, work)`` (``scratch`` and ``work`` from
  :func:`kernels.interp.workspace` with a block; ``ext`` NaN: the columns no group writes are
  never written).

The values are those stepping the bars one at a time gives, bit for bit: the interpreter
computes them; this only copies bars and values to where it reads them, and its results to
where the target keeps them (the other timeframes' values each bar sees as
:func:`kernels.staging.ext_values` finds them; each ring's newest values onto the target's
newest, as :func:`kernels.group.copy_rings` copies them).

The interpreter is called through its address (:func:`ready` gives it; until then a call
raises ``RuntimeError``), not linked: its code is not compiled again in this unit, which
compiles on its own beside the others (:mod:`kernels.precompile`).
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from kernels.interp import INTERP_SIGNATURE, run_nb
from kernels.jit import entry
from kernels.ops import N_BAR_FIELDS, OPEN_TIME

#: The symbol the compiled replay knows the interpreter's address by.
SYMBOL = "vyx_kernel_interpreter"

_ADDRESS = (ctypes.c_uint64 * 1)()
binding.add_symbol(SYMBOL, ctypes.addressof(_ADDRESS))
_unliteral: Any = types.unliteral
_if_unlikely: Any = cgutils.if_unlikely

#: Columns of ``syms``.
_ROW, _END, _HELD, _UNTIL, _SLOT = range(5)


def ready() -> None:
    """Give the compiled replay the interpreter's address (loaded from numba's cache, or
    compiled). Idempotent; call it before :func:`replay_nb`."""
    if not _ADDRESS[0]:
        run_nb.compile(INTERP_SIGNATURE)
        compiled = run_nb.overloads[INTERP_SIGNATURE]
        _ADDRESS[0] = compiled.library.get_pointer_to_function(compiled.fndesc.llvm_func_name)


@intrinsic(prefer_literal=False)
def _call_interpreter(typingctx, plan, job, take):
    """``run_nb(*plan, *job, *take)`` through its address; returns the fires it found."""
    parts = (plan, job, take)
    if not all(isinstance(p, types.BaseTuple) for p in parts):
        raise errors.TypingError("call_interpreter takes three tuples")
    flat = tuple(_unliteral(t) for p in parts for t in p.types)
    if flat != INTERP_SIGNATURE:
        raise errors.TypingError(f"call_interpreter{flat} is not run_nb's signature")

    def codegen(context, builder, signature, llargs):
        values = [
            builder.extract_value(value, i)
            for kind, value in zip(signature.args, llargs, strict=True)
            for i in range(len(kind.types))
        ]
        try:
            table = builder.module.get_global(SYMBOL)
        except KeyError:
            table = ir.GlobalVariable(builder.module, ir.ArrayType(ir.IntType(64), 1), SYMBOL)
            table.linkage = "external"
        zero = ir.Constant(ir.IntType(64), 0)
        address = builder.load(builder.gep(table, [zero, zero]))
        with _if_unlikely(builder, builder.icmp_unsigned("==", address, zero)):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("the interpreter is not loaded",)
            )
        fnty = context.call_conv.get_function_type(types.int64, INTERP_SIGNATURE)
        callee = builder.inttoptr(address, fnty.as_pointer())
        status, found = context.call_conv.call_function(
            builder, callee, types.int64, INTERP_SIGNATURE, values
        )
        with _if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return found

    return types.int64(plan, job, take), codegen


#: :func:`_call_interpreter` (untyped for mypy: numba's intrinsic takes the typing context).
call_interpreter: Any = _call_interpreter


@entry
def replay_nb(
    plan,
    fresh,
    data,
    times,
    syms,
    sources,
    seen,
    groups,
    cols,
    tf_ms,
    graft,
    whole,
    target,
    job,
):
    """Step each symbol of ``syms`` from a fresh state through its bars and copy the nodes
    of ``graft`` into its target row (see the module docstring)."""
    mem, count, bars, ext, out_nodes, out, scratch, work = job
    # No fires, every symbol stepped by this call (empty views of the right types).
    take = (work[:0], work[:0], work[:0], mem[:0], count[:0])
    t_mem, t_count, t_last = target
    row, steps, values = mem[0], bars[0], ext[0]
    chunk = steps.shape[0]
    for i in range(syms.shape[0]):
        sym = syms[i]
        r, end, slot = sym[_ROW], sym[_END], sym[_SLOT]
        at, seen_at, held, src = times[r], seen[i], t_mem[slot], sources[i]
        start = end - sym[_HELD]
        stop = end  # the bars up to ``until`` (open times ascend)
        while stop > start and at[stop - 1] > sym[_UNTIL]:
            stop -= 1
        for x in range(fresh.shape[0]):
            row[x] = fresh[x]
        count[0] = 0
        for a in range(start, stop, chunk):
            n = min(stop - a, chunk)
            for q in range(chunk):
                steps[q, OPEN_TIME] = at[a + q] if q < n else math.nan  # NaN: no bar
                for f in range(N_BAR_FIELDS - 1 if q < n else 0):
                    steps[q, f] = data[f, r, a + q]
                # Each group's value at its last bar closed by the bar's close (the lag
                # clipped to its ring's depth, NaN before its first bar).
                close = at[a + q] + tf_ms
                for g in range(groups.shape[0] if q < n else 0):
                    group = groups[g]
                    length, anchor, depth = group[0], group[1], group[2]
                    wanted = (close - anchor) // length * length + anchor - length
                    lag = (seen_at[2 * g] - wanted) // length
                    pos = seen_at[2 * g + 1] - 1 - max(0, min(lag, depth - 1))
                    for c in range(group[3], group[4]):
                        value = src[cols[c, 1] + (pos & (depth - 1))]
                        values[q, cols[c, 0]] = value if pos >= 0 else math.nan
            call_interpreter(
                plan, (mem, count, bars, ext, 0, 1, True, out_nodes, out, scratch, work), take
            )
        # The nodes of ``graft`` into the target row: state blocks, and each ring's newest
        # values onto the target's newest, as many as both have (``whole``: the target's
        # count and last open time become the symbol's; its rings are NaN).
        if whole:
            t_count[slot] = count[0]
            t_last[slot] = at[stop - 1] if stop > start else t_last[slot]
        both = min(count[0], t_count[slot])
        for j in range(graft.shape[0]):
            node = graft[j]
            c_roff, c_depth, roff, depth = node[1], node[2], node[5], node[6]
            for x in range(node[4]):
                held[node[3] + x] = row[node[0] + x]
            for lag in range(min(depth, both)):
                held[roff + ((t_count[slot] - 1 - lag) & (depth - 1))] = row[
                    c_roff + ((count[0] - 1 - lag) & (c_depth - 1))
                ]
