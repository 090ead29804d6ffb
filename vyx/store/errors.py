"""The store's exceptions.

::

    StoreError              any store failure
     ├── StoreClosed        the store has shut down; nothing more is accepted
     ├── StoreUnavailable   a whole batch could not be written (disk, network); retried
     └── RowError           a row read back from the backend has an invalid shape
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
