"""JSON webhooks (``json://`` / ``jsons://``): apprise's JSON payload plus the alerts as data.

The body is what apprise's ``json://`` posts — ``{"version": "1.0", "title", "message",
"attachments": [], "type": "info"}`` — so a receiver written for apprise works unchanged, plus
``"vyx"``: ``{"event": "signal"|"analysis"|"digest", "deliveryId", "signals": [...],
"analyses": [...]}`` for programs. ``Idempotency-Key`` (= ``deliveryId``) is the same for a
repeat of the same message: a receiver that keeps the keys it saw never counts one twice.
"""

from __future__ import annotations

from typing import Any

import httpx

from vyx.notify import render
from vyx.notify.notices import SignalNotice, VerdictNotice
from vyx.notify.outbox import Attempt, Batch
from vyx.notify.wire import call, read_generic


def signal_data(n: SignalNotice, v: VerdictNotice | None = None) -> dict[str, Any]:
    """A signal as the payload carries it (names as the browser's ``signal_created``)."""
    data: dict[str, Any] = {
        "signalId": n.signal_id,
        "traderId": n.trader_id,
        "traderName": n.trader_name,
        "symbol": n.symbol,
        "interval": n.interval,
        "price": n.price,
        "barOpenTime": n.bar_open_time,
        "provisional": n.provisional,
        "clauses": [
            {"label": c.label, "held": c.held, "values": dict(c.values)} for c in n.clauses
        ],
    }
    if v is not None:
        data["analysis"] = verdict_data(v)
    return data


def verdict_data(v: VerdictNotice) -> dict[str, Any]:
    """An analysis as the payload carries it."""
    return {
        "signalId": v.signal_id,
        "traderId": v.trader_id,
        "decision": v.decision,
        "confidence": v.confidence,
        "reasoning": v.reasoning,
        "keyLevels": dict(v.levels),
    }


def payload(batch: Batch, link_base: str | None = None) -> dict[str, Any]:
    """The request body for ``batch``."""
    if batch.kind == "signal":
        n = batch.signals[0][0]
        title = f"{n.symbol} {n.interval}: {n.trader_name}"
    elif batch.kind == "verdict":
        title = f"Analysis: {batch.verdicts[0][0].decision}"
    else:
        title = render.digest_title(len(batch.signals), len(batch.verdicts))
    return {
        "version": "1.0",
        "title": title,
        "message": render.batch_text(batch, render.PLAIN, link_base),
        "attachments": [],
        "type": "info",
        "vyx": {
            "event": {"signal": "signal", "verdict": "analysis", "digest": "digest"}[batch.kind],
            "deliveryId": batch.delivery_id,
            "signals": [signal_data(n, v) for n, v in batch.signals],
            "analyses": [verdict_data(v) for v, _ in batch.verdicts],
        },
    }


async def send(
    client: httpx.AsyncClient,
    batch: Batch,
    *,
    link_base: str | None = None,
    timeout_s: float = 10.0,
    address: str | None = None,
) -> Attempt:
    """POST ``batch`` to its webhook (with ``address``: connected to that address, the URL's
    host named in ``Host`` and TLS, on a connection of its own; see
    :mod:`vyx.notify.destinations`)."""
    channel = batch.channel
    headers = {"user-agent": "vyx", "idempotency-key": batch.delivery_id}
    url = httpx.URL(channel.target)
    extensions: dict[str, str] = {}
    params: dict[str, str] = {}
    auth = None
    for key, value in channel.options:
        if key.startswith("+"):
            headers[key[1:]] = value
        elif key.startswith("-"):
            params[key[1:]] = value
        elif key == "auth":
            user, _, password = value.partition(":")
            auth = (user, password)
    if address is not None:
        headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
        headers |= {"host": url.netloc.decode("ascii"), "connection": "close"}
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
        url = url.copy_with(host=address)
    return await call(
        client,
        "POST",
        url,
        read_generic,
        timeout_s=timeout_s,
        payload=payload(batch, link_base),
        headers=headers,
        params=params or None,
        auth=auth,
        extensions=extensions or None,
    )
