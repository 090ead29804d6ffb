"""The server service: one port for ``/ws``, ``/health``, ``/metrics`` and the dashboard.

    handle = await nursery.start(run_server, cfg, deps)
    handle.broadcast(signal.to_message())      # never blocks
    print(handle.dashboard_url)                # embedded mode: carries the one-time token
    handle.shutdown()                          # or cancel: clients are closed with 1001

hypercorn's Trio worker serves the raw ASGI app of ``vyx.server.asgi``. Its access log stays off:
it would record ``access_token`` query parameters.
"""

from __future__ import annotations

import errno
import logging
import secrets
import socket
from collections.abc import Mapping
from contextlib import AsyncExitStack
from functools import partial
from typing import Any, TypeVar, cast

import attrs
import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from hypercorn.typing import Framework

from vyx import __version__
from vyx.server import hypercorn_patch, hypercorn_tcp_patch
from vyx.server.asgi import ServerApp
from vyx.server.auth import AuthConfig, TokenVerifier
from vyx.server.hub import CLOSE_GOING_AWAY, Hub, HubStatistics
from vyx.server.interface import CommandHandler, SnapshotProvider, empty_snapshot, reject_commands
from vyx.server.protocol import MAX_FRAME_BYTES
from vyx.server.session import SessionDeps, SessionSettings
from vyx.telemetry.health import ComponentState, HealthRegistry
from vyx.telemetry.metrics import Metrics

E = TypeVar("E", bound=BaseException)


class ListenError(OSError):
    """The server cannot listen on its address (in use, not allowed, not an address here)."""


@attrs.frozen
class ServerConfig:
    """Where and how the server listens."""

    #: Interface to bind; embedded mode uses 127.0.0.1, a cloud machine 0.0.0.0.
    host: str = "127.0.0.1"
    #: Port to bind (0: any free port, see ``ServerHandle.port``).
    port: int = 8080
    auth: AuthConfig = attrs.field(factory=AuthConfig)
    #: ``MACHINE_ID``, announced in ``hello``.
    machine_id: str | None = None
    #: This machine's Fly machine id (``FLY_MACHINE_ID``): requests with another
    #: ``?instance=`` are replayed there by Fly's proxy (``fly-replay``).
    instance_id: str | None = None
    #: Largest browser frame accepted; larger ones close the socket with 1009.
    max_frame_bytes: int = MAX_FRAME_BYTES
    #: Messages that may wait per client before it may be dropped as too slow: when its writer
    #: has sent nothing for ``client_stall_s``, or its backlog reaches 8 times this.
    client_queue_size: int = 256
    client_stall_s: float = 5.0
    #: Deadline for the first ``auth`` message when no ``access_token`` was given.
    auth_timeout_s: float = 10.0
    #: Deadline for the daemon to take a command.
    command_timeout_s: float = 10.0
    #: Deadline for the daemon to answer a request (``trader_draft`` may ask a model).
    request_timeout_s: float = 45.0
    #: Requests of one session in flight at once; more are answered ``busy``.
    session_requests: int = 4
    #: Deadline for sending one close frame.
    close_timeout_s: float = 2.0
    #: Deadline for closing every client at shutdown (and, again, for hypercorn's own drain).
    shutdown_timeout_s: float = 5.0
    #: WebSocket-level pings that detect dead peers (None: off).
    ping_interval_s: float | None = 20.0


@attrs.frozen
class ServerDeps:
    """What the server gets from the daemon."""

    #: Receives validated browser commands (see ``vyx.server.interface``).
    commands: CommandHandler = reject_commands
    #: Recent signals, traders and status for a client that just connected.
    snapshot: SnapshotProvider = empty_snapshot
    health: HealthRegistry = attrs.field(factory=HealthRegistry)
    metrics: Metrics = attrs.field(factory=Metrics)
    #: HTTP client for JWKS fetches (one is created when needed and None is given).
    http: httpx.AsyncClient | None = None
    #: The browsers' broadcast, when the daemon's services push to it before the server is up
    #: (one on ``metrics`` is made when None is given).
    hub: Hub | None = None


