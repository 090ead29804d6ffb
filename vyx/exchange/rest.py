"""The REST API, sans I/O: routing, parameter checks, weights and Binance's error bodies.

Endpoints and weights (Binance spot docs as of 2024-2025; klines weigh a flat 2 on spot — the
limit-tiered 1/2/5/10 weights belong to the USDⓈ-M futures klines endpoint):

=============================  =============================================================
``GET /api/v3/ping``           1
``GET /api/v3/time``           1 (``serverTime`` is market time)
``GET /api/v3/exchangeInfo``   20 (``symbol=`` / ``symbols=[..]`` filter)
``GET /api/v3/ticker/24hr``    2 with ``symbol``; ``symbols``: 2 (1-20), 40 (21-100), 80; all: 80
``GET /api/v3/klines``         2; ``limit`` default 500, 1..1000 (else -1130)
=============================  =============================================================

Errors are HTTP 400 with ``{"code": -11xx, "msg": ...}`` bodies worded like Binance's; a restricted
location (:meth:`FaultControl.restrict`) is HTTP 451 with :data:`RESTRICTED_BODY` on every path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import parse_qsl

import attrs

from kernels.timeframes import TIMEFRAME_MS, timeframe_ms
from vyx.exchange.candles import fmt_decimal
from vyx.exchange.faults import FaultControl
from vyx.exchange.market import Market
from vyx.exchange.source import SymbolInfo
from vyx.exchange.weights import WeightLimiter

KLINES_WEIGHT = 2
EXCHANGE_INFO_WEIGHT = 20
MAX_KLINES_LIMIT = 1000
JSON_TYPE = "application/json;charset=UTF-8"
#: Binance's answer to a location it does not serve (HTTP 451), REST and stream handshake alike.
RESTRICTED_MSG = (
    "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you "
    "received this message in error."
)
RESTRICTED_BODY: dict[str, object] = {"code": 0, "msg": RESTRICTED_MSG}
_SERVER_ERRORS = {
    500: (-1000, "An unknown error occured while processing the request."),
    502: (-1001, "Internal error; unable to process your request. Please try again."),
    503: (-1008, "Server is currently overloaded with other requests. Please try again later."),
    504: (-1007, "Timeout waiting for response from backend server. Send status unknown."),
}


@attrs.frozen
class Response:
    """An HTTP response: status, JSON body, extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class ApiError(Exception):
    """A request Binance would refuse: HTTP ``status`` with a ``{"code","msg"}`` body."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _mandatory(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        msg = f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        raise ApiError(-1102, msg)
    return value


def _int_param(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 20:
        msg = f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        raise ApiError(-1100, msg)
    return int(value)


def _symbols_param(value: str) -> list[str]:
    try:
        names = json.loads(value)
    except ValueError:
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.")
    return names


class RestApi:
    """Answers REST requests from a :class:`Market`, charging ``limiter``, obeying ``faults``."""

    def __init__(self, market: Market, limiter: WeightLimiter, faults: FaultControl) -> None:
        self.market = market
        self.limiter = limiter
        self.faults = faults
        self._routes = {
            "/api/v3/ping": self._ping,
            "/api/v3/time": self._time,
            "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/ticker/24hr": self._ticker,
            "/api/v3/klines": self._klines,
        }

    def handle(
        self, method: str, path: str, query: str, ip: str, now: float, now_ms: int
    ) -> Response:
        """Answer one request from ``ip`` at trio time ``now`` / market time ``now_ms``."""
        if self.faults.take_restricted():
            return Response(451, _json(RESTRICTED_BODY))
        route = self._routes.get(path)
        if route is None:
            return Response(404, _json({"code": -1000, "msg": f"Unknown endpoint {path}."}))
        if method not in ("GET", "HEAD"):
            return Response(405, _json({"code": -1000, "msg": "Unsupported method."}))
        params = dict(parse_qsl(query, keep_blank_values=True))
        injected = self.faults.take_rest_failure()
        if injected is not None:
            status, retry_after = injected
            return self._failure(status, retry_after, ip, now, now_ms)
        try:
            weight, answer = route(params, now_ms)
        except ApiError as error:
            weight, answer = 1, error
        decision = self.limiter.charge(ip, weight, now)
        headers = (("X-MBX-USED-WEIGHT-1M", str(decision.used)),)
        if decision.status != 200:
            return self._failure(decision.status, decision.retry_after or 1, ip, now, now_ms)
        if isinstance(answer, ApiError):
            return Response(answer.status, _json({"code": answer.code, "msg": answer.msg}), headers)
        return Response(200, _json(answer), headers)

    def _failure(self, status: int, retry_after: int, ip: str, now: float, now_ms: int) -> Response:
        used = str(self.limiter.used(ip, now))
        headers = [("X-MBX-USED-WEIGHT-1M", used)]
        if status == 429:
            msg = (
                f"Too many requests; current limit of IP({ip}) request weight is "
                f"{self.limiter.limit} per minute. Please use WebSocket Streams for live updates "
                "to avoid polling the API."
            )
            body = {"code": -1003, "msg": msg}
        elif status == 418:
            until = now_ms + retry_after * 1000
            msg = (
                f"Way too much request weight used; IP banned until {until}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
            body = {"code": -1003, "msg": msg}
        else:
            code, msg = _SERVER_ERRORS.get(status, (-1000, "An unknown error occured."))
            body = {"code": code, "msg": msg}
        if status in (429, 418, 503):
            headers.append(("Retry-After", str(retry_after)))
        return Response(status, _json(body), tuple(headers))

    # -- endpoints: each returns (weight, JSON-able answer) --------------------------------------

    def _ping(self, params: dict[str, str], now_ms: int) -> tuple[int, object]:
        return 1, {}

    def _time(self, params: dict[str, str], now_ms: int) -> tuple[int, object]:
        return 1, {"serverTime": now_ms}

    def _symbol(self, name: str) -> SymbolInfo:
        info = self.market.symbols.get(name)
        if info is None:
            raise ApiError(-1121, "Invalid symbol.")
        return info

    def _selected(self, params: dict[str, str]) -> list[SymbolInfo] | None:
        if "symbol" in params and "symbols" in params:
            raise ApiError(-1101, "Parameter 'symbol' and 'symbols' was sent, but is prohibited.")
        if "symbol" in params:
            return [self._symbol(_mandatory(params, "symbol"))]
        if "symbols" in params:
            return [self._symbol(name) for name in _symbols_param(params["symbols"])]
        return None

    def _exchange_info(self, params: dict[str, str], now_ms: int) -> tuple[int, object]:
        selected = self._selected(params)
        infos = list(self.market.symbols.values()) if selected is None else selected
        return EXCHANGE_INFO_WEIGHT, exchange_info(infos, now_ms, self.limiter.limit)

    def _ticker(self, params: dict[str, str], now_ms: int) -> tuple[int, object]:
        selected = self._selected(params)
        infos = list(self.market.symbols.values()) if selected is None else selected
        tickers = [self.market.ticker(info.symbol, now_ms) for info in infos]
        bodies = [t.rest() for t in tickers if t is not None]
        if "symbol" in params:
            if not bodies:
                raise ApiError(-1121, "Invalid symbol.")
            return 2, bodies[0]
        n = len(infos)
        weight = 80 if selected is None or n > 100 else (40 if n > 20 else 2)
        return weight, bodies

    def _klines(self, params: dict[str, str], now_ms: int) -> tuple[int, object]:
        symbol = _mandatory(params, "symbol")
        interval = _mandatory(params, "interval")
        self._symbol(symbol)
        if interval not in TIMEFRAME_MS or timeframe_ms(interval) % self.market.base_ms:
            raise ApiError(-1120, "Invalid interval.")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = _int_param(params, "limit")
        if limit is None:
            limit = 500
        elif not 1 <= limit <= MAX_KLINES_LIMIT:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        if start is not None and end is not None and start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        klines = self.market.klines(
            symbol, interval, now_ms, start_ms=start, end_ms=end, limit=limit
        )
        return KLINES_WEIGHT, [k.rest_row() for k in klines]


def exchange_info(infos: Sequence[SymbolInfo], now_ms: int, weight_limit: int) -> dict[str, object]:
    """An ``/api/v3/exchangeInfo`` document shaped like Binance's (pre-2023 filter set)."""
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": weight_limit,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": [_symbol_info(info) for info in infos],
    }


def _symbol_info(info: SymbolInfo) -> dict[str, object]:
    tick, step = fmt_decimal(info.tick), fmt_decimal(info.step)
    return {
        "symbol": info.symbol,
        "status": info.status,
        "baseAsset": info.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": info.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "5",
                "multiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": step,
                "maxQty": "9000000.00000000",
                "stepSize": step,
            },
            {
                "filterType": "MIN_NOTIONAL",
                "minNotional": "10.00000000",
                "applyToMarket": True,
                "avgPriceMins": 5,
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100000.00000000",
                "stepSize": "0.00000000",
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": ["SPOT"],
    }
