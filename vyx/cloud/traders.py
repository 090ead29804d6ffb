"""Traders and the subscription from Supabase: :func:`run_trader_sync`.

Pure core: :func:`classify_traders` admits ``traders`` rows (:func:`vyx.traders.from_record`,
which compiles each filter once) into the runnable set and the ones reported instead
(unreadable row, not the Vyx language, filter does not compile);
:func:`diff_traders` says what was added, removed, updated. The shell loads rows
(``user_id=eq.USER_ID&enabled=eq.true``; ``cloud_config.enabledInCloud = false`` is filtered
here, jsonb may be a JSON string), checks ``user_subscriptions`` (an active elite subscription
serves the user), reloads every ``reload_s`` and on :meth:`TraderSync.reload`
(``config_update``), writes ``cloud_events`` (config_synced, trader_added/removed/updated, error
per rejected trader) and hands each change to the daemon's ``on_update`` callback, which swaps
the screener's plans and sends the browser an ``error`` message per rejected trader.

The database is not needed to start: the first load gets ``first_load_s``; if it fails, the
machine runs the traders of the last successful load (kept in ``cache``, a JSON file beside
the spool) and keeps trying, with backoff, until the database answers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio
from loguru import logger

from kernels.lang import CompileError
from vyx.store.errors import RowError, StoreError
from vyx.store.records import Trader, event_row
from vyx.store.supabase.rest import Rest
from vyx.store.supabase.store import SupabaseStore
from vyx.traders import TraderInfo, TraderRejected, from_record

#: The filter language this machine runs (``filter.language``, or the ``language`` column).
VYX_LANGUAGE = "vyx"


@attrs.frozen
class TraderSet:
    """What one load found."""

    traders: tuple[Trader, ...]
    rejected: tuple[TraderRejected, ...]
    #: Each runnable row admitted (its filter compiled), by id.
    admitted: Mapping[str, TraderInfo] = attrs.field(factory=dict, eq=False, repr=False)


@attrs.frozen
class TraderChanges:
    """The difference between two loads."""

    added: tuple[Trader, ...] = ()
    removed: tuple[Trader, ...] = ()
    updated: tuple[Trader, ...] = ()
    #: Rejections not reported before (new trader, or a new version).
    newly_rejected: tuple[TraderRejected, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing changed."""
        return not (self.added or self.removed or self.updated or self.newly_rejected)


@attrs.frozen
class TraderUpdate:
    """What ``on_update`` receives: the runnable traders, what changed, and the entitlement."""

    current: TraderSet
    changes: TraderChanges
    #: True while the user has an active elite subscription.
    entitled: bool


def filter_language(trader: Trader) -> str | None:
    """``filter.language``, else the ``language`` column."""
    language = trader.filter.get("language")
    return language if isinstance(language, str) else trader.language


def classify_traders(rows: Sequence[Mapping[str, Any]]) -> TraderSet:
    """Runnable traders (by name), each admitted with its filter compiled, and the rejected
    ones. Rows disabled for the cloud (``cloud_config.enabledInCloud = false``) or disabled
    are neither. Blocking (it compiles)."""
    ok: list[Trader] = []
    admitted: dict[str, TraderInfo] = {}
    rejected: list[TraderRejected] = []
    for row in rows:
        try:
            trader = Trader.from_row(row)
        except RowError as exc:
            rid, name = str(row.get("id")), str(row.get("name") or "")
            rejected.append(TraderRejected(rid, str(exc), name=name, kind="unreadable"))
            continue
        if not trader.enabled or not trader.enabled_in_cloud:
            continue
        try:
            info = _admit(trader)
        except TraderRejected as exc:
            rejected.append(exc)
            continue
        ok.append(trader)
        admitted[trader.id] = info
    ok.sort(key=lambda t: (t.name, t.id))
    return TraderSet(tuple(ok), tuple(rejected), admitted)


def _admit(trader: Trader) -> TraderInfo:
    """A row that says it is in the Vyx language, with code, admitted and compiled."""
    language = filter_language(trader)

    def rejected(reason: str, kind: str) -> TraderRejected:
        return TraderRejected(
            trader.id, reason, name=trader.name, kind=kind, version=trader.version
        )

    if language != VYX_LANGUAGE:
        reason = (
            f"the filter is in {language!r}, not the Vyx filter language"
            if language
            else "the filter does not say it is in the Vyx filter "
            "language (filter.language = 'vyx')"
        )
        raise rejected(reason, "language")
    code = trader.filter.get("code")
    if not isinstance(code, str) or not code.strip():
        raise rejected("the filter has no code", "compile")
    info = from_record(trader)
    if isinstance(info.compiled, CompileError):
        raise rejected(f"the filter does not compile: {info.compiled}", "compile")
    return info


