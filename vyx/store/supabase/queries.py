"""What the daemon reads back from Supabase for the browser and the command line: the newest
signals, and pages of the signal history with their analyses (PostgREST queries, each retried
by :meth:`~vyx.store.supabase.rest.Rest.call`)."""

from __future__ import annotations

from typing import Any

from vyx.store.api import HistoryPage
from vyx.store.supabase.rest import Rest
from vyx.store.supabase.wire import from_wire, to_wire


async def recent_signals(rest: Rest, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The user's newest signals in Supabase (timestamps as epoch ms)."""
    rows = await rest.call(
        "recent signals",
        lambda: rest.select(
            "signals", eq={"user_id": user_id}, order="created_at", desc=True, limit=limit
        ),
    )
    return [from_wire("signals", r) for r in rows]


async def signal_history(rest: Rest, user_id: str, page: HistoryPage) -> list[dict[str, Any]]:
    """A page of the user's signals in Supabase with their analyses, newest first (the
    rest of the cursor's own ``created_at`` first, then older ones: ``gt``/``lt`` filters
    only, which every PostgREST has)."""
    eq: dict[str, Any] = {"user_id": user_id}
    if page.trader_id is not None:
        eq["trader_id"] = page.trader_id
    if page.symbol is not None:
        eq["symbol"] = page.symbol
    rows: list[dict[str, Any]] = []
    older: dict[str, Any] | None = None
    after = page.after
    if after is not None:
        at = to_wire("signals", {"created_at": after[0]})["created_at"]
        older = {"created_at": at}
        same = {**eq, "created_at": at}
        rows = await rest.call(
            "signal history",
            lambda: rest.select(
                "signals", eq=same, gt={"id": after[1]}, order="id", limit=page.limit
            ),
        )
    if len(rows) < page.limit:
        rows += await rest.call(
            "signal history",
            lambda: rest.select(
                "signals",
                eq=eq,
                lt=older,
                order="created_at",
                desc=True,
                then_by="id",
                limit=page.limit - len(rows),
            ),
        )
    ids = [r["id"] for r in rows]
    analyses: list[dict[str, Any]] = []
    if ids:
        analyses = await rest.call(
            "signal analyses",
            lambda: rest.select("signal_analyses", eq={"user_id": user_id}, in_={"signal_id": ids}),
        )
    found = {a["signal_id"]: from_wire("signal_analyses", a) for a in analyses}
    return [{**from_wire("signals", r), "analysis": found.get(r["id"])} for r in rows]
