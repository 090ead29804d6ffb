"""Binance REST market data over httpx: exchangeInfo, 24 h tickers, klines.

Every request reserves its weight in the :class:`~vyx.market.weight.WeightBudget` first and
updates it from ``X-MBX-USED-WEIGHT-1M`` afterwards. A 429 waits ``Retry-After`` and retries;
a 418 (IP ban) stops all REST calls until the ban ends and is reported loudly (log and
statistics); timeouts, transport errors and 5xx are retried with backoff, a few times. A 451
(Binance refuses the caller's location) is final: it is never retried, and the client sends no
request after it (:class:`RestRestricted` at once).

Exceptions::

    RestError                 any REST failure
     ├── RestBanned           418: REST is stopped until ``banned_until``
     ├── RestRestricted       451: Binance does not serve this location; REST is stopped for good
     └── RestUnavailable      retries exhausted (5xx, timeouts, transport errors) or a 4xx
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import orjson
import trio
from loguru import logger

from vyx.market.restriction import is_restricted, refusal_reason
from vyx.market.weight import WeightBudget
from vyx.retry import Backoff, parse_retry_after

#: Real Binance spot REST (``BINANCE_REST_URL``).
DEFAULT_REST_URL = "https://api.binance.com"
#: Binance's most klines per request.
MAX_KLINES = 1000

#: Request weights (Binance spot, 2024).
WEIGHT_EXCHANGE_INFO = 20
WEIGHT_TICKER_ALL = 80
WEIGHT_KLINES = 2
WEIGHT_TIME = 1


class RestError(Exception):
    """A REST request failed."""


class RestBanned(RestError):
    """The IP is banned (HTTP 418); no REST request is sent until :attr:`banned_until`."""

    def __init__(self, message: str, banned_until: float) -> None:
        super().__init__(message)
        self.banned_until = banned_until


class RestRestricted(RestError):
    """Binance refuses this location (HTTP 451): no REST request is sent after it.

    Attributes:
        where: the request that was refused (path).
        reason: Binance's ``msg`` (or the start of the body), for the log.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"HTTP 451 on {where}: {reason}")
        self.where, self.reason = where, reason


class RestUnavailable(RestError):
    """The request could not be completed (after retries for transient failures)."""


@attrs.frozen
class RestConfig:
    """REST client settings."""

    base_url: str = DEFAULT_REST_URL
    #: Per-request deadline (seconds), applied at the call site.
    timeout_s: float = 10.0
    #: Attempts for transient failures (5xx, timeouts, transport errors, 429).
    max_attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    backoff: Backoff = attrs.field(factory=lambda: Backoff(initial=0.5, maximum=30.0))
    weight_limit: int = 6000
    weight_headroom: float = 0.8
    #: Ban length assumed when a 418 carries no Retry-After.
    default_ban_s: float = 300.0


@attrs.frozen
class RestStatistics:
    """A snapshot of the REST client's counters."""

    #: Requests sent (each attempt counts).
    requests: int
    #: Weight the server last reported for the current minute (plus our reservations since).
    weight_used: int
    #: The per-minute weight limit in force.
    weight_limit: int
    #: Seconds spent waiting for the weight budget.
    weight_wait_s: float
    #: 429 answers received.
    rate_limited: int
    #: 418 answers received.
    bans: int
    #: Trio time until which REST is stopped (a 418); None when not banned.
    banned_until: float | None
    #: Failed attempts retried (5xx, timeouts, transport errors).
    retries: int
    #: "ok", "rate_limited", "banned" or "restricted" (HTTP 451: stopped for good).
    state: str