@attrs.frozen
class ServerStatistics:
    """What the server is doing."""

    #: Open WebSocket connections (authenticated or not yet).
    connections: int
    #: Authenticated clients receiving broadcasts.
    clients: int
    #: Clients dropped because they fell behind, since start.
    dropped_slow: int
    #: Messages broadcast since start.
    broadcasts: int


@attrs.define
class ServerHandle:
    """The running server, as given by ``task_status.started``."""

    #: ``http://host:port`` of the bound socket.
    url: str
    #: The bound port.
    port: int
    _hub: Hub = attrs.field(alias="hub", repr=False)
    _stop: trio.Event = attrs.field(alias="stop", repr=False)
    #: The embedded-mode token (None otherwise); never log it.
    local_token: str | None = attrs.field(default=None, repr=False)

    @property
    def dashboard_url(self) -> str:
        """The dashboard's address; in embedded mode with ``?token=`` (print it, never log it)."""
        return f"{self.url}/?token={self.local_token}" if self.local_token else f"{self.url}/"

    def broadcast(self, message: Mapping[str, Any]) -> int:
        """Send ``message`` (``{"type", "data"}``) to every authenticated browser; never blocks.

        Returns how many clients it was queued to. A client whose queue is full is closed
        (1013 "client too slow").
        """
        return self._hub.broadcast(message)

    async def wait_for_clients(self, n: int) -> None:
        """Wait until exactly ``n`` authenticated clients are connected (tests, demos)."""
        await self._hub.wait_until(clients=n)

    def statistics(self) -> ServerStatistics:
        """Current counts."""
        stats: HubStatistics = self._hub.statistics()
        return ServerStatistics(
            connections=stats.connections,
            clients=stats.clients,
            dropped_slow=stats.dropped_slow,
            broadcasts=stats.broadcasts,
        )

    def shutdown(self) -> None:
        """Stop gracefully: close clients with 1001, then stop listening; ``run_server`` returns."""
        self._stop.set()


def _listen(cfg: ServerConfig) -> socket.socket:
    """The server's socket, bound here so that a failure is one clear :class:`ListenError`
    (hypercorn would leave the socket it failed to bind open)."""
    family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((cfg.host, cfg.port))
    except OSError as exc:
        sock.close()
        raise _listen_error(cfg, exc) from None
    return sock


def _hypercorn_config(cfg: ServerConfig, sock: socket.socket) -> HypercornConfig:
    config = HypercornConfig()
    # hypercorn takes the bound socket over (and closes it).
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    # Through stdlib logging (warnings and errors reach stderr unless the app configures it).
    config.errorlog = logging.getLogger("vyx.server.hypercorn")
    config.websocket_max_message_size = cfg.max_frame_bytes
    config.websocket_ping_interval = cfg.ping_interval_s
    config.graceful_timeout = cfg.shutdown_timeout_s
    config.include_server_header = False
    return config


def _first(group: BaseExceptionGroup[E]) -> E:
    """The first exception of ``group`` that is not a group."""
    inner = group.exceptions[0]
    return _first(inner) if isinstance(inner, BaseExceptionGroup) else inner


