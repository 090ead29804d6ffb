"""Reaching one machine among a Fly app's: ``?instance=<fly machine id>`` on another machine is
answered with ``fly-replay`` (Fly's proxy then replays the request on the right machine). Anything
else in ``instance`` is a 400: it would go into a response header."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

from tests.vyx.server.harness import config, serving

SELF, OTHER = "148ed193b95089", "3d8d9e5ef67e89"
UPGRADE = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


async def _raw(port: int, target: bytes, headers: bytes = b"") -> bytes:
    """The head of the answer to ``GET target`` sent as raw bytes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n" + headers + b"\r\n")
        head = b""
        with trio.fail_after(5):
            while b"\r\n\r\n" not in head:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                head += chunk
        return head


async def test_requests_for_another_machine_are_replayed_there() -> None:
    async with (
        serving(config(instance_id=SELF)) as running,
        httpx.AsyncClient(base_url=running.handle.url) as http,
    ):
        other = await http.get(f"/health?instance={OTHER}")
        assert other.status_code == 307
        assert other.headers["fly-replay"] == f"instance={OTHER}"
        mine = await http.get(f"/health?instance={SELF}")
        assert mine.status_code == 200
        assert "fly-replay" not in mine.headers
        head = await _raw(running.handle.port, f"/ws?instance={OTHER}".encode(), UPGRADE)
        assert head.startswith(b"HTTP/1.1 307")
        assert f"fly-replay: instance={OTHER}".encode() in head.lower()


async def test_without_a_fly_id_the_instance_parameter_is_ignored() -> None:
    async with serving(config()) as running, httpx.AsyncClient(base_url=running.handle.url) as h:
        assert (await h.get(f"/health?instance={OTHER}")).status_code == 200


BAD_INSTANCES = [
    b"x;app=evil-app;region=ams",
    b"%0d%0aX-Evil:%201",
    b"%00",
    b"%E2%82%AC",
    b"\xe2\x82\xac",
    b"148ED193B95089",
    b"148ed193b9508",
    b"",
]


@pytest.mark.parametrize("value", BAD_INSTANCES)
@pytest.mark.parametrize("instance_id", [SELF, None])
async def test_an_instance_that_is_not_a_fly_machine_id_is_a_400(
    value: bytes, instance_id: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 6: it went into the ``fly-replay`` header as it was (another app, another region;
    CRLF, NUL or non-Latin-1 gave a 500 with a traceback)."""
    async with serving(config(instance_id=instance_id)) as running:
        port = running.handle.port
        for path, headers in [(b"/health", b""), (b"/ws", UPGRADE)]:
            head = await _raw(port, path + b"?instance=" + value, headers)
            assert head.startswith(b"HTTP/1.1 400"), head
            assert b"fly-replay" not in head.lower()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        (b"/he\x00alth", b""),
        (b"/\xff\xfe", b""),
        (b"/health", b"X-A: b\x00c\r\n"),
        (b"/health\rX", b""),
    ],
)
async def test_control_characters_in_a_request_are_a_clean_400(
    target: bytes, headers: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(config(instance_id=SELF)) as running:
        head = await _raw(running.handle.port, target, headers)
        assert head.startswith(b"HTTP/1.1 400"), head
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
