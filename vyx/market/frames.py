"""Binance wire formats, parsed without I/O.

:func:`parse_frame` turns one WebSocket message of a combined stream into an event:

- :class:`Kline` — ``<sym>@kline_<tf>`` (``x: true`` marks the closed candle);
- :class:`Ticker` — ``<sym>@ticker`` (24 h rolling window statistics);
- :class:`ServerShutdown` — the server announces it will close the connection soon;
- :class:`SubscriptionReply` — the answer to a SUBSCRIBE/UNSUBSCRIBE request;
- :class:`OtherStream` — a well-formed frame of a stream this client does not interpret.

Anything else raises :class:`FrameError`, which the connection counts and skips. REST klines
(12-element arrays) parse with :meth:`Kline.from_rest`.

Bar values are kept in :data:`kernels.ring.FIELDS` order, ready for :meth:`RingBuffer.append`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import orjson

from kernels.timeframes import TIMEFRAME_MS, bar_open


class FrameError(ValueError):
    """A malformed or unexpected frame; the message names what was wrong."""


def _num(obj: dict[str, Any], key: str) -> float:
    """A finite float from a decimal string (or number) field ``key``."""
    raw = _field(obj, key)
    kind = type(raw)
    if kind is not str and kind is not int and kind is not float:
        raise FrameError(f"field {key!r} is not a number: {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise FrameError(f"field {key!r} is not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise FrameError(f"field {key!r} is not finite: {raw!r}")
    return value


def _field(obj: dict[str, Any], key: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise FrameError(f"missing field {key!r}") from None


def _int(obj: dict[str, Any], key: str) -> int:
    raw = _field(obj, key)
    if type(raw) is not int:
        raise FrameError(f"field {key!r} is not an integer: {raw!r}")
    return raw


def _str(obj: dict[str, Any], key: str) -> str:
    raw = _field(obj, key)
    if type(raw) is not str or not raw:
        raise FrameError(f"field {key!r} is not a non-empty string: {raw!r}")
    return raw


def _timeframe_ms(interval: str) -> int:
    try:
        return TIMEFRAME_MS[interval]
    except KeyError:
        raise FrameError(f"unsupported kline interval {interval!r}") from None


@attrs.frozen(slots=True)
class Kline:
    """One candle, forming or closed."""

    symbol: str
    timeframe: str
    open_time: int
    #: True for the final state of the candle (``x: true``, or any REST row known to be closed).
    closed: bool
    #: open, high, low, close, volume, quote_volume, trades, taker_buy_volume.
    values: tuple[float, float, float, float, float, float, float, float]
    #: Event time of the frame (ms), 0 for REST rows.
    event_time: int = 0

    @property
    def close(self) -> float:
        """Close (last) price."""
        return self.values[3]

    @classmethod
    def from_binance(cls, k: dict[str, Any], event_time: int = 0) -> Kline:
        """The ``k`` object of a kline frame; raises :class:`FrameError`."""
        interval = _str(k, "i")
        _timeframe_ms(interval)
        open_time = _int(k, "t")
        if open_time < 0 or bar_open(interval, open_time) != open_time:
            raise FrameError(f"open time {open_time} is not on a {interval} boundary")
        closed = k.get("x")
        if not isinstance(closed, bool):
            raise FrameError(f"field 'x' is not a boolean: {closed!r}")
        values = (
            _num(k, "o"),
            _num(k, "h"),
            _num(k, "l"),
            _num(k, "c"),
            _num(k, "v"),
            _num(k, "q"),
            float(_int(k, "n")),
            _num(k, "V"),
        )
        return cls(_str(k, "s"), interval, open_time, closed, values, event_time)

    @classmethod
    def from_rest(cls, row: Any, symbol: str, timeframe: str) -> Kline:
        """One row of ``/api/v3/klines`` (marked closed; the caller drops forming rows)."""
        if type(row) is list and len(row) >= 11:
            # A backfill is tens of thousands of rows: Binance's shape takes the fast path.
            t, o, h, lo, c, v, _, q, n, tb = row[:10]
            if type(t) is int and type(n) is int:
                try:
                    values = _bar_values(o, h, lo, c, v, q, n, tb)
                except ValueError:
                    values = None
                if values is not None:
                    return cls(symbol, timeframe, t, True, values)
        return cls._from_rest_checked(row, symbol, timeframe)

    @classmethod
    def _from_rest_checked(cls, row: Any, symbol: str, timeframe: str) -> Kline:
        if not isinstance(row, list) or len(row) < 11:
            raise FrameError(f"kline row is not a 12-element array: {row!r}")
        open_time, o, h, lo, c, v, _, q, n, tb = row[:10]
        fields = {"t": open_time, "o": o, "h": h, "l": lo, "c": c, "v": v, "q": q, "n": n, "V": tb}
        values = (
            _num(fields, "o"),
            _num(fields, "h"),
            _num(fields, "l"),
            _num(fields, "c"),
            _num(fields, "v"),
            _num(fields, "q"),
            float(_int(fields, "n")),
            _num(fields, "V"),
        )
        return cls(symbol, timeframe, _int(fields, "t"), True, values)


@attrs.frozen(slots=True)
class Ticker:
    """24 h rolling-window statistics of one symbol (``<sym>@ticker`` or ``/ticker/24hr``)."""

    symbol: str
    last_price: float
    #: Price change over 24 h in percent.
    change_pct: float
    #: Traded quote volume over 24 h.
    quote_volume: float
    #: Event time (stream) or close time (REST), ms.
    event_time: int

    @classmethod
    def from_binance(cls, data: dict[str, Any]) -> Ticker:
        """A ``24hrTicker`` stream payload; raises :class:`FrameError`."""
        return cls(
            _str(data, "s"), _num(data, "c"), _num(data, "P"), _num(data, "q"), _int(data, "E")
        )

    @classmethod
    def from_rest(cls, row: dict[str, Any]) -> Ticker:
        """One element of ``/api/v3/ticker/24hr``; raises :class:`FrameError`."""
        if not isinstance(row, dict):
            raise FrameError(f"ticker is not an object: {row!r}")
        close_time = row.get("closeTime", 0)
        return cls(
            _str(row, "symbol"),
            _num(row, "lastPrice"),
            _num(row, "priceChangePercent"),
            _num(row, "quoteVolume"),
            close_time if isinstance(close_time, int) else 0,
        )


@attrs.frozen(slots=True)
class ServerShutdown:
    """The server will close this connection soon: rotate to a new one now."""

    event_time: int


@attrs.frozen(slots=True)
class SubscriptionReply:
    """Reply to a SUBSCRIBE/UNSUBSCRIBE request; ``error`` is None on success."""

    id: int | None
    error: str | None


@attrs.frozen(slots=True)
class OtherStream:
    """A well-formed combined-stream frame of a stream kind this client ignores."""

    stream: str


Event = Kline | Ticker | ServerShutdown | SubscriptionReply | OtherStream


_NUMBER_TYPES = (str, int, float)


def _finite(raw: list[Any]) -> list[float] | None:
    """``raw`` as finite floats (None: one is not a finite number)."""
    for x in raw:
        if type(x) not in _NUMBER_TYPES:
            return None
    out = [float(x) for x in raw]  # a bad string raises ValueError: the checked path reports
    return out if all(map(math.isfinite, out)) else None


BarValues = tuple[float, float, float, float, float, float, float, float]


def _bar_values(
    o: object, h: object, lo: object, c: object, v: object, q: object, n: int, tb: object
) -> BarValues | None:
    """A bar's values in :data:`kernels.ring.FIELDS` order from Binance's fields (``n`` the
    trade count); None unless all are finite numbers. A bad string raises ValueError.

    Binance's are decimal strings: when all seven are, they are converted without a check each
    and one sum tells whether all are finite (NaN or an infinity makes it NaN; a sum that
    overflows only sends the bar to the checked parser, which gives the same values).
    """
    if (
        type(o) is str
        and type(h) is str
        and type(lo) is str
        and type(c) is str
        and type(v) is str
        and type(q) is str
        and type(tb) is str
    ):
        values = (float(o), float(h), float(lo), float(c), float(v), float(q), float(n), float(tb))
        total = sum(values)
        return values if total - total == 0.0 else None
    f = _finite([o, h, lo, c, v, q, tb])
    return None if f is None else (f[0], f[1], f[2], f[3], f[4], f[5], float(n), f[6])


def _symbol_ok(symbol: object, event_time: object) -> bool:
    return type(symbol) is str and bool(symbol) and type(event_time) is int


def _fast_kline(stream: object, data: dict[str, Any]) -> Kline | None:
    """A well-formed kline frame's :class:`Kline` (None: let the checked parser say why)."""
    k = data["k"]
    symbol, interval, open_time, closed, trades = k["s"], k["i"], k["t"], k["x"], k["n"]
    event_time = data.get("E", 0)
    if not (
        _symbol_ok(symbol, event_time)
        and type(open_time) is int
        and type(closed) is bool
        and type(trades) is int
        and data.get("s") == symbol
        and open_time >= 0
        and stream == f"{symbol.lower()}@kline_{interval}"
        and interval in TIMEFRAME_MS
        and bar_open(interval, open_time) == open_time
    ):
        return None
    values = _bar_values(k["o"], k["h"], k["l"], k["c"], k["v"], k["q"], trades, k["V"])
    if values is None:
        return None
    return Kline(symbol, interval, open_time, closed, values, event_time)


