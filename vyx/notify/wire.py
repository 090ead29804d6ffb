"""One HTTP round trip of a sender, and the reading of any service's answer into an
:class:`~vyx.notify.outbox.Attempt`.

The deadline is written here (``trio.move_on_after``), so it runs on Trio's clock; an answer's
body is read up to :data:`MAX_BODY` bytes. Errors are named by kind and status only: the URL of
a Telegram or Discord call holds its token, so no exception text is ever passed on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import trio

from vyx.breaker import Outcome
from vyx.notify.outbox import Attempt
from vyx.retry import parse_retry_after

#: Bytes of an answer read (the rest is ignored).
MAX_BODY = 64 * 1024

Reader = Callable[[int, httpx.Headers, bytes], Attempt]


def status_outcome(status: int) -> Outcome:
    """What an HTTP status means for retrying and the breaker."""
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status in (408, 425) or status >= 500:
        return "server"
    return "client"


def json_body(body: bytes) -> Mapping[str, Any]:
    """The answer's JSON object ({} when it is not one)."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def failure(status: int, retry_after_s: float | None, detail: Any = None) -> Attempt:
    """A failed answer: its outcome by status, the wait it asked for, what it said (cut)."""
    said = str(detail or "")[:200]
    reason = f"HTTP {status}: {said}" if said else f"HTTP {status}"
    return Attempt(status_outcome(status), retry_after_s=retry_after_s, reason=reason)


def read_generic(status: int, headers: httpx.Headers, body: bytes) -> Attempt:
    """A plain webhook's answer: 2xx is delivered; ``Retry-After`` honoured on 429/5xx."""
    if status_outcome(status) == "ok":
        return Attempt("ok")
    return failure(status, parse_retry_after(headers.get("retry-after")))


async def call(
    client: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    read: Reader,
    *,
    timeout_s: float,
    payload: Any = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    extensions: Mapping[str, str] | None = None,
) -> Attempt:
    """Send one request and read its answer; never raises for the network or the service
    (cancellation propagates: the outcome is then unknown and the alert stays pending)."""
    try:
        content = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        return Attempt("client", reason=f"the message cannot be encoded: {exc}")
    all_headers = {"content-type": "application/json; charset=utf-8", **(headers or {})}
    with trio.move_on_after(timeout_s) as scope:
        try:
            async with client.stream(
                method,
                url,
                content=content,
                headers=all_headers,
                params=params,
                auth=auth,
                extensions=dict(extensions) if extensions else None,
            ) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_BODY:
                        break
                return read(response.status_code, response.headers, body[:MAX_BODY])
        except httpx.TimeoutException:
            return Attempt("timeout", reason=f"no answer within {timeout_s:g}s")
        except httpx.HTTPError as exc:
            return Attempt("transport", reason=f"{type(exc).__name__} (no answer)")
    assert scope.cancelled_caught
    return Attempt("timeout", reason=f"no answer within {timeout_s:g}s")
