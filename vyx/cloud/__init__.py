"""Cloud mode: the services of a user's machine whose state lives in the user's Supabase project.

- :mod:`.traders` traders and the subscription (entitlement) synced from the ``traders`` table;
- :mod:`.machine` the machine's own rows: lifecycle, heartbeat, metrics, events.

The store itself (spool, drain, PostgREST client) is :mod:`vyx.store.supabase`; the daemon
runs these as :func:`vyx.daemon.cloud.cloud_machine`.
"""