def _fast_ticker(stream: object, data: dict[str, Any]) -> Ticker | None:
    """A well-formed ticker frame's :class:`Ticker` (None: let the checked parser say why)."""
    symbol, event_time = data["s"], data["E"]
    if not (_symbol_ok(symbol, event_time) and stream == f"{symbol.lower()}@ticker"):
        return None
    v = _finite([data["c"], data["P"], data["q"]])
    return None if v is None else Ticker(symbol, v[0], v[1], v[2], event_time)


def parse_frame(raw: bytes | str) -> Event:
    """Parse one WebSocket message; raises :class:`FrameError` for anything malformed."""
    # The hot path: well-formed kline and ticker frames (all but a few frames a day), decoded
    # by orjson and checked inline. Anything it does not accept takes the checked path (the
    # standard library's decoder), which names the problem.
    try:
        msg = orjson.loads(raw)
        data = msg["data"]
        kind = data["e"]
        fast = (
            _fast_kline(msg["stream"], data)
            if kind == "kline"
            else _fast_ticker(msg["stream"], data)
            if kind == "24hrTicker"
            else None
        )
    except Exception:  # any surprise is the checked parser's to report
        fast = None
    if fast is not None:
        return fast
    return _parse_checked(raw)


def _parse_checked(raw: bytes | str) -> Event:
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise FrameError(f"frame is not a JSON object: {type(msg).__name__}")
    if "stream" not in msg:
        if "id" in msg and ("result" in msg or "error" in msg):
            return _reply(msg)
        if msg.get("e") == "serverShutdown":
            return ServerShutdown(_event_time(msg))
        raise FrameError(f"unknown frame with keys {sorted(msg)}")
    stream = msg["stream"]
    data = msg.get("data")
    if not isinstance(stream, str) or not isinstance(data, dict):
        raise FrameError("combined frame without a string 'stream' and an object 'data'")
    kind = data.get("e")
    if kind == "kline":
        k = data.get("k")
        if not isinstance(k, dict):
            raise FrameError("kline frame without a 'k' object")
        kline = Kline.from_binance(k, _event_time(data))
        expected = f"{kline.symbol.lower()}@kline_{kline.timeframe}"
        if stream != expected or data.get("s") != kline.symbol:
            raise FrameError(f"kline for {kline.symbol} {kline.timeframe} on stream {stream!r}")
        return kline
    if kind == "24hrTicker":
        ticker = Ticker.from_binance(data)
        if stream != f"{ticker.symbol.lower()}@ticker":
            raise FrameError(f"ticker for {ticker.symbol} on stream {stream!r}")
        return ticker
    if kind == "serverShutdown":
        return ServerShutdown(_event_time(data))
    if "@kline_" in stream or stream.endswith("@ticker"):
        raise FrameError(f"stream {stream!r} carries event type {kind!r}")
    return OtherStream(stream)


