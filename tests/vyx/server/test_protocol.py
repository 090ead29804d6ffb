"""The sans-IO protocol: parsing browser frames and encoding machine messages."""

from __future__ import annotations

import json
import math

import pytest

from vyx.server import protocol as p


def test_commands_parse_to_typed_values() -> None:
    assert p.parse_client_message('{"type":"ping"}') == p.Ping()
    assert p.parse_client_message('{"type":"ping","data":{"requestId":7}}') == p.Ping(7)
    assert p.parse_client_message(b'{"type":"pause_execution","data":null}') == p.PauseExecution()
    assert p.parse_client_message('{"type":"resume_execution"}') == p.ResumeExecution()
    assert p.parse_client_message('{"type":"force_sync","data":{}}') == p.ForceSync()
    assert p.parse_client_message('{"type":"config_update","data":{"version":3}}') == (
        p.ConfigUpdate(version=3)
    )
    update = p.parse_client_message(
        '{"type":"config_update","data":{"version":4,"traders":[{"id":"t1","name":"A"}]}}'
    )
    assert update == p.ConfigUpdate(version=4, traders=({"id": "t1", "name": "A"},))
    upsert = p.parse_client_message(
        '{"type":"trader_upsert","data":{"trader":{"id":"t1","filter":{"code":"rsi(14) < 30"}},'
        '"requestId":"a"}}'
    )
    assert isinstance(upsert, p.TraderUpsert)
    assert upsert.trader_id == "t1"
    assert upsert.request_id == "a"
    assert p.parse_client_message('{"type":"trader_remove","data":{"traderId":"t1"}}') == (
        p.TraderRemove("t1")
    )
    auth = p.parse_client_message('{"type":"auth","data":{"token":"abc"}}')
    assert auth == p.Auth("abc")
    assert "abc" not in repr(auth)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", p.ErrorCode.INVALID_JSON),
        (b"\xff\xfe", p.ErrorCode.INVALID_JSON),
        ("[1,2]", p.ErrorCode.INVALID_MESSAGE),
        ('{"data":{}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":5}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"ping","data":[]}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"ping","data":{"requestId":{}}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"ping","data":{"requestId":true}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"launch_rockets"}', p.ErrorCode.UNKNOWN_TYPE),
        ('{"type":"config_update","data":{}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"config_update","data":{"version":-1}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"config_update","data":{"version":true}}', p.ErrorCode.INVALID_MESSAGE),
        (
            '{"type":"config_update","data":{"version":1,"traders":[1]}}',
            p.ErrorCode.INVALID_MESSAGE,
        ),
        (
            '{"type":"config_update","data":{"version":1,"traders":[{}]}}',
            p.ErrorCode.INVALID_MESSAGE,
        ),
        ('{"type":"trader_upsert","data":{"trader":"t1"}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"trader_upsert","data":{"trader":{"id":""}}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"trader_remove","data":{}}', p.ErrorCode.INVALID_MESSAGE),
        ('{"type":"auth","data":{"token":1}}', p.ErrorCode.INVALID_MESSAGE),
        ("[" * 100_000, p.ErrorCode.FRAME_TOO_LARGE),
        ("[" * 60_000, p.ErrorCode.INVALID_JSON),  # deep nesting: RecursionError, not a crash
    ],
)
def test_bad_frames_raise_protocol_errors(frame: str | bytes, code: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_message(frame)
    assert info.value.code == code


def test_authoring_requests_parse_with_their_limits() -> None:
    msg = p.parse_client_message(
        json.dumps({"type": "trader_draft", "data": {"words": "RSI below 30", "requestId": 3}})
    )
    assert msg == p.TraderDraft(words="RSI below 30", timeframe=None, request_id=3)
    msg = p.parse_client_message(
        json.dumps(
            {
                "type": "trader_check",
                "data": {
                    "filter": "rsi(14) <",
                    "timeframe": "1h",
                    "traderId": "t1",
                    "preview": True,
                },
            }
        )
    )
    assert msg == p.TraderCheck("rsi(14) <", "1h", None, "t1", True)
    assert p.result(msg, {"ok": False}) == {"type": "trader_check_result", "data": {"ok": False}}
    for data, needle in [
        ({}, "words must be a string"),
        ({"words": "x" * (p.MAX_WORDS_CHARS + 1)}, "at most 2000"),
        ({"words": "x", "timeframe": 5}, "timeframe must be a string"),
    ]:
        with pytest.raises(p.ProtocolError, match=needle):
            p.parse_client_message(json.dumps({"type": "trader_draft", "data": data}))
    for data, needle in [
        ({"filter": ["rsi"]}, "filter must be a string"),
        ({"filter": "x" * (p.MAX_FILTER_CHARS + 1)}, "at most 4000"),
        ({"filter": "x", "preview": "yes"}, "preview must be true or false"),
        ({"filter": "x", "traderId": ""}, "traderId must be a non-empty string"),
    ]:
        with pytest.raises(p.ProtocolError, match=needle):
            p.parse_client_message(json.dumps({"type": "trader_check", "data": data}))


def test_chart_and_history_requests_parse_with_their_limits() -> None:
    chart = {"symbol": "BTCUSDT", "traderId": "t1", "time": 1_700_000_000_000, "bars": 150}
    msg = p.parse_client_message(json.dumps({"type": "chart_data", "data": chart}))
    assert msg == p.ChartData("BTCUSDT", "t1", None, None, 1_700_000_000_000, 150)
    page = {"after": {"createdAt": 5, "id": "s1"}, "symbol": "ethusdt", "limit": 100}
    msg = p.parse_client_message(json.dumps({"type": "signal_history", "data": page}))
    assert msg == p.SignalHistory((5, "s1"), None, "ETHUSDT", 100)
    assert p.parse_client_message('{"type": "signal_history"}') == p.SignalHistory()
    for kind, data, needle in [
        ("chart_data", {}, "symbol must be a non-empty string"),
        ("chart_data", {"symbol": "X" * 40}, "at most 32"),
        ("chart_data", {"symbol": "X", "bars": 0}, "bars must be an integer from 1"),
        ("chart_data", {"symbol": "X", "time": -1}, "time must be an integer"),
        ("chart_data", {"symbol": "X", "time": True}, "time must be an integer"),
        ("signal_history", {"after": 5}, "after must be"),
        ("signal_history", {"after": {"id": "s"}}, "createdAt is required"),
        ("signal_history", {"limit": 201}, "limit must be an integer from 1 to 200"),
    ]:
        with pytest.raises(p.ProtocolError, match=needle):
            p.parse_client_message(json.dumps({"type": kind, "data": data}))


def test_errors_keep_the_request_id() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_message('{"type":"nope","data":{"requestId":"r1"}}')
    assert info.value.request_id == "r1"
    assert p.error("x", "c", request_id="r1") == {
        "type": "error",
        "data": {"message": "x", "code": "c", "requestId": "r1"},
    }


def test_encode_makes_browser_json() -> None:
    class Scalar:  # stands for a numpy scalar
        def item(self) -> float:
            return 2.5

    text = p.encode({"type": "t", "data": {"a": math.nan, "b": [math.inf, 1.0], "c": Scalar()}})
    assert json.loads(text) == {"type": "t", "data": {"a": None, "b": [None, 1.0], "c": 2.5}}
    assert " " not in p.encode(p.pong())
    # keys that are not strings, and integers beyond 64 bits, as JSON has them
    assert p.encode({"data": {1: True, None: 2.5}}) == '{"data":{"1":true,"null":2.5}}'
    assert json.loads(p.encode({"data": {1: 2**70}})) == {"data": {"1": 2**70}}


def test_hello_announces_the_version() -> None:
    hello = p.hello(server_version="1.2.3", user_id="u", machine_id=None, queue_size=8)
    assert hello["data"]["protocol"] == 1
    assert hello["data"]["maxFrameBytes"] == p.MAX_FRAME_BYTES
    hello = p.hello(server_version="1", user_id="u", machine_id=None, queue_size=8, protocol=2)
    assert hello["data"]["protocol"] == 2


@pytest.mark.parametrize(
    ("asked", "version"),
    [(None, 1), (1, 1), (2, 2), (7, p.PROTOCOL_VERSION), (0, 1), ("2", 2), ("x", 1), ("", 1)],
)
def test_a_session_speaks_the_newest_version_both_sides_know(
    asked: int | str | None, version: int
) -> None:
    assert p.PROTOCOL_VERSION == 3
    assert p.session_version(asked) == version


def test_auth_may_say_the_protocol_version() -> None:
    auth = p.parse_client_message('{"type":"auth","data":{"token":"t","protocol":2}}')
    assert isinstance(auth, p.Auth)
    assert auth.protocol == 2
    for bad in ('"2"', "0", "true", "1.5"):
        with pytest.raises(p.ProtocolError) as err:
            p.parse_client_message('{"type":"auth","data":{"token":"t","protocol":' + bad + "}}")
        assert "auth.protocol" in err.value.message


def test_a_batch_of_signals_is_one_message_per_hundred_and_splits_for_version_1() -> None:
    signals = [
        {"signalId": f"s{i}", "symbol": "BTCUSDT"} for i in range(p.MAX_SIGNALS_PER_MESSAGE + 1)
    ]
    batches = p.signals_created(signals)
    assert [m["type"] for m in batches] == ["signals_created", "signals_created"]
    assert [s for m in batches for s in m["data"]["signals"]] == signals
    assert len(batches[0]["data"]["signals"]) == p.MAX_SIGNALS_PER_MESSAGE
    assert p.per_item(batches[1], 1) == [{"type": "signal_created", "data": signals[-1]}]
    assert p.per_item(batches[1], 2) is None
    assert p.per_item(p.pong(), 1) is None
    assert p.signals_created([]) == []


def test_a_batch_of_outcomes_is_one_message_per_hundred_and_splits_before_version_3() -> None:
    outcomes = [{"signalId": f"s{i}", "bars": 1} for i in range(2 * p.MAX_ITEMS_PER_MESSAGE + 1)]
    batches = p.signal_outcomes(outcomes)
    assert [m["type"] for m in batches] == ["signal_outcomes"] * 3
    assert [o for m in batches for o in m["data"]["outcomes"]] == outcomes
    assert [len(m["data"]["outcomes"]) for m in batches] == [100, 100, 1]
    for version in (1, 2):
        assert p.per_item(batches[2], version) == [{"type": "signal_outcome", "data": outcomes[-1]}]
    assert p.per_item(batches[2], 3) is None
    assert p.signal_outcomes([]) == []
