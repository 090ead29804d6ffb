"""Parsing of real recorded Binance frames and of malformed ones."""

from __future__ import annotations

import contextlib
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vyx.market.frames import (
    FrameError,
    Kline,
    OtherStream,
    ServerShutdown,
    SubscriptionReply,
    Ticker,
    _parse_checked,
    parse_frame,
    subscribe_message,
)

WS = Path("binance") / "ws"


def _kline_records(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_data / WS / "binance_kline_1m_combined_stream_messages_cryptofeed.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_recorded_spot_kline_frame_parses(shared_data: Path) -> None:
    records = _kline_records(shared_data)
    spot = [r for r in records if r["venue"] == "spot"]
    assert len(spot) >= 150
    closed = 0
    for record in spot:
        msg = record["msg"]
        event = parse_frame(json.dumps(msg).encode())
        assert isinstance(event, Kline)
        k = msg["data"]["k"]
        assert event.symbol == k["s"] == msg["data"]["s"]
        assert event.timeframe == "1m"
        assert event.open_time == k["t"]
        assert event.closed is k["x"]
        assert event.event_time == msg["data"]["E"]
        assert event.values == (
            float(k["o"]),
            float(k["h"]),
            float(k["l"]),
            float(k["c"]),
            float(k["v"]),
            float(k["q"]),
            float(k["n"]),
            float(k["V"]),
        )
        assert event.values[2] <= min(event.values[0], event.values[3])
        assert event.values[1] >= max(event.values[0], event.values[3])
        closed += event.closed
    assert closed >= 1


def test_other_venues_parse_or_fail_cleanly(shared_data: Path) -> None:
    for record in _kline_records(shared_data):
        if record["venue"] == "spot":
            continue
        try:
            event = parse_frame(json.dumps(record["msg"]))
        except FrameError:
            continue
        assert isinstance(event, Kline)


def test_raw_spot_capture_dispatches_every_message(shared_data: Path) -> None:
    path = shared_data / WS / "binance_spot_combined_stream_raw_capture_2021-10-12_cryptofeed.txt"
    lines = [line for line in path.read_text().splitlines()[1:] if line.strip()]
    kinds: dict[type, int] = {}
    for line in lines:
        _, _, message = line.partition(": ")
        event = parse_frame(message)
        kinds[type(event)] = kinds.get(type(event), 0) + 1
        if isinstance(event, Kline):
            assert event.symbol in {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
    assert kinds[Kline] >= 2
    assert kinds[OtherStream] > 100  # depth, bookTicker, aggTrade
    assert set(kinds) == {Kline, OtherStream}


def test_recorded_tickers_parse(shared_data: Path) -> None:
    path = shared_data / WS / "binance_24hrTicker_combined_stream_samples_tardis.json"
    messages = json.loads(path.read_text())["messages"]
    spot = next(m for m in messages if m["venue"] == "spot")
    ticker = parse_frame(json.dumps(spot["msg"]))
    assert ticker == Ticker("DOGEBNB", 0.00014360, 2.068, 2839.62578157, 1569805259092)
    for message in messages:
        assert isinstance(parse_frame(json.dumps(message["msg"])), Ticker)


def test_rest_rows_parse(shared_data: Path) -> None:
    path = shared_data / "binance" / "klines" / "rest_raw"
    rows = json.loads((path / "BTCUSDT-5m-api_v3_klines_limit1000_2024-09-04.json").read_text())
    klines = [Kline.from_rest(row, "BTCUSDT", "5m") for row in rows]
    assert len(klines) == 1000
    assert all(b.open_time - a.open_time == 300_000 for a, b in itertools.pairwise(klines))
    assert klines[0].values[0] == float(rows[0][1])
    assert klines[0].values[6] == rows[0][8]


def test_control_frames() -> None:
    assert parse_frame('{"result":null,"id":3}') == SubscriptionReply(3, None)
    reply = parse_frame('{"error":{"code":2,"msg":"Invalid request"},"id":4}')
    assert reply == SubscriptionReply(4, "Invalid request")
    assert parse_frame('{"e":"serverShutdown","E":5}') == ServerShutdown(5)
    wrapped = '{"stream":"btcusdt@kline_1m","data":{"e":"serverShutdown","E":6}}'
    assert parse_frame(wrapped) == ServerShutdown(6)
    assert json.loads(subscribe_message(["a@ticker"], 7)) == {
        "method": "SUBSCRIBE",
        "params": ["a@ticker"],
        "id": 7,
    }


GOOD = {
    "stream": "btcusdt@kline_5m",
    "data": {
        "e": "kline",
        "E": 1,
        "s": "BTCUSDT",
        "k": {
            "t": 300_000,
            "T": 599_999,
            "s": "BTCUSDT",
            "i": "5m",
            "o": "1",
            "c": "2",
            "h": "3",
            "l": "0.5",
            "v": "10",
            "n": 4,
            "x": False,
            "q": "20",
            "V": "5",
            "Q": "10",
            "B": "0",
        },
    },
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("k", "o"), "abc"),
        (("k", "o"), "nan"),
        (("k", "n"), "4"),
        (("k", "x"), "false"),
        (("k", "t"), 300_001),
        (("k", "i"), "1M"),
        (("k", "s"), "ETHUSDT"),
        (("s",), "ETHUSDT"),
        (("k",), None),
        (("E",), "1"),
    ],
)
def test_malformed_kline_is_a_frame_error(path: tuple[str, ...], value: object) -> None:
    frame = json.loads(json.dumps(GOOD))
    target = frame["data"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(FrameError):
        parse_frame(json.dumps(frame))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe",
        "[]",
        "null",
        '{"stream":1,"data":{}}',
        '{"foo":1}',
        '{"stream":"x@ticker","data":{}}',
    ],
)
def test_garbage_is_a_frame_error(raw: str | bytes) -> None:
    with pytest.raises(FrameError):
        parse_frame(raw)


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_parser_never_raises_anything_but_frame_error(raw: bytes | str) -> None:
    with contextlib.suppress(FrameError):
        parse_frame(raw)


