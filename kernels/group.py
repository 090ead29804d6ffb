"""The streaming state of one timeframe's plan for every symbol slot.

A :class:`GroupState` owns ``mem`` (every node's state and output ring per symbol) and runs the
interpreter over it: :meth:`GroupState.run` commits bars, :meth:`GroupState.peek` evaluates
without committing. :func:`migrate` carries state across a change of layout (a trader added or
removed): nodes present in both keep their state and history untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from kernels.graph import F64, I64, Graph, Layout, layout, spans
from kernels.interp import ALONE, NO_FIRES, outputs, run_nb, workspace
from kernels.ops import N_BAR_FIELDS


class GroupState:
    """Node memory of one timeframe for ``n_slots`` symbol slots."""

    def __init__(self, layout: Layout, n_slots: int, n_ext: int = 0) -> None:
        self.layout = layout
        self.n_ext = n_ext
        self.mem = np.full((n_slots, layout.width), np.nan)
        self._clear_state(slice(None))
        #: Bars stepped per slot.
        self.count = np.zeros(n_slots, dtype=np.int64)
        #: Open time of the last bar stepped per slot (-1: none).
        self.last_time = np.full(n_slots, -1, dtype=np.int64)

    @property
    def n_slots(self) -> int:
        """Symbol slots held."""
        return int(self.mem.shape[0])

    def _clear_state(self, rows: slice | int) -> None:
        self.mem[rows, spans(self.layout.soff, self.layout.ssize)] = 0.0

    def grow(self, n_slots: int) -> None:
        """Make room for at least ``n_slots`` slots (new slots start empty)."""
        old = self.n_slots
        if n_slots <= old:
            return
        mem = np.full((n_slots, self.layout.width), np.nan)
        mem[:old] = self.mem
        self.mem = mem
        self._clear_state(slice(old, n_slots))
        self.count = np.concatenate([self.count, np.zeros(n_slots - old, dtype=np.int64)])
        self.last_time = np.concatenate(
            [self.last_time, np.full(n_slots - old, -1, dtype=np.int64)]
        )

    def reset_slot(self, slot: int) -> None:
        """Forget everything stepped for ``slot`` (its symbol left or was replaced)."""
        self.mem[slot] = np.nan
        self._clear_state(slot)
        self.count[slot] = 0
        self.last_time[slot] = -1

    def run(
        self,
        bars: F64,
        *,
        lo: int = 0,
        hi: int | None = None,
        ext: F64 | None = None,
        out_nodes: I64 | None = None,
        commit: bool = True,
        block: int = 1,
    ) -> F64:
        """Step slots ``lo..hi-1`` through ``bars[hi-lo, n_t, 9]``; returns the gathered
        ``out[hi-lo, n_t, len(out_nodes)]``. Without ``commit`` nothing is changed.
        ``block`` > 1 (bars stepped per node at a time) only on a column layout
        (:func:`kernels.columns.column_layout`, its memory from
        :func:`kernels.columns.fresh_row`)."""
        hi = self.n_slots if hi is None else hi
        n_t = bars.shape[1]
        k = 0 if out_nodes is None else len(out_nodes)
        nodes = outputs(() if out_nodes is None else out_nodes)
        if ext is None:
            ext = np.zeros((hi - lo, n_t, max(self.n_ext, 1)))
        out = np.empty((hi - lo, n_t, k))
        lay = self.layout
        # The interpreter indexes symbols from 0: hand it views of the slot range.
        run_nb(
            *lay.program,
            self.mem[lo:hi],
            self.count[lo:hi],
            bars,
            ext,
            0,
            hi - lo,
            commit,
            nodes,
            out,
            *workspace(lay.width, hi - lo, commit, block),
            *NO_FIRES,
            ALONE,
        )
        if commit:
            times = bars[:, -1, N_BAR_FIELDS - 1]
            self.last_time[lo:hi] = np.where(np.isnan(times), self.last_time[lo:hi], times)
        return out

    def value(self, node: int, slots: I64 | slice | None = None, lag: int = 0) -> F64:
        """Committed output of ``node`` ``lag`` bars ago for ``slots`` (NaN where absent)."""
        sel = slice(None) if slots is None else slots
        lay = self.layout
        count = self.count[sel]
        idx = lay.roff[node] + (count - 1 - lag) % lay.rdep[node]
        rows = np.arange(self.n_slots)[sel]
        vals = self.mem[rows, idx]
        return np.where((count - 1 - lag >= 0) & (lag < lay.rdep[node]), vals, np.nan)

    def values(self, nodes: I64) -> F64:
        """Committed outputs of several ``nodes`` for every slot: ``float64[n_slots, k]``
        (NaN for slots that have stepped nothing)."""
        lay = self.layout
        last = (self.count - 1)[:, None]
        idx = lay.roff[nodes][None, :] + (last & (lay.rdep[nodes] - 1)[None, :])
        vals: F64 = self.mem[np.arange(self.n_slots)[:, None], idx]
        vals[self.count == 0] = np.nan
        return vals


@functools.cache
def load_interpreter() -> None:
    """Step a one-node plan once, so numba loads the interpreter's machine code (from its cache;
    a second or two) now rather than at the first real step, which may be on the clock (bars
    waiting to be screened). Once per process."""
    graph = Graph()
    graph.const(0.0)
    GroupState(layout(graph), 1).run(np.full((1, 1, N_BAR_FIELDS), np.nan))


def migrate(
    old: GroupState,
    old_signatures: Sequence[object],
    new_layout: Layout,
    new_signatures: Sequence[object],
    n_ext: int,
) -> tuple[GroupState, list[int]]:
    """A state for ``new_layout`` carrying over every node ``old`` has.

    Nodes are matched by their structural signatures (stable when graphs are rebuilt).
    Returns the new state and the ids (in ``new_layout``) of nodes that need warming from
    history: new nodes, and old ones whose ring must now be deeper than it was. The copy is
    one gather of whole blocks for nodes whose ring depth is unchanged (a bar sits in the same
    slot of a ring of the same depth) and one per node whose ring depth changed.
    """
    new = GroupState(new_layout, old.n_slots, n_ext)
    new.count[:] = old.count
    new.last_time[:] = old.last_time
    old_index = {sig: i for i, sig in enumerate(old_signatures)}
    lay, olay = new_layout, old.layout
    was = np.fromiter((old_index.get(sig, -1) for sig in new_signatures), np.int64, lay.n_nodes)
    kept = np.nonzero(was >= 0)[0]
    old_ids = was[kept]
    d_old, d_new = olay.rdep[old_ids], lay.rdep[kept]
    # The state block, and the ring right after it when it keeps its depth: one gather.
    size = lay.ssize[kept] + np.where(d_old == d_new, d_new, 0)
    if len(kept):
        dst, src = spans(lay.soff[kept], size), spans(olay.soff[old_ids], size)
        new.mem[:, dst] = old.mem[:, src]
    for k in np.nonzero(d_old != d_new)[0].tolist():
        i, j = old_ids[k : k + 1], kept[k : k + 1]
        copy_rings(old, i, new, j, int(min(d_old[k], d_new[k])))
    deeper = np.zeros(lay.n_nodes, dtype=bool)
    deeper[kept] = d_new > d_old
    return new, np.nonzero((was < 0) | deeper)[0].tolist()


def copy_rings(
    source: GroupState,
    src_nodes: I64,
    target: GroupState,
    dst_nodes: I64,
    lags: int,
    rows: I64 | None = None,
    source_rows: I64 | None = None,
) -> None:
    """Copy the newest ``lags`` outputs of nodes ``src_nodes`` of ``source`` into the rings of
    ``dst_nodes`` of ``target``, each symbol's newest bar onto its newest (target ``rows`` from
    ``source_rows``, every slot by default; values a symbol has not stepped are left alone).
    The ``src_nodes`` share one ring depth, and so do the ``dst_nodes``."""
    rows = np.arange(target.n_slots) if rows is None else rows
    source_rows = rows if source_rows is None else source_rows
    s_lay, t_lay = source.layout, target.layout
    s_mask = int(s_lay.rdep[src_nodes[0]]) - 1
    t_mask = int(t_lay.rdep[dst_nodes[0]]) - 1
    back = np.arange(lags)[None, :]
    pos_from = source.count[source_rows][:, None] - 1 - back
    pos_to = target.count[rows][:, None] - 1 - back
    valid = (pos_from >= 0) & (pos_to >= 0)
    # [symbol, node, lag]
    col_from = s_lay.roff[src_nodes][None, :, None] + (pos_from & s_mask)[:, None, :]
    col_to = t_lay.roff[dst_nodes][None, :, None] + (pos_to & t_mask)[:, None, :]
    shape = col_from.shape
    keep = np.broadcast_to(valid[:, None, :], shape)
    row_from = np.broadcast_to(source_rows[:, None, None], shape)[keep]
    row_to = np.broadcast_to(rows[:, None, None], shape)[keep]
    target.mem[row_to, col_to[keep]] = source.mem[row_from, col_from[keep]]
