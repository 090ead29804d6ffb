"""Gemini through google-genai's async client, under Trio.

google-genai (3.x) sends requests through an ``httpx.AsyncClient``; given one in
``HttpOptions.httpx_async_client`` it needs no asyncio machinery on the API-key path (no aiohttp
session, no auth lock), and httpx runs on Trio through anyio. The SDK's own retries are switched
off (``attempts=1``: its tenacity waits would use asyncio's sleep, and the analyzer owns retries,
the rate limit and the breaker). Deadlines are set by the caller (``trio.move_on_after``).

Errors: :func:`classify` maps what a call raised to an :data:`~vyx.breaker.Outcome`, the
retry delay the API asked for (``google.rpc.RetryInfo.retryDelay`` in the error details) and a
message with the API key redacted (the API echoes a bad key in its ``DebugInfo``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import httpx
from google import genai
from google.genai import errors, types

from vyx.analysis.verdict import RESPONSE_SCHEMA
from vyx.breaker import Outcome
from vyx.settings import AnalyzerConfig

API_VERSION = "v1beta"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


@attrs.frozen
class GenerationSettings:
    """Per-request generation knobs (not in the environment: they shape cost, keep them here)."""

    temperature: float = 0.2
    #: Output cap; a verdict is ~200-400 tokens.
    max_output_tokens: int = 1024
    #: Thinking tokens are billed as output; 0 turns thinking off on Flash models (predictable
    #: cost), None leaves the model's default.
    thinking_budget: int | None = 0


def make_client(cfg: AnalyzerConfig, http: httpx.AsyncClient) -> genai.Client:
    """A google-genai client sending through ``http`` to ``cfg.base_url``."""
    if cfg.api_key is None:
        raise ValueError("the analyzer needs an API key")
    return genai.Client(
        api_key=cfg.api_key,
        http_options=types.HttpOptions(
            base_url=cfg.base_url,
            api_version=API_VERSION,
            httpx_async_client=http,
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )


def request_config(
    system: str, settings: GenerationSettings, schema: types.Schema = RESPONSE_SCHEMA
) -> types.GenerateContentConfig:
    """JSON mode with ``schema`` (the analyzer's :data:`~vyx.analysis.verdict.RESPONSE_SCHEMA`
    by default)."""
    thinking = (
        None
        if settings.thinking_budget is None
        else types.ThinkingConfig(thinking_budget=settings.thinking_budget)
    )
    return types.GenerateContentConfig(
        system_instruction=system,
        response_mime_type="application/json",
        response_schema=schema,
        temperature=settings.temperature,
        max_output_tokens=settings.max_output_tokens,
        thinking_config=thinking,
    )


async def generate(
    client: genai.Client,
    model: str,
    contents: types.ContentListUnion,
    config: types.GenerateContentConfig,
) -> types.GenerateContentResponse:
    """One ``generateContent`` call (``contents``: a prompt, or the turns of a conversation).
    Raises what the SDK and httpx raise (see :func:`classify`); cancellation aborts the HTTP
    request."""
    return await client.aio.models.generate_content(model=model, contents=contents, config=config)


@attrs.frozen
class CallError:
    """What a failed call means for the analyzer."""

    outcome: Outcome
    message: str
    #: Seconds the API asked us to wait (429 ``RetryInfo``), if it said.
    retry_after_s: float | None = None
    #: The error body as text (stored as the failed row's raw response).
    raw: str = ""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration in JSON (``"37s"``, ``"0.250s"``) or ``{seconds, nanos}``."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        return float(match.group(1)) if match else None
    if isinstance(value, Mapping):
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def retry_delay(details: Any) -> float | None:
    """``RetryInfo.retryDelay`` from an error body (``{"error": {"details": [...]}}``)."""
    error = details.get("error", details) if isinstance(details, Mapping) else None
    entries = error.get("details") if isinstance(error, Mapping) else None
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return None
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("@type") == RETRY_INFO:
            return parse_duration(entry.get("retryDelay"))
    return None


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` replaced by ``<hidden>``."""
    return text.replace(secret, "<hidden>") if secret else text


def classify(exc: BaseException, secret: str | None) -> CallError:
    """Map an exception of :func:`generate` to a :class:`CallError`; re-raises nothing.

    429 → ``rate_limited`` (with the asked delay), 5xx → ``server``, 408 → ``timeout``, other
    4xx → ``client`` (a bad key, an unknown model, a bad request: retrying cannot help),
    httpx transport errors → ``transport``."""
    if isinstance(exc, errors.APIError):
        body = exc.details if isinstance(exc.details, Mapping) else {}
        raw = redact(str(dict(body)) if body else str(exc), secret)
        message = redact(f"{exc.code} {exc.status}: {exc.message}", secret)
        if exc.code == 429:
            return CallError("rate_limited", message, retry_delay(body), raw)
        if exc.code == 408:
            return CallError("timeout", message, None, raw)
        if exc.code >= 500:
            return CallError("server", message, retry_delay(body), raw)
        return CallError("client", message, None, raw)
    if isinstance(exc, httpx.TimeoutException):
        return CallError("timeout", f"HTTP timeout: {type(exc).__name__}")
    if isinstance(exc, httpx.TransportError):
        return CallError("transport", redact(f"{type(exc).__name__}: {exc}", secret))
    return CallError("client", redact(f"{type(exc).__name__}: {exc}", secret))
