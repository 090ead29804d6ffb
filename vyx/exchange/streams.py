"""The WebSocket market-stream protocol, sans I/O: stream names, subscriptions, limits, frames.

Binance rules modelled (spot "WebSocket Streams" docs):

- combined streams at ``/stream?streams=a/b/c`` (frames wrapped as ``{"stream":..,"data":..}``),
  raw streams at ``/ws/<name>`` (frames unwrapped); both accept ``SUBSCRIBE`` / ``UNSUBSCRIBE`` /
  ``LIST_SUBSCRIPTIONS`` messages, answered ``{"result":null,"id":N}`` (the list for
  ``LIST_SUBSCRIPTIONS``); malformed requests get ``{"error":{"code":..,"msg":..},"id":..}``;
- stream names are lowercase; a well-formed name of an unknown symbol is accepted and stays silent,
  as on Binance;
- at most ``max_streams`` (1024) streams per connection: a URL with more is refused (HTTP 400), a
  SUBSCRIBE that would exceed it gets an error reply and changes nothing;
- at most ``max_messages_per_s`` (5) incoming messages per second: the message that exceeds it
  closes the connection (code 1008). Only text messages count here; ping/pong frames are handled
  by the server library and cannot be seen.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

import attrs

from kernels.timeframes import TIMEFRAME_MS

_NAME = re.compile(r"^([a-z0-9]+)@(?:kline_([0-9]+[smhdwM])|(ticker))$")
CLOSE_POLICY = 1008


@attrs.frozen
class StreamKey:
    """A stream the exchange feeds: ``kind`` ``"kline"`` (with ``interval``) or ``"ticker"``."""

    symbol: str
    kind: str
    interval: str | None = None

    @classmethod
    def parse(cls, name: str) -> StreamKey | None:
        """The key of a stream name (``btcusdt@kline_5m``), None when it is not one we serve."""
        match = _NAME.match(name)
        if match is None:
            return None
        symbol, interval, ticker = match.groups()
        if ticker:
            return cls(symbol.upper(), "ticker")
        if interval not in TIMEFRAME_MS:
            return None
        return cls(symbol.upper(), "kline", interval)

    @property
    def name(self) -> str:
        """The stream name."""
        suffix = "ticker" if self.kind == "ticker" else f"kline_{self.interval}"
        return f"{self.symbol.lower()}@{suffix}"


def dumps(obj: Any) -> str:
    """Compact JSON, as Binance sends it."""
    return json.dumps(obj, separators=(",", ":"))


def combined_frame(stream: str, data_json: str) -> str:
    """Wrap an already-encoded payload as a combined-stream frame (no re-encoding)."""
    return f'{{"stream":"{stream}","data":{data_json}}}'


def valid_name(name: object) -> bool:
    """Whether Binance would accept ``name`` in SUBSCRIBE (lowercase ``<sym>@<what>``)."""
    return isinstance(name, str) and re.fullmatch(r"[a-z0-9]+@[a-z0-9_@]+", name) is not None


@attrs.frozen
class StreamReply:
    """What to do after one incoming message: ``reply`` to send, then maybe close."""

    reply: str | None = None
    close_code: int | None = None
    close_reason: str = ""


def _error(code: int, msg: str, request_id: object = None) -> str:
    return dumps({"error": {"code": code, "msg": msg}, "id": request_id})


@attrs.define
class Subscriptions:
    """One connection's subscriptions and incoming-message rate (trio seconds)."""

    max_streams: int = 1024
    max_messages_per_s: int = 5
    streams: dict[str, StreamKey | None] = attrs.field(factory=dict)
    _recent: deque[float] = attrs.field(factory=deque, init=False)

    def add(self, names: list[str]) -> bool:
        """Subscribe to ``names`` (kept in order, duplicates ignored); False if over the limit."""
        new = [n for n in dict.fromkeys(names) if n not in self.streams]
        if len(self.streams) + len(new) > self.max_streams:
            return False
        for name in new:
            self.streams[name] = StreamKey.parse(name)
        return True

    def remove(self, names: list[str]) -> None:
        """Unsubscribe from ``names`` (unknown ones ignored)."""
        for name in names:
            self.streams.pop(name, None)

    def fed(self) -> list[StreamKey]:
        """The fed streams among the subscriptions."""
        return [key for key in self.streams.values() if key is not None]

    def handle(self, text: str, now: float) -> StreamReply:
        """Apply one incoming text message received at trio time ``now``."""
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) > self.max_messages_per_s:
            return StreamReply(close_code=CLOSE_POLICY, close_reason="Too many messages")
        try:
            request = json.loads(text)
        except ValueError:
            return StreamReply(_error(3, "Invalid JSON: expected value at line 1 column 1"))
        if not isinstance(request, dict):
            return StreamReply(_error(2, "Invalid request: expected an object"))
        request_id = request.get("id")
        if not (request_id is None or isinstance(request_id, str)) and not (
            isinstance(request_id, int) and not isinstance(request_id, bool) and request_id >= 0
        ):
            return StreamReply(_error(2, "Invalid request: request ID must be an unsigned integer"))
        method = request.get("method")
        if method is None:
            return StreamReply(_error(2, "Invalid request: missing field `method`", request_id))
        params = request.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(valid_name(p) for p in params):
                return StreamReply(_error(2, "Invalid request: invalid stream name", request_id))
            if method == "UNSUBSCRIBE":
                self.remove(params)
            elif not self.add(params):
                msg = f"Invalid request: a connection can have at most {self.max_streams} streams"
                return StreamReply(_error(2, msg, request_id))
            return StreamReply(dumps({"result": None, "id": request_id}))
        if method == "LIST_SUBSCRIPTIONS":
            return StreamReply(dumps({"result": list(self.streams), "id": request_id}))
        variants = "SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"
        return StreamReply(
            _error(2, f"Invalid request: unknown variant {method}, expected one of {variants}")
        )


def streams_from_path(path: str, query: str) -> tuple[bool, list[str]] | None:
    """``(combined, names)`` for a WebSocket request path, None if it is not a stream endpoint."""
    if path == "/stream":
        from urllib.parse import parse_qs

        values = parse_qs(query).get("streams", [])
        names = [n for v in values for n in v.split("/") if n]
        return True, names
    if path in ("/ws", "/ws/"):
        return False, []
    if path.startswith("/ws/"):
        return False, [n for n in path[len("/ws/") :].split("/") if n]
    return None


#: Frames sent by ``send_malformed``: broken JSON, non-objects, wrong shapes and types.
MALFORMED_FRAMES = (
    '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":16',
    "this is not json",
    "[]",
    '{"stream":"btcusdt@kline_1m"}',
    '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":null}}',
    '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":"x","s":"BTCUSDT",'
    '"k":{"t":"soon","T":null,"o":5,"c":[],"x":"yes"}}}',
    '{"stream":42,"data":"kline"}',
)
