"""The browser protocol's batched messages: many items of one kind in one message, for the
browsers whose protocol version knows it (:data:`BATCHES`), one message per item for the others
(:func:`per_item`), so that an older browser gets what it got before the batch existed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

#: Items in one batched message at most (a close of a large universe sends more messages): each
#: message stays around a hundred KB.
MAX_ITEMS_PER_MESSAGE = 100
#: The same, for ``signals_created`` (its name in version 2).
MAX_SIGNALS_PER_MESSAGE = MAX_ITEMS_PER_MESSAGE


@attrs.frozen
class Batch:
    """A batched message: from ``version`` on a browser gets it whole, its items under
    ``key``; before, one ``single`` message per item (its ``data``), in order."""

    version: int
    key: str
    single: str


#: The batched messages, by type.
BATCHES: Mapping[str, Batch] = {
    "signals_created": Batch(2, "signals", "signal_created"),
    "signal_outcomes": Batch(3, "outcomes", "signal_outcome"),
}


def batched(kind: str, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``kind`` messages (one of :data:`BATCHES`) carrying ``items`` in order,
    :data:`MAX_ITEMS_PER_MESSAGE` at most each; none for no item."""
    key, step = BATCHES[kind].key, MAX_ITEMS_PER_MESSAGE
    return [
        {"type": kind, "data": {key: list(items[i : i + step])}} for i in range(0, len(items), step)
    ]


def signals_created(signals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``signals_created {signals}`` messages (version 2) carrying ``signals`` (each the
    ``data`` of a ``signal_created``) in order, :data:`MAX_ITEMS_PER_MESSAGE` at most each."""
    return batched("signals_created", signals)


def signal_outcomes(outcomes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``signal_outcomes {outcomes}`` messages (version 3) carrying ``outcomes`` (each the
    ``data`` of a ``signal_outcome``) in order, :data:`MAX_ITEMS_PER_MESSAGE` at most each."""
    return batched("signal_outcomes", outcomes)


def per_item(msg: Mapping[str, Any], version: int) -> list[dict[str, Any]] | None:
    """A batched message as a browser of ``version`` gets it when that version predates the
    batch: one message per item, in order; None when it gets ``msg`` as it is (any other
    message, or a version that knows the batch)."""
    batch = BATCHES.get(msg.get("type", ""))
    if batch is None or version >= batch.version:
        return None
    return [{"type": batch.single, "data": item} for item in msg["data"][batch.key]]
