"""Signal history for the browser: pages of stored signals beyond the in-memory window.

``signal_history {after?: {createdAt, id}, traderId?, symbol?, limit?}`` is answered with
``signal_history_result {signals, more, after}``: each signal in the shape of a live
``signal_created`` (plus ``analysis {decision, confidence, reasoning}`` when it was analysed),
newest first; ``after`` is the cursor of the next page (null: no more). Only the machine's own
user's signals are read (the store filters by ``USER_ID``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kernels.timeframes import TIMEFRAME_MS
from vyx.server.requests import MAX_HISTORY_PAGE
from vyx.store.api import HistoryPage, Store

#: Signals per page by default (at most :data:`~vyx.server.requests.MAX_HISTORY_PAGE`).
HISTORY_PAGE = 100


def _bar_open(row: Mapping[str, Any], created_at: int) -> int | None:
    """The bar a stored signal fired on: its ``bar_open_time``; a row written before that was
    kept (or by a project without the column) has none: then the last bar closed when it was
    created (a live signal is created at its bar's close)."""
    stored = row.get("bar_open_time")
    if isinstance(stored, int) and not isinstance(stored, bool):
        return stored
    tf = TIMEFRAME_MS.get(str(row["interval"]))
    return None if tf is None else (created_at // tf) * tf - tf


def _muted(stored: Any) -> bool | None:
    """``signals.alert_muted`` as stored (a boolean; SQLite's 0/1); None when not kept."""
    if stored is None or isinstance(stored, bool):
        return stored
    return bool(stored) if stored in (0, 1) else None


def signal_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``signals`` row (with ``analysis``) as a browser signal."""
    analysis = row.get("analysis")
    created = int(row["created_at"])
    return {
        "signalId": row["id"],
        "traderId": row["trader_id"],
        "symbol": row["symbol"],
        "interval": row["interval"],
        "price": row["price"],
        "matchedConditions": list(row.get("matched_conditions") or []),
        "indicatorData": dict(row.get("indicator_data") or {}),
        "provisional": False,
        "barOpenTime": _bar_open(row, created),
        "createdAt": created,
        # Its alert was muted when it was made (None: not known, a row from before it was kept).
        "muted": _muted(row.get("alert_muted")),
        "analysis": None
        if not analysis
        else {
            "signalId": row["id"],
            "decision": analysis.get("decision"),
            "confidence": analysis.get("confidence"),
            "reasoning": analysis.get("reasoning"),
        },
    }


def history_message(rows: Sequence[Mapping[str, Any]], limit: int) -> dict[str, Any]:
    """``signal_history_result`` of one page read with ``limit``."""
    signals = [signal_message(r) for r in rows]
    last = signals[-1] if signals else None
    more = last is not None and len(rows) >= limit
    return {
        "signals": signals,
        "more": more,
        "after": {"createdAt": last["createdAt"], "id": last["signalId"]}
        if more and last
        else None,
    }


async def history_page(
    store: Store,
    user_id: str,
    *,
    after: tuple[int, str] | None,
    trader_id: str | None,
    symbol: str | None,
    limit: int | None,
) -> dict[str, Any]:
    """One page of ``user_id``'s signals from ``store``, as ``signal_history_result``."""
    n = max(1, min(limit or HISTORY_PAGE, MAX_HISTORY_PAGE))
    page = HistoryPage(limit=n, after=after, trader_id=trader_id, symbol=symbol)
    return history_message(await store.signal_history(user_id, page), n)
