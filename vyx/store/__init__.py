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
