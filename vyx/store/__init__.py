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

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    """The package's names, each imported from its module when first asked for: importing
    one module of the package (its records, as ``vyx backtest`` does through the traders
    file) does not load the store's service, SQLite and Trio (~0.2 s)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vyx.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vyx.store.{module}"), name)
    globals()[name] = value
    return value
