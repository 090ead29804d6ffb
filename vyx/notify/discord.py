"""Discord webhooks: ``POST /webhooks/{id}/{token}?wait=true`` (Markdown ``content``), and an
analysis edits its signal's message (``PATCH …/messages/{message_id}``) unless the channel says
``?verdicts=reply``.

Answers (discord.com/developers/docs/topics/rate-limits): with ``wait=true`` a message object
(its ``id`` is kept for the edit); a 429 carries ``{"message", "retry_after": seconds (float),
"global"}`` and the ``Retry-After`` and ``X-RateLimit-*`` headers. A success that spends the
bucket (``X-RateLimit-Remaining: 0``) holds the webhook for ``X-RateLimit-Reset-After``.
Mentions are disabled (``allowed_mentions``): a symbol or a trader name never pings anyone.
"""

from __future__ import annotations

from typing import Any

import httpx

from vyx.notify import render
from vyx.notify.outbox import Attempt, Batch
from vyx.notify.settings import DISCORD_API_URL
from vyx.notify.wire import call, failure, json_body, status_outcome
from vyx.retry import parse_retry_after

#: Discord's default API address (webhooks live under it).
API_URL = DISCORD_API_URL


def read_answer(status: int, headers: httpx.Headers, body: bytes) -> Attempt:
    """A webhook answer as an attempt (the message id as its reference)."""
    data = json_body(body)
    outcome = status_outcome(status)
    hold = None
    if headers.get("x-ratelimit-remaining") == "0":
        hold = parse_retry_after(headers.get("x-ratelimit-reset-after"))
    if outcome == "ok":
        ref = data.get("id")
        return Attempt("ok", ref=str(ref) if isinstance(ref, str | int) else None, hold_s=hold)
    retry_after = parse_retry_after(data.get("retry_after"))
    if retry_after is None:
        retry_after = parse_retry_after(headers.get("retry-after")) or hold
    return failure(status, retry_after, data.get("message"))


async def send(
    client: httpx.AsyncClient,
    batch: Batch,
    *,
    api_url: str = API_URL,
    link_base: str | None = None,
    timeout_s: float = 10.0,
) -> Attempt:
    """Send ``batch`` to its Discord webhook."""
    channel = batch.channel
    hook = f"{api_url.rstrip('/')}/webhooks/{channel.target}"
    params = {"wait": "true"}
    if channel.option("thread").isdigit():
        params["thread_id"] = channel.option("thread")
    payload: dict[str, Any] = {"allowed_mentions": {"parse": []}}
    verdict_signal = batch.verdicts[0][1] if batch.kind == "verdict" else None
    if (
        batch.ref is not None
        and verdict_signal is not None
        and channel.option("verdicts") != "reply"
    ):
        payload["content"] = render.signal_text(
            verdict_signal, render.DISCORD, verdict=batch.verdicts[0][0], link_base=link_base
        )
        attempt = await call(
            client,
            "PATCH",
            f"{hook}/messages/{batch.ref}",
            read_answer,
            timeout_s=timeout_s,
            payload=payload,
            params=params,
        )
        return (
            Attempt("ok", ref=batch.ref, hold_s=attempt.hold_s)
            if attempt.outcome == "ok"
            else attempt
        )
    payload["content"] = render.batch_text(batch, render.DISCORD, link_base)
    if channel.option("botname"):
        payload["username"] = channel.option("botname")[:80]
    if channel.option("avatar_url").startswith("https://"):
        payload["avatar_url"] = channel.option("avatar_url")
    return await call(
        client, "POST", hook, read_answer, timeout_s=timeout_s, payload=payload, params=params
    )
