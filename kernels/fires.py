"""What a backtest fired: :class:`Fire`, and :class:`Fires`, the time-ordered sequence of them.

A backtest over months can fire hundreds of thousands of times; :class:`Fires` keeps them as
arrays (which trader, which symbol, which bar) and builds a :class:`Fire` only when one is
looked at, so a backtest's cost is the stepping, not the Python objects of its result.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import overload

import attrs
import numpy as np

from kernels.graph import F64, I64
from kernels.program import TraderPlan


@attrs.frozen
class Fire:
    """One signal a trader would have produced.

    The "why it fired" (``matched``, ``clauses``) is read from the values kept with the fire
    when first asked for.
    """

    trader_id: str
    symbol: str
    timeframe: str
    open_time: int
    price: float
    _plan: TraderPlan = attrs.field(repr=False, eq=False)
    _row: F64 = attrs.field(repr=False, eq=False)
    _col: Mapping[int, int] = attrs.field(repr=False, eq=False)

    @functools.cached_property
    def _explained(self) -> tuple[tuple[str, ...], Mapping[str, Mapping[str, object]]]:
        return self._plan.explain(self._row.tolist(), self._col)

    @property
    def clauses(self) -> Mapping[str, Mapping[str, object]]:
        """clause label -> ``{"held": bool, "values": {operand label: value}}``
        (:meth:`TraderPlan.explain <kernels.program.TraderPlan.explain>`, as live)."""
        return self._explained[1]

    @property
    def matched(self) -> tuple[str, ...]:
        """Labels of the clauses that held."""
        return self._explained[0]


@attrs.frozen
class TimeframeFires:
    """The fires of one timeframe's traders: what a :class:`Fire` is built from."""

    timeframe: str
    plans: Sequence[TraderPlan]
    symbols: Sequence[str]
    times: I64
    #: Per fire (rows as below): the close of its bar.
    price: F64
    #: Per fire (rows as below): the values its explanation reads.
    values: F64
    #: Per trader (as ``plans``): each node's column in its fires' ``values``.
    cols: Sequence[Mapping[int, int]]
    #: Per fire: index into ``plans``, symbol index (row of ``bars``), step (column).
    trader: I64
    symbol: I64
    step: I64
    #: Per fire: its row of ``price`` and ``values`` (None: the same as its index), so a
    #: backtest orders its fires without moving their values.
    row: I64 | None = None


@attrs.frozen
class FireKeys:
    """Per fire, in the order of :class:`Fires`: the trader id, symbol, timeframe and the open
    time of the signal bar."""

    trader: list[str]
    symbol: list[str]
    timeframe: list[str]
    open_time: I64


class Fires(Sequence[Fire]):
    """Fires of every timeframe, ordered by (open time, trader id, symbol); each part's fires
    come in that order already."""

    def __init__(self, parts: Sequence[TimeframeFires]) -> None:
        parts = [p for p in parts if len(p.step)]
        self._parts = parts
        self._len = sum(len(p.step) for p in parts)
        #: Per fire in order, its part and its index there (None with one part: part 0,
        #: its own index).
        self._at: tuple[I64, I64] | None = None
        if len(parts) > 1:
            part = _joined([np.full(len(p.step), i, dtype=np.int64) for i, p in enumerate(parts)])
            index = _joined([np.arange(len(p.step), dtype=np.int64) for p in parts])
            # Sort keys as ranks: ids and symbols ranked once, then looked up per fire.
            ids = sorted({pl.id for p in parts for pl in p.plans})
            names = sorted({s for p in parts for s in p.symbols})
            id_rank = {v: i for i, v in enumerate(ids)}
            name_rank = {v: i for i, v in enumerate(names)}
            opened = _joined([p.times[p.step] for p in parts])
            trader = _joined([_lookup([id_rank[pl.id] for pl in p.plans], p.trader) for p in parts])
            symbol = _joined([_lookup([name_rank[s] for s in p.symbols], p.symbol) for p in parts])
            order = np.lexsort((symbol, trader, opened))
            self._at = (part[order], index[order])

    def _where(self, k: int) -> tuple[TimeframeFires, int]:
        """The part of fire ``k`` (in order) and its index there."""
        if self._at is None:
            return self._parts[0], k
        return self._parts[int(self._at[0][k])], int(self._at[1][k])

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> Fire: ...

    @overload
    def __getitem__(self, i: slice) -> list[Fire]: ...

    def __getitem__(self, i: int | slice) -> Fire | list[Fire]:
        if isinstance(i, slice):
            return [self._fire(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("fire index out of range")
        return self._fire(i)

    def __iter__(self) -> Iterator[Fire]:
        return (self._fire(k) for k in range(len(self)))

    def _fire(self, k: int) -> Fire:
        p, i = self._where(k)
        trader = int(p.trader[i])
        plan = p.plans[trader]
        s, t = int(p.symbol[i]), int(p.step[i])
        r = i if p.row is None else int(p.row[i])
        return Fire(
            plan.id,
            p.symbols[s],
            p.timeframe,
            int(p.times[t]),
            float(p.price[r]),
            plan,
            p.values[r],
            p.cols[trader],
        )

    def keys(self) -> FireKeys:
        """Who fired where and when, for every fire in order, without building the fires."""
        trader: list[str] = []
        symbol: list[str] = []
        timeframe: list[str] = []
        for k in range(len(self)):
            p, i = self._where(k)
            trader.append(p.plans[int(p.trader[i])].id)
            symbol.append(p.symbols[int(p.symbol[i])])
            timeframe.append(p.timeframe)
        opened = _joined([p.times[p.step] for p in self._parts])
        starts = np.cumsum([0, *(len(p.step) for p in self._parts)])[:-1].astype(np.int64)
        if self._at is None:
            at = np.arange(len(self), dtype=np.int64)
        else:
            at = starts[self._at[0]] + self._at[1]
        return FireKeys(trader, symbol, timeframe, opened[at])

    def counts(self) -> dict[tuple[str, str], int]:
        """Fires per (trader id, symbol)."""
        found: dict[tuple[str, str], int] = {}
        for p in self._parts:
            # Each (trader, symbol) pair as one index, counted in one pass (a unique over
            # pairs of columns sorts them as records: ~50 ms for the reference workload).
            n_sym = len(p.symbols)
            n = np.bincount(p.trader * n_sym + p.symbol, minlength=len(p.plans) * n_sym)
            pairs = np.flatnonzero(n)
            for pair, k in zip(pairs.tolist(), n[pairs].tolist(), strict=True):
                key = (p.plans[pair // n_sym].id, p.symbols[pair % n_sym])
                found[key] = found.get(key, 0) + k
        return found


def _joined(arrays: list[I64]) -> I64:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


def _lookup(table: list[int], at: I64) -> I64:
    found: I64 = np.asarray(table, dtype=np.int64)[at]
    return found
