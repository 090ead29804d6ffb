"""The store's exceptions.

::

    StoreError              any store failure
     ├── StoreClosed        the store has shut down; nothing more is accepted
     ├── StoreUnavailable   a whole batch could not be written (disk, network); retried
     ├── RowError           a row read back from the backend has an invalid shape
     └── TraderNotOwned     a change to a trader that is not the machine user's (refused)
"""

from __future__ import annotations


class StoreError(Exception):
    """A store operation failed."""


class StoreClosed(StoreError):
    """The store is shut down."""


class StoreUnavailable(StoreError):
    """A whole batch could not be made durable (disk full, database locked, network down).

    The batch writer keeps the rows and retries with backoff; nothing is dropped."""


class RowError(StoreError):
    """A row read from the backend does not have the expected shape."""


class TraderNotOwned(StoreError):
    """A trader change (from a browser) named a trader the machine's user does not own, or one
    that no longer exists. Nothing was written; the store has logged a security event."""

    def __init__(self, trader_id: str, action: str) -> None:
        super().__init__(
            f"trader {trader_id} is not one of yours (or no longer exists): {action} refused"
        )
        self.trader_id = trader_id
        self.action = action