def diff_traders(old: TraderSet, new: TraderSet) -> TraderChanges:
    """What changed from ``old`` to ``new`` (a trader is updated when its row differs)."""
    before = {t.id: t for t in old.traders}
    after = {t.id: t for t in new.traders}
    seen = {(r.id, r.version, r.reason) for r in old.rejected}
    return TraderChanges(
        added=tuple(t for i, t in after.items() if i not in before),
        removed=tuple(t for i, t in before.items() if i not in after),
        updated=tuple(t for i, t in after.items() if i in before and before[i] != t),
        newly_rejected=tuple(r for r in new.rejected if (r.id, r.version, r.reason) not in seen),
    )


async def fetch_trader_rows(
    rest: Rest, user_id: str, *, attempts: int | None = None
) -> list[dict[str, Any]]:
    """The user's enabled ``traders`` rows (bounded retries: ``attempts`` or the policy's)."""
    eq = {"user_id": user_id, "enabled": True}
    return await rest.call("load traders", lambda: rest.select("traders", eq=eq), attempts=attempts)


async def has_elite_subscription(rest: Rest, user_id: str, *, attempts: int | None = None) -> bool:
    """True when ``user_subscriptions`` holds an active elite subscription for the user."""
    eq = {"user_id": user_id, "status": "active", "tier": "elite"}
    rows = await rest.call(
        "check subscription",
        lambda: rest.select("user_subscriptions", eq=eq, columns="user_id,tier,status"),
        attempts=attempts,
    )
    return bool(rows)


@attrs.frozen
class TraderSyncConfig:
    """Who and how often."""

    user_id: str
    #: ``cloud_machines.id`` for the events (None until known).
    machine_id: str | None = None
    reload_s: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    subscription_s: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))
    #: The last successful load (rows and entitlement), run when the database is down at start.
    cache: Path | None = None
    #: Budget of the first load; after it the machine starts from the cache.
    first_load_s: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))


