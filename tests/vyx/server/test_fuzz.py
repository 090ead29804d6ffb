"""Protocol fuzzing: random frames never crash the server; it still answers ping afterwards."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vyx.server import protocol

from .harness import client, greeted, hs256_token, recv, send, serving
from .wsclient import Closed

KNOWN = [
    "auth",
    "ping",
    "config_update",
    "pause_execution",
    "resume_execution",
    "force_sync",
    "trader_upsert",
    "trader_remove",
    "hello",
    "pong",
    "",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(KNOWN) | st.text(max_size=12)},
    optional={
        "data": st.dictionaries(
            st.sampled_from(["token", "requestId", "version", "traders", "trader", "traderId"])
            | st.text(max_size=8),
            json_values,
            max_size=4,
        )
        | json_values
    },
)
frames = st.one_of(
    messages.map(lambda m: ("text", json.dumps(m))),
    st.text(max_size=200).map(lambda t: ("text", t)),
    st.binary(max_size=200).map(lambda b: ("bytes", b)),
    st.integers(60_000, 70_000).map(lambda n: ("oversized", n)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, min_size=1, max_size=12))
@example([("text", '{"type": "auth", "data": {"token": "0"}}')])  # a bad re-auth closes, 1008
async def test_random_frames_never_crash_the_server(batch: list[tuple[str, Any]]) -> None:
    async with serving() as running:
        async with client(running.ws_url(hs256_token())) as ws:
            await greeted(ws)
            close = None
            try:
                for kind, frame in batch:
                    if kind == "oversized":
                        await ws.send_text('{"type":"ping","pad":"' + "x" * frame + '"}')
                    elif kind == "text":
                        await ws.send_text(frame)
                    else:
                        await ws.send_bytes(frame)
                await send(ws, "ping", {"requestId": "last"})
                while (reply := await recv(ws)) != protocol.pong("last"):
                    assert reply["type"] in {"error", "ack", "pong"}, reply
            except Closed as exc:
                close = exc.close
            # Only an oversized frame, or a fresh ``auth`` whose token is not valid, may close
            # the session.
            reauth = any(kind == "text" and '"type": "auth"' in frame for kind, frame in batch)
            allowed = {1009, 1008} if reauth else {1009}
            assert close is None or close.code in allowed, close
        # Whatever happened, a new client is served.
        async with client(running.ws_url(hs256_token())) as ws:
            await greeted(ws)
            await send(ws, "ping")
            assert await recv(ws) == protocol.pong()


@given(st.text(max_size=300) | st.binary(max_size=300) | messages.map(json.dumps))
def test_the_parser_only_raises_protocol_errors(frame: str | bytes) -> None:
    code = None
    try:
        protocol.parse_client_message(frame)
    except protocol.ProtocolError as exc:
        code = exc.code
    assert code is None or code in vars(protocol.ErrorCode).values()
