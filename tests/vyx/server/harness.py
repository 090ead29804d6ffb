"""A server on port 0 with a fake daemon behind it, tokens, and a WebSocket client."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import jwt
import trio

from vyx.server import AuthConfig, ServerConfig, ServerDeps, ServerHandle, Snapshot, run_server
from vyx.server.interface import CommandRejected
from vyx.server.protocol import Command
from vyx.telemetry.health import HealthRegistry
from vyx.telemetry.metrics import Metrics

from .wsclient import CloseReason, WsClient, connect

USER_ID = "0b6a3c1e-5d2f-4e7a-9b8c-1d2e3f4a5b6c"
OTHER_USER_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
#: Test-only HS256 secret (32+ bytes, as PyJWT asks).
SECRET = "test-only-jwt-secret-0123456789abcdef"

#: Generous deadline for one socket round trip (never reached when things work).
STEP_S = 5.0


def hs256_token(
    sub: str = USER_ID,
    *,
    exp_in_s: float = 3600,
    aud: str = "authenticated",
    secret: str = SECRET,
    **claims: Any,
) -> str:
    """A Supabase-like access token."""
    payload = {"sub": sub, "aud": aud, "exp": int(time.time() + exp_in_s), "role": "authenticated"}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


@attrs.define
class FakeDaemon:
    """Records the commands it gets; rejects them when told to."""

    commands: list[Command] = attrs.field(factory=list)
    reject: CommandRejected | None = None
    block: bool = False
    snap: Snapshot = attrs.field(factory=Snapshot)
    arrived: trio.Event = attrs.field(factory=trio.Event)

    async def handle(self, command: Command) -> Mapping[str, Any] | None:
        self.commands.append(command)
        self.arrived.set()
        self.arrived = trio.Event()
        if self.block:
            await trio.sleep_forever()
        if self.reject is not None:
            raise self.reject
        return None

    def snapshot(self) -> Snapshot:
        return self.snap


def config(**overrides: Any) -> ServerConfig:
    """A test config: port 0, HS256 secret, the test user, optional local token."""
    auth = overrides.pop("auth", AuthConfig(user_id=USER_ID, jwt_secret=SECRET))
    base: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "auth": auth, "ping_interval_s": None}
    base.update(overrides)
    return ServerConfig(**base)


@attrs.define
class Running:
    handle: ServerHandle
    daemon: FakeDaemon
    health: HealthRegistry
    metrics: Metrics

    def ws_url(self, token: str | None = None, path: str = "/ws") -> str:
        url = self.handle.url.replace("http://", "ws://", 1) + path
        return url if token is None else f"{url}?access_token={token}"


@asynccontextmanager
async def serving(cfg: ServerConfig | None = None, **deps: Any) -> AsyncIterator[Running]:
    """Run a server for the body of the ``async with``; shut it down after."""
    daemon = deps.pop("daemon", None) or FakeDaemon()
    health = deps.pop("health", None) or HealthRegistry()
    metrics = Metrics()
    server_deps = ServerDeps(
        commands=daemon.handle, snapshot=daemon.snapshot, health=health, metrics=metrics, **deps
    )
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_server, cfg or config(), server_deps)
        try:
            yield Running(handle=handle, daemon=daemon, health=health, metrics=metrics)
        finally:
            handle.shutdown()


@asynccontextmanager
async def client(url: str, **kwargs: Any) -> AsyncIterator[WsClient]:
    """A WebSocket client connected to ``url``."""
    async with connect(url, **kwargs) as ws:
        yield ws


async def recv(ws: WsClient) -> dict[str, Any]:
    """The next message, decoded."""
    message: dict[str, Any] = json.loads(await ws.get_message())
    return message


async def send(ws: WsClient, kind: str, data: dict[str, Any] | None = None) -> None:
    await ws.send_text(json.dumps({"type": kind, "data": data or {}}))


async def greeted(ws: WsClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read ``hello`` and ``snapshot``, asserting their order."""
    hello, snapshot = await recv(ws), await recv(ws)
    assert hello["type"] == "hello"
    assert snapshot["type"] == "snapshot"
    return hello, snapshot


async def closed(ws: WsClient) -> CloseReason:
    """Read until the server closes; the close reason."""
    return await ws.closed()
