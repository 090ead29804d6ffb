"""The raw ASGI application: a small router over ``/ws``, ``/health``, ``/metrics``, ``/`` (the
dashboard over HTTP, the browser WebSocket too) and ``/static/…`` (the dashboard's scripts and
the vendored chart library, from package data: only the files shipped, nothing else).

No framework: four routes do not need one. HTTP handlers never read a request body and answer
``GET``/``HEAD`` only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from importlib import resources
from urllib.parse import parse_qsl

from vyx.server.session import Receive, Scope, Send, SessionDeps, run_session
from vyx.telemetry.health import HealthRegistry
from vyx.telemetry.metrics import CONTENT_TYPE_LATEST, Metrics

#: Where the browser WebSocket is served (``/``: the original web app's client).
WEBSOCKET_PATHS = frozenset({"/ws", "/"})

#: Headers of every HTTP response (``cache-control`` unless given).
_COMMON_HEADERS = [(b"x-content-type-options", b"nosniff")]
_NO_STORE = (b"cache-control", b"no-store")

#: The dashboard carries a token in its address: never send it on as a referrer.
_PAGE_HEADERS = [
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'",
    ),
]


def load_dashboard() -> bytes:
    """The dashboard page shipped with the package."""
    return resources.files("vyx.server").joinpath("dashboard.html").read_bytes()


_STATIC_TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".md": b"text/plain; charset=utf-8",
    "": b"text/plain; charset=utf-8",  # LICENSE
}


def load_static() -> dict[str, tuple[bytes, bytes, bytes]]:
    """Every file under the package's ``static/`` folder: ``/static/<path>`` -> (body, type,
    etag)."""
    found: dict[str, tuple[bytes, bytes, bytes]] = {}
    pending = [("", resources.files("vyx.server").joinpath("static"))]
    while pending:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((f"{prefix}{entry.name}/", entry))
                continue
            suffix = entry.name[entry.name.rfind(".") :] if "." in entry.name else ""
            if suffix in _STATIC_TYPES:
                body = entry.read_bytes()
                etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
                found[f"/static/{prefix}{entry.name}"] = (body, _STATIC_TYPES[suffix], etag)
    return found


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    *,
    head: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    extra = extra or []
    cached = any(name == b"cache-control" for name, _ in extra)
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *_COMMON_HEADERS,
        *([] if cached else [_NO_STORE]),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


#: A Fly machine id: the only ``?instance=`` value accepted (it goes into a response header).
FLY_MACHINE_ID = re.compile(r"[0-9a-f]{14}")


class _BadInstance(ValueError):
    """``?instance=`` is not a Fly machine id."""


def _instance(scope: Scope) -> str | None:
    """The ``instance`` query parameter (a Fly machine id), if any.

    Raises:
        _BadInstance: it is there but not a Fly machine id.
    """
    raw: bytes = scope.get("query_string", b"")
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if key == "instance":
            if FLY_MACHINE_ID.fullmatch(value) is None:
                raise _BadInstance
            return value
    return None


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]],
) -> None:
    """Answer an HTTP request, or refuse a WebSocket handshake with an HTTP response."""
    if scope["type"] == "http":
        await _respond(send, status, body, b"text/plain", extra=extra)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [*extra, (b"content-type", b"text/plain")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _replay(scope: Scope, receive: Receive, send: Send, target: str) -> None:
    """Ask Fly's proxy to replay this request on machine ``target`` (a checked Fly id)."""
    header = [(b"fly-replay", b"instance=" + target.encode("ascii"))]
    await _answer(scope, receive, send, 307, b"replaying on the requested machine\n", header)


class ServerApp:
    """The ASGI callable served by hypercorn.

    Args:
        sessions: what ``/ws`` sessions share.
        health: the component registry behind ``/health``.
        metrics: the registry behind ``/metrics``.
        dashboard: the page served at ``/`` (loaded lazily from package data by default).
        instance_id: this machine's Fly id: a request naming another one (``?instance=<id>``)
            is answered with ``fly-replay: instance=<id>``, and Fly's proxy replays it there.
            An ``instance`` that is not a Fly machine id is answered with 400.
            Browsers cannot set headers on a WebSocket, so this is how the dashboard and the web
            app reach a user's machine among all the machines of the Fly app.
    """

    def __init__(
        self,
        sessions: SessionDeps,
        health: HealthRegistry,
        metrics: Metrics,
        dashboard: Callable[[], bytes] = load_dashboard,
        instance_id: str | None = None,
    ) -> None:
        self._instance_id = instance_id
        self._sessions = sessions
        self._health = health
        self._metrics = metrics
        self._dashboard = dashboard
        self._page: bytes | None = None
        self._static: dict[str, tuple[bytes, bytes, bytes]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        try:
            target = _instance(scope) if kind in ("http", "websocket") else None
        except _BadInstance:
            body = b"instance must be a Fly machine id (14 lowercase hex digits)\n"
            await _answer(scope, receive, send, 400, body, [])
            return
        if target is not None and self._instance_id is not None and target != self._instance_id:
            await _replay(scope, receive, send, target)
            return
        if kind == "http":
            await self._http(scope, send)
        elif kind == "websocket":
            # The original web app's client connects to ``/``; same authentication as ``/ws``.
            if scope["path"] in WEBSOCKET_PATHS:
                await run_session(self._sessions, scope, receive, send)
            else:
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, send: Send) -> None:
        method = scope["method"]
        path = scope["path"]
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            await _respond(
                send, 405, b"method not allowed\n", b"text/plain", extra=[(b"allow", b"GET, HEAD")]
            )
            return
        if path == "/health":
            report = self._health.evaluate()
            body = json.dumps(report.to_json(), separators=(",", ":")).encode()
            await _respond(send, report.status.http_status, body, b"application/json", head=head)
        elif path == "/metrics":
            await _respond(
                send, 200, self._metrics.render(), CONTENT_TYPE_LATEST.encode(), head=head
            )
        elif path in ("/", "/index.html"):
            if self._page is None:
                self._page = self._dashboard()
            await _respond(
                send, 200, self._page, b"text/html; charset=utf-8", head=head, extra=_PAGE_HEADERS
            )
        elif path.startswith("/static/"):
            if self._static is None:
                self._static = load_static()
            found = self._static.get(path)
            if found is None:
                await _respond(send, 404, b"not found\n", b"text/plain", head=head)
                return
            body, kind, etag = found
            # Revalidated on each load: a new version of the daemon may ship new scripts.
            cache = [(b"cache-control", b"no-cache"), (b"etag", etag)]
            if dict(scope.get("headers", [])).get(b"if-none-match") == etag:
                await _respond(send, 304, b"", kind, head=True, extra=cache)
                return
            await _respond(send, 200, body, kind, head=head, extra=cache)
        else:
            await _respond(send, 404, b"not found\n", b"text/plain", head=head)
