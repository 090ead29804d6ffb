"""The outcomes that moved at a step, as one batch (:class:`Reports`), and one of them
(:class:`OutcomeUpdate`).

A batch keeps who each signal is and a copy of its tracker state row
(:data:`~kernels.outcomes.COLUMNS`); the daemon builds a close's store rows
(:meth:`Reports.rows`), browser messages' items (:meth:`Reports.message_datas`) and the rows of
the complete ones' records (:meth:`Reports.completed`) from those arrays in one pass each,
without an :class:`~kernels.outcomes.Outcome` per signal. Read as a sequence, a batch gives
each signal's :class:`OutcomeUpdate`, its outcome read from the same state row: its
:meth:`~OutcomeUpdate.to_row` and :meth:`~OutcomeUpdate.message_data` are exactly the batch's
rows and items (the same keys in the same order, the same values to the bit).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, overload

import attrs
import numpy as np

from kernels.graph import F64
from kernels.outcomes import (
    DIRECTION,
    ENTRY,
    HORIZON,
    HORIZONS,
    N_COLUMNS,
    R0,
    SEEN,
    STOP_LEVEL,
    TARGET_LEVEL,
    TOUCH,
    TOUCH_BAR,
    TOUCH_NAMES,
    Outcome,
    excursions,
    trade_returns,
)
from kernels.track_record import Rows, outcome_rows

#: The row's forward return columns, in the order of :data:`HORIZONS`.
RETURN_COLUMNS = tuple(f"return_{h}" for h in HORIZONS)
_RETURN_KEYS = tuple(str(h) for h in HORIZONS)


class Subject(Protocol):
    """Who a signal is (an open signal's :class:`~vyx.outcomes.live.Followed`)."""

    @property
    def signal_id(self) -> str: ...
    @property
    def trader_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def interval(self) -> str: ...
    @property
    def bar_open_time(self) -> int: ...


@attrs.frozen
class OutcomeUpdate:
    """An outcome that moved: what is stored and pushed."""

    signal_id: str
    trader_id: str
    user_id: str
    symbol: str
    interval: str
    bar_open_time: int
    outcome: Outcome

    def to_row(self, now_ms: int) -> dict[str, Any]:
        """The ``signal_outcomes`` row."""
        o = self.outcome
        return {
            "signal_id": self.signal_id,
            "trader_id": self.trader_id,
            "user_id": self.user_id,
            "symbol": self.symbol,
            "interval": self.interval,
            "bar_open_time": self.bar_open_time,
            "direction": o.direction,
            "entry": o.entry,
            "stop_level": o.stop,
            "target_level": o.target,
            "levels": o.levels,
            "bars": o.bars,
            "complete": o.complete,
            **dict(zip(RETURN_COLUMNS, o.returns, strict=True)),
            "mfe": o.mfe,
            "mae": o.mae,
            "touch": o.touch,
            "touch_bar": o.touch_bar,
            "trade_return": o.trade_return,
            "updated_at": now_ms,
        }

    def message_data(self, record: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of its browser's ``signal_outcome`` (docs/protocol.md), an item of
        ``signal_outcomes``."""
        data: dict[str, Any] = {
            "signalId": self.signal_id,
            "traderId": self.trader_id,
            "symbol": self.symbol,
            "interval": self.interval,
            "barOpenTime": self.bar_open_time,
            **self.outcome.to_json(),
        }
        if record is not None:
            data["record"] = dict(record)
        return data


@attrs.frozen
class _Values:
    """A batch's values as Python objects, column by column (None where unknown)."""

    direction: list[str]
    entry: list[float]
    stop: list[float | None]
    target: list[float | None]
    bars: list[int]
    complete: list[bool]
    returns: list[list[float | None]]
    mfe: list[float | None]
    mae: list[float | None]
    touch: list[str]
    touch_bar: list[int | None]
    trade: list[float | None]


def _values(block: F64) -> _Values:
    """What each :class:`Outcome` of ``block``'s state rows holds (the arithmetic of
    :meth:`Outcome.from_states` and :attr:`Outcome.trade_return`), NaN read as None where
    they read it so, for all rows at once."""
    mfe, mae = excursions(block)
    trade, trade_known = trade_returns(block)
    n_h = len(HORIZONS)
    floats = np.empty((len(block), n_h + 6))
    floats[:, :n_h] = block[:, R0 : R0 + n_h]
    floats[:, n_h:] = np.stack(
        [block[:, STOP_LEVEL], block[:, TARGET_LEVEL], mfe, mae, trade, block[:, ENTRY]], axis=1
    )
    unknown = np.isnan(floats)
    unknown[:, n_h + 4] = ~trade_known
    unknown[:, n_h + 5] = False  # the entry is read as it is
    cells = floats.astype(object)
    cells[unknown] = None
    columns = cells.T.tolist()
    seen = block[:, SEEN].astype(np.int64)
    touch = block[:, TOUCH].astype(np.int64)
    touch_bar = np.where(touch != 0, block[:, TOUCH_BAR], 0).astype(np.int64).tolist()
    return _Values(
        np.where(block[:, DIRECTION] > 0, "long", "short").tolist(),
        columns[n_h + 5],
        columns[n_h],
        columns[n_h + 1],
        seen.tolist(),
        (seen >= HORIZON).tolist(),
        cells[:, :n_h].tolist(),
        columns[n_h + 2],
        columns[n_h + 3],
        [TOUCH_NAMES[t] for t in touch.tolist()],
        [b if t else None for b, t in zip(touch_bar, touch.tolist(), strict=True)],
        columns[n_h + 4],
    )


class Reports(Sequence[OutcomeUpdate]):
    """Updates of outcomes that moved (module docstring): ``who[i]``'s outcome is read from
    ``block[i]`` (a copy of its tracker state row) with levels of source ``levels[i]``."""

    __slots__ = ("_items", "_values", "block", "levels", "who")

    def __init__(self, who: Sequence[Subject], block: F64, levels: Sequence[str]) -> None:
        self.who = list(who)
        self.block = block
        self.levels = list(levels)
        self._items: list[OutcomeUpdate] | None = None
        self._values: _Values | None = None

    @classmethod
    def empty(cls) -> Reports:
        """No update."""
        return cls([], np.empty((0, N_COLUMNS)), [])

    @classmethod
    def concat(cls, parts: Sequence[Reports]) -> Reports:
        """``parts``' updates, in order."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        return cls(
            [w for p in parts for w in p.who],
            np.concatenate([p.block for p in parts]),
            [s for p in parts for s in p.levels],
        )

    # -- the batch, as arrays -------------------------------------------------------------------

    def _items_of(self) -> Iterator[tuple[Any, ...]]:
        """Per update: who, its levels' source, then :class:`_Values`' fields in order."""
        if self._values is None:
            self._values = _values(self.block)
        return zip(self.who, self.levels, *attrs.astuple(self._values, recurse=False), strict=True)

    def rows(self, now_ms: int) -> list[dict[str, Any]]:
        """Each update's ``signal_outcomes`` row (:meth:`OutcomeUpdate.to_row`)."""
        found = []
        for w, levels, d, e, s, t, b, c, r, mfe, mae, touch, bar, trade in self._items_of():
            row: dict[str, Any] = {
                "signal_id": w.signal_id,
                "trader_id": w.trader_id,
                "user_id": w.user_id,
                "symbol": w.symbol,
                "interval": w.interval,
                "bar_open_time": w.bar_open_time,
                "direction": d,
                "entry": e,
                "stop_level": s,
                "target_level": t,
                "levels": levels,
                "bars": b,
                "complete": c,
            }
            row.update(zip(RETURN_COLUMNS, r, strict=True))
            row["mfe"] = mfe
            row["mae"] = mae
            row["touch"] = touch
            row["touch_bar"] = bar
            row["trade_return"] = trade
            row["updated_at"] = now_ms
            found.append(row)
        return found

    def message_datas(self, records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The items of the browsers' ``signal_outcomes`` (:meth:`OutcomeUpdate.message_data`)
        of the updates after at least one bar (one just followed is news only to the store),
        a complete one's with its trader's record from ``records``."""
        found = []
        for w, levels, d, e, s, t, b, c, r, mfe, mae, touch, bar, trade in self._items_of():
            if not b:
                continue
            data: dict[str, Any] = {
                "signalId": w.signal_id,
                "traderId": w.trader_id,
                "symbol": w.symbol,
                "interval": w.interval,
                "barOpenTime": w.bar_open_time,
                "direction": d,
                "entry": e,
                "stop": s,
                "target": t,
                "levels": levels,
                "bars": b,
                "complete": c,
                "returns": dict(zip(_RETURN_KEYS, r, strict=True)),
                "mfe": mfe,
                "mae": mae,
                "touch": touch,
                "touchBar": bar,
                "tradeReturn": trade,
            }
            if c:
                data["record"] = dict(records[w.trader_id])
            found.append(data)
        return found

    def completed(self) -> tuple[list[str], list[int], Rows]:
        """The complete updates' traders, signal bars' open times and
        :func:`~kernels.track_record.outcome_row` (as :func:`outcome_rows`), in order."""
        done = np.flatnonzero(self.block[:, SEEN] >= HORIZON)
        who = [self.who[i] for i in done.tolist()]
        return (
            [w.trader_id for w in who],
            [w.bar_open_time for w in who],
            outcome_rows(self.block[done]),
        )

    # -- the batch, as a sequence of updates ----------------------------------------------------

    def _updates(self) -> list[OutcomeUpdate]:
        if self._items is None:
            self._items = [
                OutcomeUpdate(
                    w.signal_id, w.trader_id, w.user_id, w.symbol, w.interval, w.bar_open_time, o
                )
                for w, o in zip(self.who, Outcome.from_states(self.block, self.levels), strict=True)
            ]
        return self._items

    def __len__(self) -> int:
        return len(self.who)

    @overload
    def __getitem__(self, i: int) -> OutcomeUpdate: ...
    @overload
    def __getitem__(self, i: slice) -> list[OutcomeUpdate]: ...
    def __getitem__(self, i: int | slice) -> OutcomeUpdate | list[OutcomeUpdate]:
        return self._updates()[i]

    def __iter__(self) -> Iterator[OutcomeUpdate]:
        return iter(self._updates())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return self._updates() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a batch compares by its updates

    # A batch is a sequence of updates too: with another batch, one batch.
    @overload
    def __add__(self, other: Reports) -> Reports: ...  # type: ignore[overload-overlap]
    @overload
    def __add__(self, other: Sequence[OutcomeUpdate]) -> list[OutcomeUpdate]: ...
    def __add__(self, other: Sequence[OutcomeUpdate]) -> Reports | list[OutcomeUpdate]:
        """Another batch: one batch; other updates: a list of them."""
        if isinstance(other, Reports):
            return Reports.concat([self, other])
        return [*self, *other]

    def __radd__(self, other: Sequence[OutcomeUpdate]) -> list[OutcomeUpdate]:
        return [*other, *self]

    def __repr__(self) -> str:
        return f"Reports({self._updates()!r})"