def _listen_error(cfg: ServerConfig, exc: OSError) -> ListenError:
    """One line saying why the server cannot listen."""
    why = {
        errno.EADDRINUSE: "the port is already in use",
        errno.EACCES: "not allowed (ports below 1024 need privileges)",
        errno.EADDRNOTAVAIL: "the address is not one of this machine's",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    error = ListenError(f"cannot listen on {cfg.host}:{cfg.port}: {why}")
    error.errno = exc.errno
    return error


def _local_url(bind: str, host: str) -> tuple[str, int]:
    """``http://host:port`` to reach a bound socket (a wildcard bind is reached on loopback)."""
    _, _, port_text = bind.rpartition(":")
    port = int(port_text)
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return (f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"), port


async def run_server(
    cfg: ServerConfig,
    deps: ServerDeps,
    *,
    task_status: trio.TaskStatus[ServerHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until :meth:`ServerHandle.shutdown` or cancellation.

    Calls ``task_status.started(handle)`` once the socket is listening. Either way of stopping is
    graceful and bounded: every client is closed with 1001 within ``shutdown_timeout_s``, then
    hypercorn drains within the same budget.

    Raises:
        ListenError: the address could not be bound (one line saying why).
        RuntimeError: the installed hypercorn is not the release vyx's fixes fit.
    """
    # hypercorn's fixes (vyx.server.hypercorn_patch), installed by the first server to start.
    hypercorn_patch.apply()
    hypercorn_tcp_patch.apply()
    stop_requested = trio.Event()

    async def stop_on_cancel() -> None:
        # Lives outside the shield: turns the caller's cancellation into a graceful stop.
        try:
            await stop_requested.wait()
        finally:
            stop_requested.set()

    try:
        async with AsyncExitStack() as stack:
            http = deps.http
            if cfg.auth.jwks_url is not None and http is None:
                http = await stack.enter_async_context(httpx.AsyncClient())
            async with trio.open_nursery() as outer:
                outer.start_soon(stop_on_cancel)
                with trio.CancelScope(shield=True) as shielded:
                    await _serve(cfg, deps, http, stop_requested, shielded, task_status)
                outer.cancel_scope.cancel()
    except* ListenError as failed:
        raise _first(failed) from None


async def _serve(
    cfg: ServerConfig,
    deps: ServerDeps,
    http: httpx.AsyncClient | None,
    stop_requested: trio.Event,
    shielded: trio.CancelScope,
    task_status: trio.TaskStatus[ServerHandle],
) -> None:
    local_token = secrets.token_urlsafe(32) if cfg.auth.local_token else None
    health, metrics = deps.health, deps.metrics
    health.add_metrics_source(metrics.headline)
    health.report("server", ComponentState.STARTING, "binding")
    hub = deps.hub if deps.hub is not None else Hub(metrics)
    stop_hypercorn = trio.Event()
    async with trio.open_nursery() as writers:
        sessions = SessionDeps(
            settings=SessionSettings(
                user_id=cfg.auth.user_id,
                machine_id=cfg.machine_id,
                server_version=__version__,
                max_frame_bytes=cfg.max_frame_bytes,
                queue_size=cfg.client_queue_size,
                stall_s=cfg.client_stall_s,
                auth_timeout_s=cfg.auth_timeout_s,
                command_timeout_s=cfg.command_timeout_s,
                request_timeout_s=cfg.request_timeout_s,
                max_requests=cfg.session_requests,
                close_timeout_s=cfg.close_timeout_s,
            ),
            writers=writers,
            verifier=TokenVerifier(cfg.auth, http=http, local_token=local_token),
            hub=hub,
            commands=deps.commands,
            snapshot=deps.snapshot,
            metrics=metrics,
        )
        app = cast(Framework, ServerApp(sessions, health, metrics, instance_id=cfg.instance_id))
        async with trio.open_nursery() as nursery:
            config = _hypercorn_config(cfg, _listen(cfg))
            binds: list[str] = await nursery.start(
                partial(serve, app, config, shutdown_trigger=stop_hypercorn.wait)
            )
            url, port = _local_url(binds[0], cfg.host)
            handle = ServerHandle(
                url=url, port=port, hub=hub, stop=stop_requested, local_token=local_token
            )
            health.report("server", ComponentState.OK, f"listening on port {port}")
            task_status.started(handle)
            await stop_requested.wait()
            # Bound everything that follows, whatever hypercorn does.
            shielded.deadline = trio.current_time() + 2 * cfg.shutdown_timeout_s + 1
            health.report("server", ComponentState.DOWN, "shutting down")
            hub.close_all(CLOSE_GOING_AWAY, "server shutting down")
            with trio.move_on_after(cfg.shutdown_timeout_s):
                await hub.wait_until(connections=0)
            stop_hypercorn.set()
        # serve() returned, so hypercorn closed every connection: no writer is still blocked.
        writers.cancel_scope.cancel()
