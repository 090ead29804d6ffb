"""Signals: what a trader's filter produced for a symbol at a closed (or forming) bar.

A signal's id is deterministic — a UUIDv5 of (trader, symbol, timeframe, bar open time) — so a
retried write, a replay after a restart or a second screen of the same bar never duplicates it.
Field names follow the ``signals`` table and the browser's ``signal_created`` message
(CONTRACTS.md).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

#: Namespace of signal ids (fixed forever: changing it would duplicate every stored signal).
SIGNAL_NAMESPACE = uuid.UUID("6f1c9a52-3b7e-5d0a-9c1e-2a4b8d7e0f31")


_NAMESPACE_BYTES = SIGNAL_NAMESPACE.bytes
#: The SHA-1 state after the namespace: each id copies it and hashes its name alone.
_NAMESPACE_SHA1 = hashlib.sha1(_NAMESPACE_BYTES)

#: The RFC 4122 variant's hex digit (``10xx``) for each hex digit of the hash at its place.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def signal_id(trader_id: str, symbol: str, interval: str, open_time_ms: int) -> str:
    """The deterministic id of the signal of ``trader_id`` on ``symbol`` at that bar.

    ``str(uuid.uuid5(SIGNAL_NAMESPACE, name))``, computed without the UUID object (a close
    creates dozens of these on the way to the browser): the SHA-1's first 32 hex digits, the
    version digit set to 5 and the variant's bits into the 17th.
    """
    h = _NAMESPACE_SHA1.copy()
    h.update(f"{trader_id}|{symbol}|{interval}|{open_time_ms}".encode())
    x = h.hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


@attrs.frozen
class Signal:
    """One signal. ``indicator_data`` is the "why it fired": per clause, whether it held and
    the values of its operands at the signal bar."""

    id: str
    trader_id: str
    user_id: str
    symbol: str
    interval: str
    #: Close of the signal bar.
    price: float
    #: Open time of the signal bar, epoch ms.
    bar_open_time: int
    #: Labels of the clauses that held.
    matched_conditions: tuple[str, ...]
    indicator_data: Mapping[str, Any]
    #: Epoch ms when the signal was created.
    created_at: int
    #: True for an intrabar (forming-bar) signal not yet confirmed at the close.
    provisional: bool = False
    status: str = "new"
    source: str = "cloud"
    machine_id: str | None = None
    #: Its alert was muted when it was made (the user's mutes or the trader's own): no alert
    #: left for it. What the dashboard marks, whatever the mutes are later.
    alert_muted: bool = False

    def to_row(self) -> dict[str, Any]:
        """The ``signals`` table row (snake_case columns of CONTRACTS.md)."""
        return {
            "id": self.id,
            "trader_id": self.trader_id,
            "user_id": self.user_id,
            "symbol": self.symbol,
            "interval": self.interval,
            "price": self.price,
            "matched_conditions": list(self.matched_conditions),
            "indicator_data": dict(self.indicator_data),
            "status": self.status,
            "source": self.source,
            "machine_id": self.machine_id,
            "created_at": self.created_at,
            # The signal's bar (its candle's open time): the history places it there.
            "bar_open_time": self.bar_open_time,
            "alert_muted": self.alert_muted,
        }

    def to_message(self) -> dict[str, Any]:
        """The browser's ``signal_created`` message (CONTRACTS.md)."""
        return {"type": "signal_created", "data": self.message_data()}

    def message_data(self) -> dict[str, Any]:
        """The ``data`` of its ``signal_created`` (an element of ``signals_created``)."""
        return {
            "signalId": self.id,
            "traderId": self.trader_id,
            "symbol": self.symbol,
            "interval": self.interval,
            "price": self.price,
            "matchedConditions": list(self.matched_conditions),
            "indicatorData": dict(self.indicator_data),
            "provisional": self.provisional,
            "barOpenTime": self.bar_open_time,
            "createdAt": self.created_at,
            "muted": self.alert_muted,
        }
