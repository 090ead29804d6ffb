"""What the browser and the command line ask of Supabase directly (not through the spool): the
newest signals, pages of the signal history with their analyses, the user's alert mutes
(PostgREST requests, each retried by :meth:`~vyx.store.supabase.rest.Rest.call`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from vyx.store.api import HistoryPage
from vyx.store.errors import StoreError
from vyx.store.records import mute_row_id
from vyx.store.supabase.project import Project
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


async def load_mutes(
    rest: Rest, project: Project, user_id: str, limit: int
) -> list[tuple[str, str]]:
    """The user's mutes in Supabase (``alert_mutes``), oldest first; none when the project
    has no such table (logged once, at its description)."""
    schema = await rest.call("describe", project.describe)
    if schema.lacks("alert_mutes"):
        return []
    rows = await rest.call(
        "load mutes",
        lambda: rest.select(
            "alert_mutes",
            eq={"user_id": user_id},
            columns="kind,target",
            order="created_at",
            then_by="id",
            limit=limit,
        ),
    )
    return [
        (r["kind"], r["target"])
        for r in rows  # a malformed answer's rows are left out, never raised on
        if isinstance(r, dict)
        and isinstance(r.get("kind"), str)
        and isinstance(r.get("target"), str)
    ]


async def set_mute(
    rest: Rest, project: Project, user_id: str, kind: str, target: str, *, muted: bool
) -> None:
    """Add (an upsert by the mute's derived id: twice changes nothing) or remove one of the
    user's mutes; every request is filtered by ``user_id``. Raises
    :class:`~vyx.store.errors.StoreError` (the project has no ``alert_mutes`` table, or
    Supabase is unreachable or refuses)."""
    schema = await rest.call("describe", project.describe)
    if schema.lacks("alert_mutes"):
        raise StoreError(
            "this Supabase project has no alert_mutes table (apply supabase/migrations)"
        )
    row_id = mute_row_id(user_id, kind, target)
    if muted:
        row = {"id": row_id, "user_id": user_id, "kind": kind, "target": target}
        write = partial(rest.upsert, "alert_mutes", [row], on_conflict="id", ignore_duplicates=True)
        await rest.call("save mute", write)
    else:
        mine = {"id": row_id, "user_id": user_id}
        await rest.call("remove mute", partial(rest.delete, "alert_mutes", eq=mine))
