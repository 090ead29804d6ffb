"""Binance's refusal of a location (HTTP 451), as one state of the market.

Binance answers every request from a location it does not serve (the United States among them)
with HTTP 451 and ``{"code":0,"msg":"Service unavailable from a restricted location ..."}``, on
REST and on the WebSocket handshake alike. Retrying cannot help: the machine has to run somewhere
else. So the market stops at the first such answer, says so in one line (:func:`log_line`), and
``/health`` reports :func:`health_detail` as a critical failure.
"""

from __future__ import annotations

import json

#: The HTTP status Binance answers a restricted location with.
RESTRICTED_STATUS = 451
#: The words of Binance's body (also sent by its CDN with a 403 in some places).
RESTRICTED_WORDS = b"restricted location"
#: A region Binance serves, next to its own servers (AWS ap-northeast-1, Tokyo).
SUGGESTED_REGION = "nrt"


def is_restricted(status: int, body: bytes | None) -> bool:
    """Whether an HTTP answer is Binance refusing the caller's location.

    A 451, or any other 4xx whose body carries Binance's "restricted location" words.
    """
    if status == RESTRICTED_STATUS:
        return True
    return 400 <= status < 500 and RESTRICTED_WORDS in (body or b"")[:2000].lower()


def refusal_reason(body: bytes) -> str:
    """Binance's ``msg`` from a refusal body, else the start of the body (at most 200 chars)."""
    try:
        msg = json.loads(body[:4000]).get("msg")
    except (ValueError, AttributeError):
        msg = None
    text = msg if isinstance(msg, str) else body[:200].decode("utf-8", "replace")
    return text[:200] or "no reason given"


def health_detail(region: str | None) -> str:
    """The market's ``/health`` detail: ``restricted location (HTTP 451) from region X``."""
    return f"restricted location (HTTP 451) from region {region or 'unknown'}"


def log_line(region: str | None, where: str, reason: str) -> str:
    """The one line logged when the market stops: what happened, where, and what to do."""
    return (
        f"Binance refuses this machine's location: HTTP 451 on {where} from region "
        f"{region or 'unknown'} ({reason[:120]}). The market is stopped and will not retry; "
        f"run the machine in a region Binance serves, e.g. `vyx provision USER_ID --region "
        f"{SUGGESTED_REGION}` (see docs/deploy.md, 'Where to run it')."
    )
