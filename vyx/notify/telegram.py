"""Telegram's Bot API: ``sendMessage`` (HTML), ``editMessageText`` for an analysis when the
channel says ``?verdicts=edit``; otherwise the analysis is a reply to its signal's message.

Answers (core.telegram.org/bots/api): ``{"ok": true, "result": {"message_id": …}}``; errors
``{"ok": false, "error_code": N, "description": "…", "parameters": {"retry_after": S}}`` — a
429's ``retry_after`` is honoured (it is in the body, not in a header). Channel options as
apprise's: ``silent=yes`` (no sound), ``preview=yes`` (link previews), ``topic=N`` (a forum
topic).
"""

from __future__ import annotations

from typing import Any

import httpx

from vyx.notify import render
from vyx.notify.outbox import Attempt, Batch
from vyx.notify.settings import TELEGRAM_API_URL
from vyx.notify.wire import call, failure, json_body, status_outcome
from vyx.retry import parse_retry_after

#: Telegram's default API address.
API_URL = TELEGRAM_API_URL


def read_answer(status: int, headers: httpx.Headers, body: bytes) -> Attempt:
    """A Bot API answer as an attempt (the message id as its reference)."""
    data = json_body(body)
    outcome = status_outcome(status)
    if outcome == "ok":
        result = data.get("result")
        ref = result.get("message_id") if isinstance(result, dict) else None
        return Attempt("ok", ref=str(ref) if isinstance(ref, int) else None)
    description = str(data.get("description") or "")[:200]
    if status == 400 and "message is not modified" in description:
        return Attempt("ok")  # an edit repeated after a lost answer: already done
    parameters = data.get("parameters")
    retry_after = (
        parse_retry_after(parameters.get("retry_after")) if isinstance(parameters, dict) else None
    )
    if retry_after is None:
        retry_after = parse_retry_after(headers.get("retry-after"))
    return failure(status, retry_after, description)


async def send(
    client: httpx.AsyncClient,
    batch: Batch,
    *,
    api_url: str = API_URL,
    link_base: str | None = None,
    timeout_s: float = 10.0,
) -> Attempt:
    """Send ``batch`` to its Telegram chat."""
    channel = batch.channel
    token, _, chat = channel.target.partition("/")
    edit = batch.ref is not None and channel.option("verdicts") == "edit"
    payload: dict[str, Any] = {"chat_id": chat, "parse_mode": "HTML"}
    if edit:
        verdict, signal = batch.verdicts[0]
        if signal is None:
            edit = False
        else:
            payload["message_id"] = int(batch.ref or 0)
            payload["text"] = render.signal_text(
                signal, render.TELEGRAM, verdict=verdict, link_base=link_base
            )
    if not edit:
        payload["text"] = render.batch_text(batch, render.TELEGRAM, link_base)
        payload["disable_notification"] = channel.flag("silent", False)
        if channel.option("topic").isdigit():
            payload["message_thread_id"] = int(channel.option("topic"))
        if batch.ref is not None and batch.ref.isdigit():
            payload["reply_parameters"] = {
                "message_id": int(batch.ref),
                "allow_sending_without_reply": True,
            }
    payload["link_preview_options"] = {"is_disabled": not channel.flag("preview", False)}
    method = "editMessageText" if edit else "sendMessage"
    url = f"{api_url.rstrip('/')}/bot{token}/{method}"
    attempt = await call(client, "POST", url, read_answer, timeout_s=timeout_s, payload=payload)
    if edit and attempt.outcome == "ok":
        return Attempt("ok", ref=batch.ref)
    return attempt