def save_cache(path: Path, user_id: str, rows: Sequence[Mapping[str, Any]], entitled: bool) -> None:
    """Write the cache atomically (owner-only: a user's filters). Blocking."""
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps({"user_id": user_id, "entitled": entitled, "rows": list(rows)})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def load_cache(path: Path, user_id: str) -> tuple[list[dict[str, Any]], bool] | None:
    """The cached rows and entitlement of ``user_id``, or None (no cache, another user's, or
    unreadable: logged). Blocking."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("traders: cache {} unreadable: {}", path, exc)
        return None
    if not isinstance(data, dict) or data.get("user_id") != user_id:
        return None
    rows = data.get("rows")
    return (
        [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else [],
        data.get("entitled") is True,
    )


@attrs.frozen
class TraderSyncStatistics:
    """A snapshot of the trader sync."""

    #: Runnable traders / rejected traders in the last successful load.
    traders: int
    rejected: int
    #: Successful loads and failed ones since start.
    loads: int
    failures: int
    #: Whether the user is served (active elite subscription), as last checked.
    entitled: bool
    last_error: str | None


class TraderSync:
    """Handle of :func:`run_trader_sync`: the current traders and :meth:`reload`."""

    def __init__(
        self,
        cfg: TraderSyncConfig,
        rest: Rest,
        store: SupabaseStore,
        on_update: Callable[[TraderUpdate], Awaitable[None]],
        now_ms: Callable[[], int],
        on_synced: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._cfg = cfg
        self._rest = rest
        self._store = store
        self._on_update = on_update
        self._on_synced = on_synced
        self._now_ms = now_ms
        self.current = TraderSet((), ())
        self.entitled = False
        self._lock = trio.Lock()
        self._loads = 0
        self._failures = 0
        self._last_error: str | None = None

    def statistics(self) -> TraderSyncStatistics:
        """Counters of the sync."""
        return TraderSyncStatistics(
            len(self.current.traders),
            len(self.current.rejected),
            self._loads,
            self._failures,
            self.entitled,
            self._last_error,
        )

    async def check_subscription(self) -> bool:
        """Re-check the subscription now; reports a change through ``on_update``."""
        async with self._lock:
            entitled = await has_elite_subscription(self._rest, self._cfg.user_id)
            if entitled != self.entitled:
                self.entitled = entitled
                logger.info("traders: elite subscription {}", "active" if entitled else "inactive")
                await self._on_update(TraderUpdate(self.current, TraderChanges(), entitled))
            return entitled

    async def reload(
        self, reason: str = "periodic", *, attempts: int | None = None
    ) -> TraderChanges:
        """Load the traders now (``config_update`` calls this); events and ``on_update`` for
        what changed. Raises :class:`~vyx.store.supabase.rest.SupabaseUnavailable`."""
        async with self._lock:
            try:
                rows = await fetch_trader_rows(self._rest, self._cfg.user_id, attempts=attempts)
            except StoreError as exc:
                self._failures += 1
                self._last_error = str(exc)
                raise
            new = await trio.to_thread.run_sync(classify_traders, rows)
            changes = diff_traders(self.current, new)
            self.current = new
            self._loads += 1
            if self._cfg.cache is not None:
                await trio.to_thread.run_sync(
                    save_cache, self._cfg.cache, self._cfg.user_id, rows, self.entitled
                )
            await self._events(changes, reason)
            if not changes.empty or self._loads == 1:
                await self._on_update(TraderUpdate(new, changes, self.entitled))
            if self._on_synced is not None:
                await self._on_synced()
            return changes

    async def start(self) -> None:
        """The first load: the subscription, then the traders, one attempt each (the caller
        retries, and runs the cached traders meanwhile)."""
        self.entitled = await has_elite_subscription(self._rest, self._cfg.user_id, attempts=1)
        await self.reload("start", attempts=1)

    async def from_cache(self) -> None:
        """Run the traders of the last successful load (none without a cache)."""
        cached = None
        if self._cfg.cache is not None:
            cached = await trio.to_thread.run_sync(load_cache, self._cfg.cache, self._cfg.user_id)
        rows, entitled = cached if cached is not None else ([], True)
        async with self._lock:
            self.entitled = entitled
            self.current = await trio.to_thread.run_sync(classify_traders, rows)
            logger.warning(
                "traders: running {} traders of the last load until the database answers",
                len(self.current.traders),
            )
            changes = diff_traders(TraderSet((), ()), self.current)
            await self._on_update(TraderUpdate(self.current, changes, entitled))

    async def _events(self, changes: TraderChanges, reason: str) -> None:
        now = self._now_ms()
        rows: list[dict[str, Any]] = []

        def event(kind: str, message: str, details: dict[str, Any], severity: Any = "info") -> None:
            row = event_row(
                machine_id=self._cfg.machine_id or "",
                user_id=self._cfg.user_id,
                event_type=kind,
                message=message,
                created_at=now,
                severity=severity,
                details=details,
            )
            row["machine_id"] = self._cfg.machine_id
            rows.append(row)

        for kind, traders in (
            ("trader_added", changes.added),
            ("trader_removed", changes.removed),
            ("trader_updated", changes.updated),
        ):
            for t in traders:
                event(
                    kind,
                    f"{kind.removeprefix('trader_')}: {t.name}",
                    {"trader_id": t.id, "name": t.name, "version": t.version},
                )
        for r in changes.newly_rejected:
            event(
                "error",
                f"trader {r.name!r} is not run: {r.reason}",
                {"trader_id": r.id, "name": r.name, "kind": r.kind, "reason": r.reason},
                "warning",
            )
        event(
            "config_synced",
            f"{len(self.current.traders)} traders loaded ({reason})",
            {
                "traders": len(self.current.traders),
                "rejected": len(self.current.rejected),
                "reason": reason,
            },
        )
        for row in rows:
            await self._store.save_event(row)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def run_trader_sync(
    cfg: TraderSyncConfig,
    rest: Rest,
    store: SupabaseStore,
    *,
    on_update: Callable[[TraderUpdate], Awaitable[None]],
    now_ms: Callable[[], int] = _now_ms,
    on_synced: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[TraderSync] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Check the subscription, load the traders, then reload every ``cfg.reload_s`` and
    re-check the subscription every ``cfg.subscription_s`` until cancelled; ``on_synced``
    after each load that succeeded (the daemon reads the user's mutes again).

    ``task_status.started(sync)`` once ``on_update`` has been called with the traders: those
    of the first load, or, when the database does not answer within ``cfg.first_load_s``,
    those of ``cfg.cache`` (the first load is then retried with backoff until it succeeds).
    A failed periodic reload is logged and counted; the traders in use stay."""
    sync = TraderSync(cfg, rest, store, on_update, now_ms, on_synced)
    loaded = False
    with trio.move_on_after(cfg.first_load_s):
        try:
            await sync.start()
            loaded = True
        except StoreError as exc:
            logger.warning("traders: the database did not answer at start: {}", exc)
    if not loaded:
        await sync.from_cache()
    task_status.started(sync)
    policy = rest.policy
    while not loaded:
        await trio.sleep(policy.delay())
        try:
            await sync.start()
            loaded = True
        except StoreError as exc:
            policy = policy.failed()
            logger.warning("traders: still no database: {}", exc)

    async def every(period: float, job: Callable[[], Awaitable[Any]]) -> None:
        deadline = trio.current_time()
        while True:
            deadline += period  # drift-free: the schedule does not slip by the job's duration
            await trio.sleep_until(deadline)
            try:
                await job()
            except StoreError as exc:
                logger.warning("traders: {}", exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(every, cfg.reload_s, sync.reload)
        nursery.start_soon(every, cfg.subscription_s, sync.check_subscription)
