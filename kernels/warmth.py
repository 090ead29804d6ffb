"""When a trader may fire in a backtest: enough history on every timeframe it reads.

The live screener fires a trader on a symbol only once it has stepped the bars the trader's
plan needs (:meth:`kernels.program.Program.warmup`) on its own timeframe and on every other
timeframe its ``on(...)`` reads; a backtest applies the same rule per symbol and step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kernels.bar_grid import B, BarGrid, common, seen_steps
from kernels.graph import I64, Layout
from kernels.program import Program


class Warmth:
    """Per symbol and step, whether a trader has enough history on every timeframe it reads.

    Args:
        program: the traders.
        grids: per timeframe, its symbols' bars (:class:`~kernels.bar_grid.BarGrid`).
        slot: per timeframe, each symbol's row.
        layouts: the program's layouts.
    """

    def __init__(
        self,
        program: Program,
        grids: Mapping[str, BarGrid],
        slot: Mapping[str, Mapping[str, int]],
        layouts: Mapping[str, Layout],
    ) -> None:
        self.program = program
        self.grids = grids
        self.slot = slot
        self.layouts = layouts
        self._counts: dict[str, I64] = {}
        self._needs: dict[str, dict[str, int]] = {}
        self._seen: dict[tuple[str, str], tuple[I64, I64, I64]] = {}

    def counts(self, tf: str) -> I64:
        """Bars of each symbol of ``tf`` up to each step (computed when first asked)."""
        if tf not in self._counts:
            self._counts[tf] = np.cumsum(self.grids[tf].present, axis=1, dtype=np.int64)
        return self._counts[tf]

    def needs(self, trader_id: str) -> dict[str, int]:
        """Bars of history each timeframe needs before the trader may fire."""
        if trader_id not in self._needs:
            self._needs[trader_id] = self.program.warmup(trader_id, self.layouts)
        return self._needs[trader_id]

    def own(self, trader_id: str) -> int:
        """Bars of its own timeframe the trader needs."""
        return self.needs(trader_id)[self.program.traders[trader_id].timeframe]

    def _seen_steps(self, tf: str, src_tf: str) -> tuple[I64, I64, I64]:
        """Per step of ``tf`` the step of ``src_tf`` its bar sees, and the rows of the
        symbols both have (computed once per pair of timeframes)."""
        if (tf, src_tf) not in self._seen:
            idx = seen_steps(self.grids[tf].times, tf, self.grids[src_tf].times, src_tf)
            self._seen[tf, src_tf] = (idx, *common(self.slot[tf], self.slot[src_tf]))
        return self._seen[tf, src_tf]

    def others(self, trader_id: str) -> B | None:
        """Per symbol and step: enough history on the other timeframes it reads (None when
        it reads none)."""
        needs = self.needs(trader_id)
        tf = self.program.traders[trader_id].timeframe
        if len(needs) == 1:
            return None
        ok: B = np.ones(self.counts(tf).shape, dtype=bool)
        for src_tf, need in needs.items():
            if src_tf == tf:
                continue
            idx, mine, theirs = self._seen_steps(tf, src_tf)
            lacking = np.ones(ok.shape[0], dtype=bool)
            lacking[mine] = False
            ok[lacking] = False
            counts = np.where(idx >= 0, self.counts(src_tf)[theirs][:, np.maximum(idx, 0)], 0)
            ok[mine] &= counts >= need
        return ok

    def ready(self, trader_id: str) -> I64 | None:
        """Per symbol: the first step from which it has enough history on the other
        timeframes the trader reads (the number of steps: never; None when it reads none).
        The same rule as :meth:`others`, which holds from a step on: bars only add up."""
        needs = self.needs(trader_id)
        tf = self.program.traders[trader_id].timeframe
        if len(needs) == 1:
            return None
        n_sym, n_t = self.grids[tf].n_symbols, len(self.grids[tf].times)
        first = np.zeros(n_sym, dtype=np.int64)
        for src_tf, need in needs.items():
            if src_tf == tf:
                continue
            idx, mine, theirs = self._seen_steps(tf, src_tf)
            lacking = np.ones(n_sym, dtype=bool)
            lacking[mine] = False
            first[lacking] = n_t
            if need <= 0:
                continue  # as others(): warm even before a bar of src_tf closes
            # The first step of src_tf with ``need`` bars, then the first step of tf that
            # sees it (idx only grows).
            src_first = self._first_with(src_tf, theirs, need)
            first[mine] = np.maximum(first[mine], np.searchsorted(idx, src_first, side="left"))
        return first

    def _first_with(self, tf: str, rows: I64, need: int) -> I64:
        """Per symbol of ``tf`` at ``rows``, the first step at which it has ``need`` >= 1
        bars (the number of steps: never). A symbol with a bar at every step has it at step
        ``need - 1``: only symbols with gaps are counted."""
        present = self.grids[tf].present[rows]
        n_t = present.shape[1]
        first = np.full(len(rows), need - 1 if need <= n_t else n_t, dtype=np.int64)
        gaps = np.flatnonzero(~present.all(axis=1))
        if len(gaps):
            warm = self.counts(tf)[rows[gaps]] >= need
            first[gaps] = np.where(warm.any(axis=1), warm.argmax(axis=1), n_t)
        return first

    def of(self, trader_id: str) -> B:
        """Per symbol and step of the trader's timeframe: warm enough to fire."""
        tf = self.program.traders[trader_id].timeframe
        ok: B = self.counts(tf) >= self.own(trader_id)
        others = self.others(trader_id)
        return ok if others is None else ok & others
