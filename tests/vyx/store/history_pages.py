"""The signal history's paging contract, checked against any :class:`~vyx.store.api.Store`:
pages in order (newest first, ties by id), none lost or repeated where a page boundary splits
the signals of one close, filters by trader and symbol, analyses attached, other users' rows
never read."""

from __future__ import annotations

from typing import Any

import attrs

from vyx.history import signal_message
from vyx.signal import Signal
from vyx.store.api import HistoryPage, Store

#: Signals per close: every page boundary below falls inside one close.
PER_CLOSE = 3


def history_signals(n: int, user: str, trader: str, other_user: str) -> list[Signal]:
    """``n`` signals of ``user`` (three per close, on three symbols) and one of another user."""
    made = []
    for i in range(n):
        close = 1_700_000_000_000 + (i // PER_CLOSE + 1) * 300_000
        base = Signal(
            id=f"{i:08x}-0000-4000-8000-{i:012x}",
            trader_id=trader,
            user_id=user,
            symbol=("BTCUSDT", "ETHUSDT", "SOLUSDT")[i % PER_CLOSE],
            interval="5m",
            price=100.0 + i,
            # Every fifth was screened late (a restart's catch-up): its bar is bars before the
            # close it was made at.
            bar_open_time=close - 300_000 * (1 if i % 5 else 4),
            matched_conditions=("close > open",),
            indicator_data={"close > open": {"held": True, "values": {"close": 100.0 + i}}},
            created_at=close,
        )
        made.append(base)
    made.append(
        attrs.evolve(made[0], id="ffffffff-0000-4000-8000-000000000000", user_id=other_user)
    )
    return made


async def check_history_pages(
    store: Store,
    signals: list[Signal],
    user: str,
    analysed: dict[str, Any],
    *,
    bar_kept: bool = True,
) -> None:
    """Page through ``user``'s signals 7 at a time and check the contract; each is on its own
    bar (``bar_kept``; else a store without the column: on the bar closed at its creation)."""
    mine = [s for s in signals if s.user_id == user]
    expected = [s.id for s in sorted(mine, key=lambda s: (-s.created_at, s.id))]
    seen: list[str] = []
    after = None
    while True:
        rows = await store.signal_history(user, HistoryPage(limit=7, after=after))
        assert all(r["user_id"] == user for r in rows)
        seen += [r["id"] for r in rows]
        if len(rows) < 7:
            break
        after = (rows[-1]["created_at"], rows[-1]["id"])
    assert seen == expected
    eth = await store.signal_history(user, HistoryPage(limit=500, symbol="ETHUSDT"))
    assert [r["id"] for r in eth] == [
        i for i in expected if i in {s.id for s in mine if s.symbol == "ETHUSDT"}
    ]
    assert (
        await store.signal_history(
            user, HistoryPage(limit=5, trader_id="00000000-0000-4000-8000-000000000000")
        )
        == []
    )
    first = await store.signal_history(user, HistoryPage(limit=500))
    by_id = {s.id: s for s in mine}
    for row in first:
        signal = by_id[row["id"]]
        # Without the column: the 5m bar that closed last when the signal was made.
        derived = signal.created_at // 300_000 * 300_000 - 300_000
        assert signal_message(row)["barOpenTime"] == (signal.bar_open_time if bar_kept else derived)
    assert (
        len({by_id[r["id"]].created_at - 300_000 - by_id[r["id"]].bar_open_time for r in first})
        == 2
    )
    with_analysis = {r["id"]: r["analysis"] for r in first if r["analysis"] is not None}
    assert set(with_analysis) == set(analysed)
    for sid, row in with_analysis.items():
        assert row["decision"] == analysed[sid]["decision"]
        assert row["confidence"] == analysed[sid]["confidence"]