@given(st.data())
def test_mutated_good_frame_parses_or_is_frame_error(data: st.DataObject) -> None:
    frame = json.loads(json.dumps(GOOD))
    k = frame["data"]["k"]
    key = data.draw(st.sampled_from(sorted(k)))
    k[key] = data.draw(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats()
    )
    try:
        event = parse_frame(json.dumps(frame))
    except FrameError:
        return
    assert isinstance(event, Kline)


def _outcome(parse: Any, raw: str) -> object:
    try:
        return parse(raw)
    except FrameError:
        return FrameError


TICKER = {
    "stream": "btcusdt@ticker",
    "data": {"e": "24hrTicker", "E": 1, "s": "BTCUSDT", "c": "2.5", "P": "-1.25", "q": "100"},
}


@given(st.data())
def test_fast_path_agrees_with_the_checked_parser(data: st.DataObject) -> None:
    """The hot path (well-formed klines and tickers) accepts exactly what the checked parser
    accepts, with the same result."""
    frame = json.loads(json.dumps(data.draw(st.sampled_from([GOOD, TICKER]))))
    target = data.draw(
        st.sampled_from(["frame", "data", "k"] if "k" in frame["data"] else ["frame", "data"])
    )
    obj = frame if target == "frame" else frame["data"] if target == "data" else frame["data"]["k"]
    key = data.draw(st.sampled_from(sorted(obj)))
    value = data.draw(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=5)
        | st.floats()
        | st.sampled_from(["", "nan", "inf", "1e400", "btcusdt@kline_1m", "BTCUSDT", "1m"])
    )
    if data.draw(st.booleans()):
        obj[key] = value
    else:
        del obj[key]
    raw = json.dumps(frame)
    assert _outcome(parse_frame, raw) == _outcome(_parse_checked, raw)