class RestClient:
    """Binance market-data REST calls with weight budgeting, 429/418 handling and retries.

    Args:
        cfg: settings (base URL, timeouts, weight limit).
        transport: an httpx transport; tests pass :class:`httpx.MockTransport`.
        on_failure: told of every failed attempt that is retried (what failed), so a caller
            can say the exchange is unreachable before the retries run out.
    """

    def __init__(
        self,
        cfg: RestConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self._on_failure = on_failure
        self._http = httpx.AsyncClient(base_url=cfg.base_url, transport=transport, timeout=None)
        self._budget = WeightBudget(limit=cfg.weight_limit, headroom=cfg.weight_headroom)
        self._requests = 0
        self._weight_wait = 0.0
        self._rate_limited = 0
        self._bans = 0
        self._retries = 0
        self._banned_until: float | None = None
        #: (path, reason) of the 451 that stopped this client.
        self._restricted: tuple[str, str] | None = None
        self._retry_after_until = -math.inf

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        with trio.move_on_after(5) as scope:
            scope.shield = True
            await self.aclose()

    def set_weight_limit(self, limit: int) -> None:
        """Use the limit announced by ``exchangeInfo.rateLimits``."""
        self._budget = attrs.evolve(self._budget, limit=limit)

    def restrict(self, where: str, reason: str) -> None:
        """Send nothing more: Binance refused this location (also seen on a stream handshake)."""
        if self._restricted is None:
            self._restricted = (where, reason)

    @property
    def banned(self) -> bool:
        """True while a 418 ban is in force."""
        return self._banned_until is not None and trio.current_time() < self._banned_until

    def statistics(self) -> RestStatistics:
        """Counters and the current weight/ban state."""
        now = trio.current_time()
        if self._restricted is not None:
            state = "restricted"
        elif self.banned:
            state = "banned"
        elif now < self._retry_after_until:
            state = "rate_limited"
        else:
            state = "ok"
        return RestStatistics(
            requests=self._requests,
            weight_used=self._budget.current(now),
            weight_limit=self._budget.limit,
            weight_wait_s=self._weight_wait,
            rate_limited=self._rate_limited,
            bans=self._bans,
            banned_until=self._banned_until if self.banned else None,
            retries=self._retries,
            state=state,
        )

    # -- endpoints -----------------------------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        """``GET /api/v3/exchangeInfo``."""
        body = await self.get_json("/api/v3/exchangeInfo", {}, WEIGHT_EXCHANGE_INFO)
        if not isinstance(body, dict):
            raise RestUnavailable("exchangeInfo is not a JSON object")
        return body

    async def tickers_24hr(self) -> list[dict[str, Any]]:
        """``GET /api/v3/ticker/24hr`` for every symbol."""
        body = await self.get_json("/api/v3/ticker/24hr", {}, WEIGHT_TICKER_ALL)
        if not isinstance(body, list):
            raise RestUnavailable("ticker/24hr is not a JSON array")
        return [row for row in body if isinstance(row, dict)]

    async def server_time(self) -> int:
        """``GET /api/v3/time``: the exchange's clock now (epoch ms)."""
        body = await self.get_json("/api/v3/time", {}, WEIGHT_TIME)
        value = body.get("serverTime") if isinstance(body, dict) else None
        if type(value) is not int:
            raise RestUnavailable("time has no integer serverTime")
        return value

    async def klines(
        self,
        symbol: str,
        timeframe: str,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = MAX_KLINES,
    ) -> list[list[Any]]:
        """``GET /api/v3/klines`` rows, oldest first (at most :data:`MAX_KLINES`)."""
        params: dict[str, str | int] = {
            "symbol": symbol,
            "interval": timeframe,
            "limit": min(limit, MAX_KLINES),
        }
        if start_time is not None:
            params["startTime"] = start_time
        if end_time is not None:
            params["endTime"] = end_time
        body = await self.get_json("/api/v3/klines", params, WEIGHT_KLINES)
        if not isinstance(body, list):
            raise RestUnavailable(f"klines for {symbol} {timeframe} is not a JSON array")
        return body

    # -- the request loop ------------------------------------------------------------------------

    async def get_json(self, path: str, params: Mapping[str, str | int], weight: int) -> Any:
        """GET ``path`` and decode JSON, with budget, 429/418 handling and retries.

        Raises :class:`RestBanned` at once while banned, :class:`RestRestricted` on a 451 and
        at once after one, :class:`RestUnavailable` when retries are exhausted. Cancellation
        aborts the request.
        """
        backoff = self.cfg.backoff
        for attempt in range(1, self.cfg.max_attempts + 1):
            self._check_ban()
            # A 429 holds back every request of this client, not only the one that got it.
            await trio.sleep_until(self._retry_after_until)
            wait, self._budget = self._budget.reserve(weight, trio.current_time())
            if wait > 0:
                logger.info("REST weight budget near its limit: waiting {:.1f}s", wait)
                self._weight_wait += wait
                await trio.sleep(wait)
                self._check_ban()
            self._requests += 1
            try:
                with trio.fail_after(self.cfg.timeout_s):
                    response = await self._http.get(path, params=dict(params))
                    content = await response.aread()
            except (trio.TooSlowError, httpx.TransportError) as exc:
                failure = f"{path}: {type(exc).__name__} {exc}".strip()
            else:
                self._observe_weight(response)
                status = response.status_code
                if status == 200:
                    try:
                        return _decode(response, content)
                    except ValueError:
                        failure = f"{path}: body is not JSON"
                elif is_restricted(status, content):
                    self._restricted = (path, refusal_reason(content))
                    raise RestRestricted(*self._restricted)
                elif status == 418:
                    self._ban(response, path)
                elif status == 429:
                    self._rate_limited += 1
                    delay = parse_retry_after(response.headers.get("retry-after"), default=60.0)
                    until = trio.current_time() + delay
                    self._retry_after_until = max(self._retry_after_until, until)
                    logger.warning("REST 429 on {}: waiting Retry-After {:.0f}s", path, delay)
                    continue
                elif status >= 500:
                    failure = f"{path}: HTTP {status}"
                else:
                    raise RestUnavailable(f"{path} {dict(params)}: HTTP {status} {content[:200]!r}")
            if attempt == self.cfg.max_attempts:
                raise RestUnavailable(f"{failure} (after {attempt} attempts)")
            self._retries += 1
            delay = backoff.delay()
            if self._on_failure is not None:
                self._on_failure(f"{failure}; retrying in {delay:.1f}s")
            await trio.sleep(delay)
            backoff = backoff.failed()
        raise RestUnavailable(f"{path}: still rate limited after {self.cfg.max_attempts} attempts")

    def _check_ban(self) -> None:
        if self._restricted is not None:
            raise RestRestricted(*self._restricted)
        if self._banned_until is not None and self.banned:
            raise RestBanned("REST is stopped: the IP is banned (HTTP 418)", self._banned_until)

    def _ban(self, response: httpx.Response, path: str) -> None:
        self._bans += 1
        duration = parse_retry_after(
            response.headers.get("retry-after"), default=self.cfg.default_ban_s
        )
        self._banned_until = trio.current_time() + duration
        logger.error(
            "Binance banned this IP (HTTP 418 on {}): REST stopped for {:.0f}s", path, duration
        )
        raise RestBanned(f"HTTP 418 on {path}: banned for {duration:.0f}s", self._banned_until)

    def _observe_weight(self, response: httpx.Response) -> None:
        raw = response.headers.get("x-mbx-used-weight-1m")
        if raw is None:
            return
        try:
            used = int(raw)
        except ValueError:
            return
        self._budget = self._budget.observe(used, trio.current_time())


def _decode(response: httpx.Response, content: bytes) -> Any:
    """The JSON body (None when empty): orjson for UTF-8 (a backfill decodes megabytes),
    httpx's own decoding for anything orjson refuses (another charset); raises ValueError."""
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return response.json()