def _event_time(obj: dict[str, Any]) -> int:
    t = obj.get("E", 0)
    if isinstance(t, bool) or not isinstance(t, int):
        raise FrameError(f"field 'E' is not an integer: {t!r}")
    return t


def _reply(msg: dict[str, Any]) -> SubscriptionReply:
    rid = msg["id"]
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int)):
        raise FrameError(f"reply id is not an integer: {rid!r}")
    error = msg.get("error")
    if error is None:
        return SubscriptionReply(rid, None)
    text = error.get("msg", error) if isinstance(error, dict) else error
    return SubscriptionReply(rid, str(text))


def kline_stream(symbol: str, timeframe: str) -> str:
    """The combined-stream name of a symbol's klines, e.g. ``btcusdt@kline_5m``."""
    return f"{symbol.lower()}@kline_{timeframe}"


def ticker_stream(symbol: str) -> str:
    """The combined-stream name of a symbol's 24 h ticker, e.g. ``btcusdt@ticker``."""
    return f"{symbol.lower()}@ticker"


def subscribe_message(
    streams: list[str] | tuple[str, ...], request_id: int, *, on: bool = True
) -> str:
    """A SUBSCRIBE (or UNSUBSCRIBE when ``on`` is False) request as JSON text."""
    method = "SUBSCRIBE" if on else "UNSUBSCRIBE"
    return json.dumps({"method": method, "params": list(streams), "id": request_id})
