"""The WebSocket protocol over a real socket: snapshot, ping, commands, errors, slow clients."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
import trio
from trio.testing import MockClock

from vyx.server import ServerDeps, ServerHandle, Snapshot, run_server
from vyx.server.interface import CommandRejected
from vyx.server.protocol import (
    Command,
    ConfigUpdate,
    PauseExecution,
    TraderDraft,
    TraderRemove,
    TraderUpsert,
    signal_outcomes,
    signals_created,
)
from vyx.signal import Signal, signal_id
from vyx.telemetry.metrics import Metrics

from .harness import (
    FakeDaemon,
    client,
    closed,
    config,
    greeted,
    hs256_token,
    recv,
    send,
    serving,
)
from .wsclient import Rejected


def make_signal(symbol: str = "BTCUSDT") -> Signal:
    return Signal(
        id=signal_id("t1", symbol, "5m", 1_700_000_000_000),
        trader_id="t1",
        user_id="u",
        symbol=symbol,
        interval="5m",
        price=42_000.5,
        bar_open_time=1_700_000_000_000,
        matched_conditions=("rsi(14) < 30",),
        indicator_data={"rsi(14) < 30": {"held": True, "values": {"rsi(14)": 27.4}}},
        created_at=1_700_000_300_000,
    )


async def test_snapshot_then_live_messages_and_ping() -> None:
    daemon = FakeDaemon(
        snap=Snapshot(
            signals=[make_signal().to_message()["data"]],
            traders=[{"id": "t1", "name": "Oversold", "state": "running"}],
            status={"status": "running", "symbols": 100},
        )
    )
    async with serving(daemon=daemon) as running, client(running.ws_url(hs256_token())) as ws:
        _, snapshot = await greeted(ws)
        assert snapshot["data"]["traders"] == [{"id": "t1", "name": "Oversold", "state": "running"}]
        assert snapshot["data"]["signals"][0]["symbol"] == "BTCUSDT"
        assert snapshot["data"]["status"]["symbols"] == 100
        await running.handle.wait_for_clients(1)
        assert running.handle.broadcast(make_signal("ETHUSDT").to_message()) == 1
        message = await recv(ws)
        assert message["type"] == "signal_created"
        assert message["data"]["symbol"] == "ETHUSDT"
        await send(ws, "ping", {"requestId": 42})
        assert await recv(ws) == {"type": "pong", "data": {"requestId": 42}}
        assert running.metrics.value("vyx_ws_clients") == 1


async def test_a_batch_of_signals_reaches_each_browser_in_its_protocol_version() -> None:
    batch = signals_created([make_signal(s).to_message()["data"] for s in ("ETHUSDT", "SOLUSDT")])
    async with (
        serving() as running,
        client(running.ws_url(hs256_token()) + "&protocol=2") as new,
        client(running.ws_url()) as old,
    ):
        hello, _ = await greeted(new)
        assert hello["data"]["protocol"] == 2
        await send(old, "auth", {"token": hs256_token()})  # says no version: version 1
        hello, _ = await greeted(old)
        assert hello["data"]["protocol"] == 1
        await running.handle.wait_for_clients(2)
        assert running.handle.broadcast(batch[0]) == 2
        got = await recv(new)
        assert got["type"] == "signals_created"
        assert [s["symbol"] for s in got["data"]["signals"]] == ["ETHUSDT", "SOLUSDT"]
        singles = [await recv(old), await recv(old)]
        assert [m["type"] for m in singles] == ["signal_created"] * 2
        assert [m["data"] for m in singles] == got["data"]["signals"]
        assert running.metrics.value("vyx_ws_messages_sent_total") == 3


async def test_a_batch_of_outcomes_is_one_message_in_version_3_only() -> None:
    """``signal_outcomes`` (version 3) goes whole to a version-3 browser; a browser of version 2
    or 1 gets one ``signal_outcome`` per outcome, as before the batch existed."""
    outcomes = [{"signalId": f"s{i}", "traderId": "t1", "bars": 1} for i in range(3)]
    (batch,) = signal_outcomes(outcomes)
    async with (
        serving() as running,
        client(running.ws_url(hs256_token()) + "&protocol=3") as v3,
        client(running.ws_url(hs256_token()) + "&protocol=2") as v2,
        client(running.ws_url(hs256_token())) as v1,
    ):
        for ws, version in ((v3, 3), (v2, 2), (v1, 1)):
            hello, _ = await greeted(ws)
            assert hello["data"]["protocol"] == version
        await running.handle.wait_for_clients(3)
        assert running.handle.broadcast(batch) == 3
        assert await recv(v3) == {"type": "signal_outcomes", "data": {"outcomes": outcomes}}
        for ws in (v2, v1):
            singles = [await recv(ws) for _ in outcomes]
            assert singles == [{"type": "signal_outcome", "data": o} for o in outcomes]
        assert running.metrics.value("vyx_ws_messages_sent_total") == 7


async def test_the_auth_message_may_ask_for_version_2() -> None:
    async with serving() as running, client(running.ws_url()) as ws:
        await send(ws, "auth", {"token": hs256_token(), "protocol": 2})
        hello, _ = await greeted(ws)
        assert hello["data"]["protocol"] == 2


async def test_an_auth_message_asking_an_unreadable_version_is_told_which_field() -> None:
    """A valid token with ``protocol`` of the wrong shape closes the socket naming the field
    (it said "authentication required", as if the token were missing); counted as a failure."""
    for version in ("2", 2.5, True, 0, -1):
        async with serving() as running, client(running.ws_url()) as ws:
            await send(ws, "auth", {"token": hs256_token(), "protocol": version})
            reason = await closed(ws)
            assert reason.code == 1008
            assert reason.reason == "auth.protocol must be a positive integer"
            assert running.metrics.value("vyx_ws_auth_failures_total") == 1


async def test_commands_reach_the_daemon_and_are_acknowledged() -> None:
    async with serving() as running, client(running.ws_url(hs256_token())) as ws:
        await greeted(ws)
        await send(ws, "pause_execution", {"requestId": "p"})
        assert await recv(ws) == {
            "type": "ack",
            "data": {"command": "pause_execution", "requestId": "p"},
        }
        await send(ws, "config_update", {"version": 2})
        await send(ws, "trader_upsert", {"trader": {"id": "t9", "name": "New"}})
        await send(ws, "trader_remove", {"traderId": "t9"})
        acks = [await recv(ws) for _ in range(3)]
        assert [a["data"]["command"] for a in acks] == [
            "config_update",
            "trader_upsert",
            "trader_remove",
        ]
    assert running.daemon.commands == [
        PauseExecution("p"),
        ConfigUpdate(version=2),
        TraderUpsert({"id": "t9", "name": "New"}),
        TraderRemove("t9"),
    ]


@attrs.define
class _Drafting(FakeDaemon):
    """Answers ``trader_draft`` once released; acknowledges everything else at once."""

    release: trio.Event = attrs.field(factory=trio.Event)

    async def handle(self, command: Command) -> Mapping[str, Any] | None:
        self.commands.append(command)
        if isinstance(command, TraderDraft):
            await self.release.wait()
            return {"ok": True, "words": command.words}
        return None


async def test_requests_run_beside_commands_at_most_four_at_once() -> None:
    """A slow draft (a model thinking) never holds up a ping or a command; a fifth request
    while four are in flight is refused as ``busy``, and each answer carries its requestId."""
    daemon = _Drafting()
    async with (
        serving(config(session_requests=4), daemon=daemon) as running,
        client(running.ws_url(hs256_token())) as ws,
    ):
        await greeted(ws)
        for i in range(5):
            await send(ws, "trader_draft", {"words": f"rsi below {i}", "requestId": i})
        busy = await recv(ws)
        assert busy["type"] == "error"
        assert busy["data"]["code"] == "busy"
        assert busy["data"]["requestId"] == 4
        await send(ws, "ping", {"requestId": "p"})
        assert await recv(ws) == {"type": "pong", "data": {"requestId": "p"}}
        await send(ws, "pause_execution")
        assert (await recv(ws))["type"] == "ack"
        daemon.release.set()
        answers = [await recv(ws) for _ in range(4)]
        assert {a["type"] for a in answers} == {"trader_draft_result"}
        assert sorted((a["data"]["requestId"], a["data"]["words"]) for a in answers) == [
            (i, f"rsi below {i}") for i in range(4)
        ]
        # Slots are free again.
        await send(ws, "trader_draft", {"words": "again", "requestId": "x"})
        assert (await recv(ws))["data"] == {"ok": True, "words": "again", "requestId": "x"}


async def test_rejected_and_failing_commands_answer_errors() -> None:
    daemon = FakeDaemon(reject=CommandRejected("1:5 expected ')'", "trader_error", trader_id="t1"))
    async with (
        serving(daemon=daemon) as running,
        client(running.ws_url(hs256_token())) as ws,
    ):
        await greeted(ws)
        await send(ws, "trader_upsert", {"trader": {"id": "t1"}, "requestId": 1})
        assert await recv(ws) == {
            "type": "error",
            "data": {
                "message": "1:5 expected ')'",
                "code": "trader_error",
                "traderId": "t1",
                "requestId": 1,
            },
        }
        daemon.reject = CommandRejected("screening is paused", "unavailable")
        await send(ws, "force_sync")
        assert (await recv(ws))["data"] == {"message": "screening is paused", "code": "unavailable"}


async def test_a_handler_bug_is_a_generic_error() -> None:
    class Broken(FakeDaemon):
        async def handle(self, command: object) -> None:
            raise RuntimeError("secret internal detail")

    async with (
        serving(daemon=Broken()) as running,
        client(running.ws_url(hs256_token())) as ws,
    ):
        await greeted(ws)
        await send(ws, "force_sync")
        reply = await recv(ws)
        assert reply == {
            "type": "error",
            "data": {"message": "force_sync failed", "code": "command_failed"},
        }
        await send(ws, "ping")
        assert (await recv(ws))["type"] == "pong"


@pytest.fixture
def idle_jump_clock() -> MockClock:
    """Virtual time that jumps only after 50 ms of real idleness (never while a frame is on the
    wire between two tasks)."""
    return MockClock(autojump_threshold=0.05)


async def test_a_command_that_hangs_times_out(idle_jump_clock: MockClock) -> None:
    # The server's deadline (1 s) is the earliest one; the client's (5 s) cannot fire first.
    daemon = FakeDaemon(block=True)
    async with (
        serving(config(command_timeout_s=1.0), daemon=daemon) as running,
        client(running.ws_url(hs256_token())) as ws,
    ):
        await greeted(ws)
        await send(ws, "resume_execution")
        reply = await recv(ws)
        assert reply["data"]["code"] == "command_timeout"


async def test_bad_frames_answer_errors_and_the_session_lives_on() -> None:
    async with serving() as running, client(running.ws_url(hs256_token())) as ws:
        await greeted(ws)
        await ws.send_text("{not json")
        assert (await recv(ws))["data"]["code"] == "invalid_json"
        await send(ws, "launch_rockets", {"requestId": "x"})
        assert await recv(ws) == {
            "type": "error",
            "data": {"message": "unknown message type", "code": "unknown_type", "requestId": "x"},
        }
        await ws.send_bytes(b"\xff\x00")
        assert (await recv(ws))["data"]["code"] == "invalid_json"
        await ws.send_text("[]")
        assert (await recv(ws))["data"]["code"] == "invalid_message"
        await send(ws, "ping")
        assert (await recv(ws))["type"] == "pong"
    assert running.daemon.commands == []


async def test_an_oversized_frame_closes_1009() -> None:
    async with serving() as running, client(running.ws_url(hs256_token())) as ws:
        await greeted(ws)
        await ws.send_text(json.dumps({"type": "ping", "data": {"pad": "x" * 70_000}}))
        close = await closed(ws)
        assert close.code == 1009
        # The server is fine.
        async with client(running.ws_url(hs256_token())) as other:
            await greeted(other)
            await send(other, "ping")
            assert (await recv(other))["type"] == "pong"


async def test_an_oversized_frame_then_a_binary_one_does_not_crash_the_server() -> None:
    # Regression (hypercorn 0.18 bug, see vyx.server.hypercorn_patch): found by the fuzzer.
    async with serving() as running:
        async with client(running.ws_url(hs256_token())) as ws:
            await greeted(ws)
            await ws.send_text("x" * 70_000)
            await ws.send_bytes(b"{}")
            assert (await closed(ws)).code == 1009
        async with client(running.ws_url(hs256_token())) as ws:
            await greeted(ws)
            await send(ws, "ping")
            assert (await recv(ws))["type"] == "pong"


async def test_unknown_paths_are_refused() -> None:
    async with serving() as running:
        with pytest.raises(Rejected) as info:
            async with client(running.ws_url(hs256_token(), path="/other")):
                pass
    assert info.value.status == 403


async def test_a_slow_client_is_dropped_while_others_keep_receiving() -> None:
    payload = "x" * 16_384
    cfg = config(client_queue_size=8)
    async with (
        serving(cfg) as running,
        client(running.ws_url(hs256_token()), receive_buffer=4096) as slow,
        client(running.ws_url(hs256_token())) as fast,
    ):
        await greeted(fast)
        await running.handle.wait_for_clients(2)
        sent = 0
        # The slow client never reads: its kernel buffers fill, then its queue of 8; the fast
        # client reads each message before the next one is sent.
        while running.handle.statistics().clients == 2:
            assert sent < 5_000, "the slow client was never dropped"
            running.handle.broadcast({"type": "status_update", "data": {"n": sent, "pad": payload}})
            message = await recv(fast)
            assert message["data"]["n"] == sent
            sent += 1
        stats = running.handle.statistics()
        assert stats.dropped_slow == 1
        running.handle.broadcast({"type": "status_update", "data": {"n": sent}})
        assert (await recv(fast))["data"]["n"] == sent
        assert (
            running.metrics.value("vyx_ws_clients_dropped_total", {"reason": "client too slow"})
            == 1
        )
        # The slow client finally reads: after what had been queued, the close frame with reason
        # (unless the server gave up on delivering it: then the socket is just closed).
        close = await slow.closed()
        assert (close.code, close.reason) in {(1013, "client too slow"), (1006, "")}


async def test_shutdown_closes_clients_with_1001() -> None:
    async with serving() as running:
        async with client(running.ws_url(hs256_token())) as ws:
            await greeted(ws)
            running.handle.shutdown()
            close = await closed(ws)
        assert (close.code, close.reason) == (1001, "server shutting down")


async def test_cancelling_the_server_also_closes_clients_with_1001() -> None:
    scope = trio.CancelScope()
    deps = ServerDeps(commands=FakeDaemon().handle, metrics=Metrics())

    async def serve(task_status: trio.TaskStatus[ServerHandle]) -> None:
        with scope:
            await run_server(config(), deps, task_status=task_status)

    async with trio.open_nursery() as nursery:
        handle: ServerHandle = await nursery.start(serve)
        url = handle.url.replace("http://", "ws://") + "/ws?access_token=" + hs256_token()
        async with client(url) as ws:
            await greeted(ws)
            scope.cancel()
            close = await closed(ws)
    assert (close.code, close.reason) == (1001, "server shutting down")


async def test_shutdown_does_not_wait_for_a_closed_connections_ping_task() -> None:
    """hypercorn's ping task slept out its interval after the close and its graceful shutdown
    waited for it: a SIGTERM with a browser connected took ``shutdown_timeout_s`` longer."""
    cfg = config(ping_interval_s=20.0, shutdown_timeout_s=5.0)
    async with serving(cfg) as running, client(running.ws_url(hs256_token())) as ws:
        await greeted(ws)
        stopping = trio.current_time()
        running.handle.shutdown()
        close = await closed(ws)
    assert (close.code, close.reason) == (1001, "server shutting down")
    assert trio.current_time() - stopping < 2.0
