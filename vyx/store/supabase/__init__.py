"""The Supabase backend: a user's cloud machine writes and reads its project through PostgREST.

Modules: :mod:`.wire` (row format, error verdicts), :mod:`.rest` (the
supabase-py PostgREST client under Trio), :mod:`.spool` (the durable SQLite spool),
:mod:`.drain` (spool → PostgREST in order, quarantine), :mod:`.project` (the project's tables
as PostgREST describes them, rows adapted to them, the machine's row), :mod:`.store`
(:func:`run_supabase_store`). The cloud machine's services on top of it (trader sync,
heartbeat) are :mod:`vyx.cloud`.

Wiring in the daemon's nursery (sinks before sources)::

    store = await nursery.start(partial(run_supabase_store, cfg.store, cfg.supabase,
                                        user_id=cfg.machine.user_id))
    lifecycle = LifecycleConfig(cfg.machine, ...)
    async with open_machine_lifecycle(lifecycle, store) as me:
        async with trio.open_nursery() as services:
            await services.start(partial(run_heartbeat, store, lifecycle, heartbeat_s=30))
            await services.start(partial(run_metrics_reporter, store, machine_id=me.id,
                                         sample=metrics_sample, interval_s=30))
            sync = await services.start(partial(run_trader_sync,
                TraderSyncConfig(user_id=me.user_id, machine_id=me.id, cache=traders_json),
                store.rest, store,
                on_update=apply_traders))
            ...  # screener, server: config_update → sync.reload("config_update"),
                 # force_sync → store.sync(timeout_s)
"""

from vyx.store.supabase.rest import PostgrestError, Rest, SupabaseUnavailable
from vyx.store.supabase.store import SupabaseStatistics, SupabaseStore, run_supabase_store

__all__ = [
    "PostgrestError",
    "Rest",
    "SupabaseStatistics",
    "SupabaseStore",
    "SupabaseUnavailable",
    "run_supabase_store",
]
