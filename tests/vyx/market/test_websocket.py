"""The market's WebSocket client: the fast path and wsproto agree on every frame sequence."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, wrap_server_stream
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import CloseConnection, Ping, Pong, TextMessage

from vyx.market.websocket import FrameReader, HandshakeFailed, WebSocketClosed, handshake


def _server() -> Connection:
    return Connection(ConnectionType.SERVER)


def _frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A raw unmasked server frame (wsproto's server side never fragments on its own)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def _drain(reader: FrameReader, data: bytes, chunks: list[int]) -> tuple[list[bytes], list[str]]:
    """Feed ``data`` in pieces cut at ``chunks``; messages (as bytes) and control event names."""
    messages: list[bytes] = []
    controls: list[str] = []
    cuts = sorted({c % (len(data) + 1) for c in chunks} | {0, len(data)})
    for a, b in itertools.pairwise(cuts):
        got, events = reader.feed(data[a:b])
        messages += [m.encode() if isinstance(m, str) else m for m in got]
        controls += [type(e).__name__ for e in events]
    return messages, controls


_PAYLOAD = st.binary(min_size=0, max_size=300)
_STEP = st.one_of(
    st.tuples(st.just("text"), _PAYLOAD),
    st.tuples(st.just("big"), st.integers(126, 70_000)),
    st.tuples(st.just("fragmented"), st.lists(_PAYLOAD, min_size=2, max_size=4)),
    st.tuples(st.just("ping"), st.binary(max_size=20)),
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(_STEP, max_size=12), chunks=st.lists(st.integers(0, 200_000), max_size=30))
def test_every_message_arrives_whole_and_in_order_however_the_bytes_are_cut(
    steps: list[tuple[str, object]], chunks: list[int]
) -> None:
    wire, expected, pings = b"", [], 0
    for kind, arg in steps:
        if kind == "text":
            assert isinstance(arg, bytes)
            wire += _frame(0x2, arg)
            expected.append(arg)
        elif kind == "big":
            assert isinstance(arg, int)
            payload = bytes(i % 251 for i in range(arg))
            wire += _frame(0x2, payload)
            expected.append(payload)
        elif kind == "fragmented":
            assert isinstance(arg, list)
            for i, part in enumerate(arg):
                wire += _frame(0x2 if i == 0 else 0x0, part, fin=i == len(arg) - 1)
                if i == 0:
                    # a control frame may come between the fragments of a message
                    wire += _frame(0x9, b"between")
                    pings += 1
            expected.append(b"".join(arg))
        else:
            assert isinstance(arg, bytes)
            wire += _frame(0x9, arg)
            pings += 1
    reader = FrameReader(Connection(ConnectionType.CLIENT))
    messages, controls = _drain(reader, wire, chunks)
    assert messages == expected
    assert controls == ["Ping"] * pings


def test_text_messages_keep_their_bytes_and_utf8_is_left_to_the_decoder() -> None:
    server = _server()
    wire = server.send(TextMessage(data='{"e":"kline"}')) + _frame(0x1, b"\xff\xfe not utf-8")
    reader = FrameReader(Connection(ConnectionType.CLIENT))
    messages, controls = reader.feed(wire)
    assert messages == [b'{"e":"kline"}', b"\xff\xfe not utf-8"]
    assert controls == []


def test_a_ping_is_answered_with_its_payload_and_a_close_with_its_code() -> None:
    reader = FrameReader(Connection(ConnectionType.CLIENT))
    _, (ping,) = reader.feed(_frame(0x9, b"abc"))
    assert isinstance(ping, Ping)
    server = _server()
    server.receive_data(reader.protocol.send(ping.response()))
    (pong,) = server.events()
    assert isinstance(pong, Pong)
    assert pong.payload == b"abc"
    _, (close,) = reader.feed(_frame(0x8, (1001).to_bytes(2, "big") + b"bye"))
    assert isinstance(close, CloseConnection)
    assert (close.code, close.reason) == (1001, "bye")


def test_an_oversized_frame_closes_before_it_is_buffered() -> None:
    reader = FrameReader(Connection(ConnectionType.CLIENT), max_message=1000)
    head = _frame(0x1, b"x" * 1001)[:4]  # only the header has arrived
    with pytest.raises(WebSocketClosed) as info:
        reader.feed(head)
    assert info.value.code == 1009


def test_an_oversized_fragmented_message_closes() -> None:
    reader = FrameReader(Connection(ConnectionType.CLIENT), max_message=1000)
    reader.feed(_frame(0x1, b"x" * 600, fin=False))
    with pytest.raises(WebSocketClosed) as info:
        reader.feed(_frame(0x0, b"x" * 600, fin=False))
    assert info.value.code == 1009


def test_a_masked_server_frame_closes_with_a_protocol_error() -> None:
    reader = FrameReader(Connection(ConnectionType.CLIENT))
    mask = b"\x01\x02\x03\x04"
    masked = bytes([0x82, 0x80 | 2]) + mask + bytes([ord("h") ^ 1, ord("i") ^ 2])
    messages, (close,) = reader.feed(masked)
    assert messages == []
    assert isinstance(close, CloseConnection)
    assert close.code == 1002


def test_a_data_frame_inside_a_fragmented_message_closes_with_a_protocol_error() -> None:
    reader = FrameReader(Connection(ConnectionType.CLIENT))
    reader.feed(_frame(0x1, b"first", fin=False))
    _, (close,) = reader.feed(_frame(0x1, b"a new message"))
    assert isinstance(close, CloseConnection)
    assert close.code == 1002


async def _serve_ws(stream: trio.abc.Stream, nursery: trio.Nursery, frames: list[str]) -> None:
    request = await wrap_server_stream(nursery, stream)
    ws = await request.accept()
    for frame in frames:
        await ws.send_message(frame)
    try:
        while True:
            await ws.send_message("echo " + str(await ws.get_message()))
    except ConnectionClosed:
        pass


async def test_talks_to_a_real_websocket_server_both_ways(nursery: trio.Nursery) -> None:
    client, server = trio.testing.memory_stream_pair()
    frames = [f'{{"n":{i}}}' for i in range(50)]
    nursery.start_soon(_serve_ws, server, nursery, frames)
    ws = await handshake(client, "ws://example/stream?streams=btcusdt@kline_1m")
    got: list[bytes | str] = []
    while len(got) < 50:
        got += await ws.receive()
    assert [bytes(g) if isinstance(g, bytes) else g.encode() for g in got] == [
        f.encode() for f in frames
    ]
    await ws.send_text("hello")
    assert await ws.receive() == [b"echo hello"]
    await ws.aclose()
    with pytest.raises(WebSocketClosed):
        await ws.receive()


async def test_a_server_close_is_answered_and_raised(nursery: trio.Nursery) -> None:
    client, server = trio.testing.memory_stream_pair()

    async def close_soon() -> None:
        request = await wrap_server_stream(nursery, server)
        ws = await request.accept()
        await ws.send_message("last")
        await ws.aclose(1011, "going away")

    nursery.start_soon(close_soon)
    ws = await handshake(client, "ws://example/stream")
    assert await ws.receive() == [b"last"]
    with pytest.raises(WebSocketClosed) as info:
        await ws.receive()
    assert (info.value.code, info.value.reason) == (1011, "going away")


async def _respond(stream: trio.abc.Stream, response: bytes) -> None:
    await stream.receive_some(65536)
    await stream.send_all(response)


@pytest.mark.parametrize(
    "response",
    [
        b'HTTP/1.1 451 Unavailable\r\ncontent-length: 13\r\n\r\n{"code":0,"m"',
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ],
)
async def test_a_refused_or_garbled_handshake_fails_clearly(
    nursery: trio.Nursery, response: bytes
) -> None:
    client, server = trio.testing.memory_stream_pair()
    nursery.start_soon(_respond, server, response)
    with pytest.raises(HandshakeFailed):
        await handshake(client, "ws://example/stream")


def test_a_fragmented_text_message_split_inside_a_character_comes_back_whole() -> None:
    reader = FrameReader(Connection(ConnectionType.CLIENT))
    wire = _frame(0x1, "hé".encode()[:2], fin=False) + _frame(0x0, "hé".encode()[2:])
    messages, _ = reader.feed(wire)
    assert [m.encode() if isinstance(m, str) else m for m in messages] == ["hé".encode()]


async def test_a_refusal_keeps_its_status_and_body(nursery: trio.Nursery) -> None:
    """Binance's 451 for a restricted location: the market needs the status and the reason."""
    client, server = trio.testing.memory_stream_pair()
    body = b'{"code":0,"msg":"Service unavailable from a restricted location"}'
    response = b"HTTP/1.1 451 Unavailable\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    nursery.start_soon(_respond, server, response)
    with pytest.raises(HandshakeFailed) as info:
        await handshake(client, "ws://example/stream")
    assert (info.value.status_code, info.value.body) == (451, body)
