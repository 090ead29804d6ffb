"""One browser WebSocket session over ASGI: authenticate, greet, then read and write.

The I/O shell around ``vyx.server.protocol``: it accepts the socket, authenticates (query
parameter ``access_token`` or a first ``auth`` message within ``auth_timeout_s``), queues
``hello`` and the snapshot, then runs a writer (drains the client's bounded queue) and a reader
(parses frames, answers ``ping``, hands commands to the daemon one at a time, in order). A
request (``trader_draft``, ``trader_check``: read-only, possibly slow) is served beside the
reader, at most ``max_requests`` at once per session (more: ``error busy``), so a slow draft
never delays a ``ping`` or a command. A token's expiry closes the
session (1008 "token expired") unless the browser sends a fresh ``auth`` before it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import attrs
import trio
from loguru import logger

from vyx.server import protocol
from vyx.server.auth import AuthError, Identity, MissingToken, TokenVerifier
from vyx.server.hub import CLOSE_GOING_AWAY, CLOSE_POLICY, Client, Hub
from vyx.server.interface import CommandHandler, CommandRejected, SnapshotProvider
from vyx.telemetry.metrics import Metrics

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@attrs.frozen
class SessionSettings:
    """Limits of one session (from ``ServerConfig``)."""

    user_id: str | None
    machine_id: str | None
    server_version: str
    max_frame_bytes: int
    queue_size: int
    auth_timeout_s: float
    command_timeout_s: float
    close_timeout_s: float
    #: Deadline for the daemon's answer to one request.
    request_timeout_s: float = 45.0
    #: Requests of this session in flight at once.
    max_requests: int = 4
    #: A client over ``queue_size`` is slow once it has sent nothing for this long.
    stall_s: float = 5.0


@attrs.frozen
class SessionDeps:
    """What every session shares."""

    settings: SessionSettings
    #: Where writer tasks run: outside the session, because hypercorn shields its socket sends,
    #: so a writer blocked on a client that stopped reading could never be cancelled; once the
    #: session returns, hypercorn closes that socket and the blocked send ends.
    writers: trio.Nursery
    verifier: TokenVerifier
    hub: Hub
    commands: CommandHandler
    snapshot: SnapshotProvider
    metrics: Metrics


class _PeerGone(Exception):
    """The browser closed the connection."""


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


def _query(scope: Scope, name: str) -> str | None:
    raw = scope.get("query_string", b"")
    values = parse_qs(raw.decode("latin-1")).get(name)
    return values[0] if values else None


async def _receive_frame(receive: Receive) -> str | bytes:
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            raise _PeerGone
        if event["type"] == "websocket.receive":
            text = event.get("text")
            if text is not None:
                return str(text)
            return bytes(event.get("bytes") or b"")


async def _authenticate(deps: SessionDeps, scope: Scope, receive: Receive) -> tuple[Identity, int]:
    """Who the browser is, and the protocol version of the session (the ``protocol`` query
    parameter, else the ``auth`` message's)."""
    token = _query(scope, "access_token")
    asked: int | str | None = _query(scope, "protocol")
    if token is None:
        with trio.move_on_after(deps.settings.auth_timeout_s):
            frame = await _receive_frame(receive)
            try:
                first = protocol.parse_client_message(
                    frame, max_bytes=deps.settings.max_frame_bytes
                )
            except protocol.ProtocolError as exc:
                # A token with an unreadable version says so (a fixed text, no input); an
                # empty or missing token is "authentication required".
                bad_version = exc.message.startswith("auth.protocol")
                raise MissingToken(exc.message if bad_version else None) from None
            if isinstance(first, protocol.Auth):
                token = first.token
                asked = first.protocol if asked is None else asked
        if token is None:
            raise MissingToken
    return await deps.verifier.verify(token), protocol.session_version(asked)


def _wall_to_trio(expires_at: float) -> float:
    return trio.current_time() + max(0.0, expires_at - time.time())


class _Session:
    def __init__(self, deps: SessionDeps, client: Client, send: Send) -> None:
        self.deps = deps
        self.client = client
        self.send = send
        self.expiry = trio.CancelScope()
        #: Set when the session sends its close frame: nothing may be sent after it.
        self.closing = False
        self.requests = 0

    def reply(self, message: dict[str, Any]) -> None:
        self.client.offer(protocol.encode(message))

    async def write_loop(self, scope: trio.CancelScope) -> None:
        with scope:
            try:
                async for text in self.client.outbox:
                    # The session may have sent its close frame while this task held a message
                    # (no checkpoint raises after the receive): hypercorn refuses a send then.
                    if self.closing:
                        break
                    await self.send({"type": "websocket.send", "text": text})
                    self.client.sent()
            except trio.ClosedResourceError:
                pass
            except Exception:
                logger.exception("ws {} writer failed", self.client.peer)
                self.client.drop(1011, "internal error")

    async def expiry_watch(self) -> None:
        with self.expiry:
            await trio.sleep_forever()
        self.client.drop(CLOSE_POLICY, "token expired")

    def arm_expiry(self, identity: Identity) -> None:
        self.expiry.deadline = (
            math.inf if identity.expires_at is None else _wall_to_trio(identity.expires_at)
        )

    async def read_loop(self, receive: Receive, requests: trio.Nursery) -> None:
        settings = self.deps.settings
        while True:
            frame = await _receive_frame(receive)
            try:
                msg = protocol.parse_client_message(frame, max_bytes=settings.max_frame_bytes)
            except protocol.ProtocolError as exc:
                self.reply(protocol.error(exc.message, exc.code, request_id=exc.request_id))
                continue
            if isinstance(msg, protocol.Ping):
                self.reply(protocol.pong(msg.request_id))
            elif isinstance(msg, protocol.Auth):
                await self.reauthenticate(msg)
            elif isinstance(msg, protocol.Request):
                if self.requests >= settings.max_requests:
                    self.reply(
                        protocol.error(
                            f"at most {settings.max_requests} requests at once; send it again",
                            protocol.ErrorCode.BUSY,
                            request_id=msg.request_id,
                        )
                    )
                    continue
                self.requests += 1
                requests.start_soon(self.dispatch, msg)
            else:
                await self.dispatch(msg)

    async def reauthenticate(self, msg: protocol.Auth) -> None:
        try:
            identity = await self.deps.verifier.verify(msg.token)
        except AuthError as exc:
            self.deps.metrics.ws_auth_failures.inc()
            self.client.drop(exc.close_code, exc.reason)
            return
        self.arm_expiry(identity)
        self.reply(protocol.ack(msg.TYPE, msg.request_id))

    async def dispatch(self, command: protocol.Command) -> None:
        rid = command.request_id
        request = isinstance(command, protocol.Request)
        settings = self.deps.settings
        timeout = settings.request_timeout_s if request else settings.command_timeout_s
        try:
            with trio.fail_after(timeout):
                answer = await self.deps.commands(command)
        except CommandRejected as exc:
            self.reply(
                protocol.error(exc.message, exc.code, request_id=rid, trader_id=exc.trader_id)
            )
        except trio.TooSlowError:
            self.reply(
                protocol.error(
                    "the daemon did not answer in time",
                    protocol.ErrorCode.COMMAND_TIMEOUT,
                    request_id=rid,
                )
            )
        except Exception:
            logger.exception("command {} failed", command.TYPE)
            self.deps.metrics.errors.labels("server").inc()
            self.reply(
                protocol.error(
                    f"{command.TYPE} failed", protocol.ErrorCode.COMMAND_FAILED, request_id=rid
                )
            )
        else:
            if isinstance(command, protocol.Request):
                self.reply(protocol.result(command, answer or {}))
            else:
                self.reply(protocol.ack(command.TYPE, rid))
        finally:
            if request:
                self.requests -= 1


async def run_session(deps: SessionDeps, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ``/ws`` connection until the browser leaves or the server closes it.

    Never raises for anything the browser does. Cancellation (server shutdown): the close frame
    (1001) is sent within ``close_timeout_s``.
    """
    if (await receive())["type"] != "websocket.connect":
        return
    settings = deps.settings
    client = Client(_peer(scope), settings.queue_size, settings.stall_s)
    session = _Session(deps, client, send)
    deps.hub.add(client)
    peer_gone = False
    writer = trio.CancelScope()
    try:
        # Accept first: a browser sees the close code and reason only on an open socket.
        await send({"type": "websocket.accept"})
        with client.cancel_scope:
            try:
                identity, client.protocol = await _authenticate(deps, scope, receive)
            except AuthError as exc:
                deps.metrics.ws_auth_failures.inc()
                logger.info("ws {} rejected: {}", client.peer, exc.reason)
                client.drop(exc.close_code, exc.reason)
                return
            session.arm_expiry(identity)
            # No checkpoint between the snapshot and joining the broadcast: nothing is missed.
            session.reply(
                protocol.hello(
                    server_version=settings.server_version,
                    user_id=settings.user_id,
                    machine_id=settings.machine_id,
                    queue_size=settings.queue_size,
                    protocol=client.protocol,
                )
            )
            snap = deps.snapshot()
            session.reply(
                protocol.snapshot(signals=snap.signals, traders=snap.traders, status=snap.status)
            )
            deps.hub.authenticated(client)
            logger.info("ws {} connected ({})", client.peer, identity.method)
            deps.writers.start_soon(session.write_loop, writer)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(session.expiry_watch)
                try:
                    await session.read_loop(receive, nursery)
                finally:
                    nursery.cancel_scope.cancel()
    except* _PeerGone:
        peer_gone = True
    finally:
        writer.cancel()
        deps.hub.remove(client)
        client.close_queue()
        if not peer_gone:
            code = client.close_code if client.close_code is not None else CLOSE_GOING_AWAY
            reason = client.close_reason if client.close_code is not None else "server closing"
            with trio.move_on_after(settings.close_timeout_s) as cleanup:
                cleanup.shield = True
                session.closing = True
                await send({"type": "websocket.close", "code": code, "reason": reason})
                # Finish the closing handshake before hypercorn drops the TCP connection.
                while (await receive())["type"] != "websocket.disconnect":
                    pass
        if client.authenticated:
            logger.info("ws {} closed ({})", client.peer, client.close_reason or "peer left")
