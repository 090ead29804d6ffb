"""Where signals, analyses, metrics, events, traders and machine rows are kept.

- :mod:`vyx.store.api` — the :class:`Store` protocol every backend implements, the
  :class:`Sink` seam of the batch writer, statistics; :mod:`vyx.store.errors` — exceptions.
- :mod:`vyx.store.writer` — the backend-neutral batch writer (size/age flush, backpressure,
  retries, quarantine accounting).
- :mod:`vyx.store.sqlite`, :mod:`vyx.store.schema` — the embedded SQLite backend.
- :mod:`vyx.store.records` — typed rows (:class:`Trader`, :class:`MachineRecord`) and row
  builders with deterministic ids (:func:`event_row`, :func:`metrics_row`).
- :mod:`vyx.store.service` — :func:`run_store`, the Trio service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vyx.lazy import lazy_exports

if TYPE_CHECKING:
    from vyx.store.api import KEYS, PendingRow, Sink, Store, StoreStatistics, WriteOutcome
    from vyx.store.errors import RowError, StoreClosed, StoreError, StoreUnavailable
    from vyx.store.records import MachineRecord, Trader, event_row, metrics_row
    from vyx.store.service import SqliteStore, run_store

__all__ = [
    "KEYS",
    "MachineRecord",
    "PendingRow",
    "RowError",
    "Sink",
    "SqliteStore",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreStatistics",
    "StoreUnavailable",
    "Trader",
    "WriteOutcome",
    "event_row",
    "metrics_row",
    "run_store",
]

_EXPORTS = {
    **dict.fromkeys(
        ("KEYS", "PendingRow", "Sink", "Store", "StoreStatistics", "WriteOutcome"), "api"
    ),
    **dict.fromkeys(("RowError", "StoreClosed", "StoreError", "StoreUnavailable"), "errors"),
    **dict.fromkeys(("MachineRecord", "Trader", "event_row", "metrics_row"), "records"),
    **dict.fromkeys(("SqliteStore", "run_store"), "service"),
}


__getattr__ = lazy_exports(__name__, _EXPORTS)
