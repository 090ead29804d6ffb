"""Reaching one machine among a Fly app's: ``?instance=<fly machine id>`` on another machine is
answered with ``fly-replay`` (Fly's proxy then replays the request on the right machine)."""

from __future__ import annotations

import httpx
import trio

from tests.vyx.server.harness import config, serving


async def _raw_upgrade(port: int, target: str) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
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
        serving(config(instance_id="m-self")) as running,
        httpx.AsyncClient(base_url=running.handle.url) as http,
    ):
        other = await http.get("/health?instance=m-other")
        assert other.status_code == 307
        assert other.headers["fly-replay"] == "instance=m-other"
        mine = await http.get("/health?instance=m-self")
        assert mine.status_code == 200
        assert "fly-replay" not in mine.headers
        head = await _raw_upgrade(running.handle.port, "/ws?instance=m-other")
        assert head.startswith(b"HTTP/1.1 307")
        assert b"fly-replay: instance=m-other" in head.lower()


async def test_without_a_fly_id_the_instance_parameter_is_ignored() -> None:
    async with serving(config()) as running, httpx.AsyncClient(base_url=running.handle.url) as h:
        assert (await h.get("/health?instance=anything")).status_code == 200
