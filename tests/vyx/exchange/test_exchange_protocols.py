"""Sans-IO protocol pieces: stream names, the SUBSCRIBE protocol, the weight limiter."""

from __future__ import annotations

import json

import pytest

from vyx.exchange.streams import StreamKey, Subscriptions, streams_from_path
from vyx.exchange.weights import WeightLimiter


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("btcusdt@kline_5m", StreamKey("BTCUSDT", "kline", "5m")),
        ("1inchusdt@ticker", StreamKey("1INCHUSDT", "ticker")),
        ("btcusdt@kline_1M", None),  # monthly bars are not simulated
        ("BTCUSDT@kline_5m", None),  # stream names are lowercase
        ("btcusdt@depth", None),
    ],
)
def test_stream_names(name: str, key: StreamKey | None) -> None:
    assert StreamKey.parse(name) == key
    if key is not None:
        assert key.name == name


def test_paths() -> None:
    assert streams_from_path("/stream", "streams=a@ticker/b@kline_1m") == (
        True,
        ["a@ticker", "b@kline_1m"],
    )
    assert streams_from_path("/ws/a@ticker", "") == (False, ["a@ticker"])
    assert streams_from_path("/ws", "") == (False, [])
    assert streams_from_path("/other", "") is None


def reply(subs: Subscriptions, message: object, now: float = 0.0) -> object:
    outcome = subs.handle(json.dumps(message), now)
    assert outcome.reply is not None
    return json.loads(outcome.reply)


def test_subscribe_protocol_replies() -> None:
    subs = Subscriptions()
    assert reply(subs, {"method": "SUBSCRIBE", "params": ["a@ticker"], "id": 1}) == {
        "result": None,
        "id": 1,
    }
    subs = Subscriptions()
    listing = reply(subs, {"method": "LIST_SUBSCRIPTIONS", "id": "x"})
    assert listing == {"result": [], "id": "x"}
    errors = [
        {"method": "SUBSCRIBE", "params": ["A@TICKER"], "id": 2},
        {"method": "SUBSCRIBE", "params": "a@ticker", "id": 3},
        {"method": "SUBSCRIBE", "params": [], "id": -1},
        {"method": "FLY", "id": 4},
        {"params": [], "id": 5},
    ]
    for message in errors:
        body = reply(Subscriptions(), message)
        assert isinstance(body, dict)
        assert body["error"]["code"] == 2
    outcome = Subscriptions().handle("{nope", 0.0)
    assert outcome.reply is not None
    assert json.loads(outcome.reply)["error"]["code"] == 3


def test_stream_limit_per_connection() -> None:
    subs = Subscriptions(max_streams=3)
    assert subs.add(["a@ticker", "b@ticker"])
    body = reply(subs, {"method": "SUBSCRIBE", "params": ["c@ticker", "d@ticker"], "id": 1})
    assert isinstance(body, dict)
    assert "error" in body
    assert list(subs.streams) == ["a@ticker", "b@ticker"]
    assert subs.add(["a@ticker", "c@ticker"])  # a duplicate does not count twice


def test_message_rate_limit() -> None:
    subs = Subscriptions(max_messages_per_s=5)
    for i in range(5):
        assert subs.handle('{"method":"LIST_SUBSCRIPTIONS","id":1}', i * 0.01).close_code is None
    assert subs.handle('{"method":"LIST_SUBSCRIPTIONS","id":1}', 0.5).close_code == 1008
    spaced = Subscriptions(max_messages_per_s=5)
    assert all(spaced.handle("{}", i * 0.21).close_code is None for i in range(50))


def test_weight_windows_reset_and_bans_escalate() -> None:
    limiter = WeightLimiter(limit=10, window_s=60, ban_s=120)
    assert limiter.charge("a", 10, 1.0).status == 200
    over = limiter.charge("a", 1, 2.0)
    assert (over.status, over.retry_after, over.used) == (429, 58, 11)
    assert limiter.charge("b", 10, 2.0).status == 200  # per IP
    assert limiter.charge("a", 1, 60.5).status == 200  # backed off: new window
    assert limiter.used("a", 61.0) == 1
    assert limiter.charge("a", 10, 61.0).status == 429
    first_ban = limiter.charge("a", 1, 62.0)
    assert (first_ban.status, first_ban.retry_after) == (418, 120)
    assert limiter.charge("a", 1, 100.0).status == 418
    assert limiter.charge("a", 11, 200.0).status == 429
    assert limiter.charge("a", 1, 201.0).retry_after == 240
