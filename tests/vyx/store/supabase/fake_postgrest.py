"""A PostgREST fake speaking the wire format supabase-py's client uses, with fault injection.

An ASGI app over :class:`~tests.vyx.store.supabase.fake_tables.FakeDatabase`:

- ``GET /rest/v1/``: the OpenAPI description of the tables (column types, foreign keys).
- ``GET|POST|PATCH|DELETE /rest/v1/<table>``; ``apikey`` and ``Authorization: Bearer`` are
  required (the service key writes anything; the anon key reads nothing and writes nothing:
  RLS, 42501); ``select=``, ``<col>=eq.<v>``, ``order=<col>.<asc|desc>``, ``limit=``;
  ``on_conflict=``, ``columns=``; ``Prefer: return=minimal|representation,
  resolution=merge-duplicates|ignore-duplicates``; JSON arrays or objects; errors as
  ``{code, message, details, hint}`` with PostgREST's statuses.
- Faults (:class:`Fault`), consumed one per request in order: an HTTP status with a body
  (503, 500, 429 + Retry-After, 409/23505, 400/PGRST204...), a hang (the client times out),
  or "commit then fail" (the write lands but the response says it did not: the retry must not
  duplicate). :attr:`FakePostgrest.down` answers 503 to everything while set (an outage).
  :attr:`FakePostgrest.poison` (``(table, row) -> bool``) makes a write holding such a row fail
  with 23514, as a CHECK constraint would: the whole request, every time (a poison row).
- :class:`ConnectionFaults`, an httpx transport wrapper, adds refused connections and resets.

Serve it in-process with ``httpx.ASGITransport(app)`` (virtual time works) or over TCP with
:func:`serve_tcp` (hypercorn) for the subprocess test.
"""

from __future__ import annotations

import functools
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx
import trio

from tests.vyx.store.supabase.fake_tables import TABLES, FakeDatabase, PgError

SERVICE_KEY = "service-role-key-for-tests"
ANON_KEY = "anon-key-for-tests"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@attrs.frozen
class Fault:
    """One injected failure. ``kind``: ``status`` (answer ``status`` with ``body``),
    ``hang`` (sleep ``seconds`` first, then answer normally), ``after_commit`` (apply the
    request, then answer ``status``). ``table`` restricts it to one table's requests."""

    kind: str = "status"
    status: int = 503
    #: The answer's JSON (any shape: a fault may answer a malformed body with a 200).
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 60.0
    table: str | None = None


@attrs.define
class Request:
    method: str
    table: str
    rows: int
    status: int


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI ``lifespan`` scope: startup, then shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    """The whole body of an ASGI ``http`` request."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def read_request(scope: Scope, receive: Receive) -> tuple[dict[str, str], bytes]:
    """The headers (lower-case names) and the whole body of an ASGI ``http`` request."""
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    return headers, await read_body(receive)


class FakePostgrest:
    """The ASGI app. ``db`` is inspectable; ``requests`` logs every request."""

    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db or FakeDatabase()
        self.faults: deque[Fault] = deque()
        self.down = False
        self.poison: Callable[[str, dict[str, Any]], bool] | None = None
        self.requests: list[Request] = []

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def _take_fault(self, table: str) -> Fault | None:
        for fault in self.faults:
            if fault.table in (None, table):
                self.faults.remove(fault)
                return fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        headers, body = await read_request(scope, receive)
        status, payload, extra = await self._handle(scope, headers, body)
        out = b"" if payload is None else json.dumps(payload).encode()
        response_headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            *((k.encode(), v.encode()) for k, v in extra),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": out})

    async def _handle(
        self, scope: Scope, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        path: str = scope["path"]
        method: str = scope["method"]
        table = path.removeprefix("/rest/v1/").strip("/")
        log = Request(method, table, 0, 0)
        self.requests.append(log)
        status, payload, extra = await self._dispatch(method, table, scope, headers, body, log)
        log.status = status
        return status, payload, extra

    async def _dispatch(
        self,
        method: str,
        table: str,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        log: Request,
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        if not scope["path"].startswith("/rest/v1/"):
            return 404, {"message": "no Route matched with those values"}, []
        if "apikey" not in headers:
            return (
                401,
                {
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found.",
                },
                [],
            )
        role = self._role(headers)
        if role is None:
            return (
                401,
                {
                    "code": "PGRST301",
                    "message": "JWSError JWSInvalidSignature",
                    "details": None,
                    "hint": None,
                },
                [],
            )
        outage = (
            503,
            {
                "code": "PGRST000",
                "message": "Could not connect to the database",
                "details": "connection refused",
                "hint": None,
            },
            [],
        )
        if table == "" and method == "GET":  # the description: faults are for the tables
            return outage if self.down else (200, describe(), [])
        fault = self._take_fault(table)
        if self.down:
            return outage
        if fault is not None and fault.kind == "hang":
            await trio.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            return fault.status, fault.body or {"message": "injected"}, list(fault.headers)
        try:
            status, payload = self._execute(method, table, scope, headers, body, role, log)
        except PgError as exc:
            return exc.status, exc.body, []
        except ValueError as exc:
            return (
                400,
                {
                    "code": "PGRST102",
                    "message": f"Empty or invalid json: {exc}",
                    "details": None,
                    "hint": None,
                },
                [],
            )
        if fault is not None and fault.kind == "after_commit":
            return fault.status, fault.body or {"message": "injected after commit"}, []
        return status, payload, []

    @staticmethod
    def _role(headers: dict[str, str]) -> str | None:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return {SERVICE_KEY: "service_role", ANON_KEY: "anon"}.get(token)

    def _execute(
        self,
        method: str,
        table: str,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        role: str,
        log: Request,
    ) -> tuple[int, Any]:
        query = parse_qsl(scope["query_string"].decode(), keep_blank_values=True)
        prefer = {p.strip() for p in headers.get("prefer", "").split(",") if p.strip()}
        representation = "return=representation" in prefer
        filters = [
            (k, v.removeprefix("eq."))
            for k, v in query
            if k not in ("select", "order", "limit", "on_conflict", "columns")
        ]
        for key, value in query:
            if key not in ("select", "order", "limit", "on_conflict", "columns") and not (
                value.startswith("eq.")
            ):
                raise PgError(400, "PGRST100", f'"failed to parse filter ({value})"')
        self.db.table(table)
        if method == "GET":
            if role != "service_role":
                return 200, []  # RLS: no auth.uid(), no rows
            rows = self.db.select(table, filters)
            return 200, self._shape(rows, dict(query))
        if role != "service_role":
            raise PgError(
                401, "42501", f'new row violates row-level security policy for table "{table}"'
            )
        if method == "POST":
            data = json.loads(body)
            rows_in = data if isinstance(data, list) else [data]
            log.rows = len(rows_in)
            if self.poison is not None and any(
                isinstance(r, dict) and self.poison(table, r) for r in rows_in
            ):
                raise PgError(
                    400,
                    "23514",
                    f'new row for relation "{table}" violates check constraint "poison"',
                )
            params = dict(query)
            resolution = next(
                (
                    p.split("=")[1].removesuffix("-duplicates")
                    for p in prefer
                    if p.startswith("resolution=")
                ),
                None,
            )
            columns = (
                [c.strip('"') for c in params["columns"].split(",")]
                if params.get("columns")
                else None
            )
            out = self.db.insert(
                table,
                rows_in,
                on_conflict=params.get("on_conflict"),
                resolution=resolution,
                columns=columns,
            )
            return 201, out if representation else None
        if method == "PATCH":
            out = self.db.update(table, json.loads(body), filters)
            log.rows = len(out)
            return (200, out) if representation else (204, None)
        if method == "DELETE":
            log.rows = self.db.delete(table, filters)
            return 204, None
        return 405, {"message": f"method {method} not allowed"}

    @staticmethod
    def _shape(rows: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
        order = params.get("order")
        if order:
            column, _, direction = order.partition(".")
            rows.sort(
                key=lambda r: (r[column] is None, r[column]), reverse=direction.startswith("desc")
            )
        if "limit" in params:
            rows = rows[: int(params["limit"])]
        select = params.get("select", "*")
        if select != "*":
            wanted = [c.strip() for c in select.split(",")]
            rows = [{c: r[c] for c in wanted} for r in rows]
        return rows

    def count(self, table: str) -> int:
        return self.db.count(table)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.db.select(table, [])


def describe() -> dict[str, Any]:
    """``GET /``: PostgREST's OpenAPI description of the fake's tables (the parts the machine
    reads: each column's type in ``format``, foreign keys in ``description``)."""
    definitions: dict[str, Any] = {}
    for name, table in TABLES.items():
        props: dict[str, Any] = {}
        for column, col in table.columns.items():
            props[column] = {"format": col.type}
            if column in table.foreign:
                ft, fc = table.foreign[column]
                props[column]["description"] = (
                    f"Note:\nThis is a Foreign Key to `{ft}.{fc}`.<fk table='{ft}' column='{fc}'/>"
                )
        required = [c for c, col in table.columns.items() if not col.nullable]
        definitions[name] = {"required": required, "properties": props, "type": "object"}
    return {"swagger": "2.0", "basePath": "/", "paths": {}, "definitions": definitions}


class ConnectionFaults(httpx.AsyncBaseTransport):
    """Wraps a transport: while :attr:`refuse` is set, or for the next :attr:`resets`
    requests, the connection fails like a closed port or a dropped socket."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.refuse = False
        self.resets = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await trio.lowlevel.checkpoint()
        if self.refuse:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if self.resets:
            self.resets -= 1
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def transport(app: FakePostgrest) -> ConnectionFaults:
    """An in-process transport to ``app`` with connection faults."""
    return ConnectionFaults(httpx.ASGITransport(app=app))


async def serve_tcp(
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
    *,
    tls: tuple[str, str] | None = None,
    task_status: trio.TaskStatus[int],
) -> None:
    """Serve ``app`` (this fake, or another ASGI app) on 127.0.0.1 (a free port, handed to
    ``task_status``) until cancelled; with ``tls`` (a certificate's and its key's PEM files)
    over HTTPS."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = ["127.0.0.1:0"]
    if tls is not None:
        config.certfile, config.keyfile = tls
    config.accesslog = None
    config.errorlog = None
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            functools.partial(serve, app, config)  # type: ignore[arg-type]
        )
        task_status.started(int(urls[0].rsplit(":", 1)[1]))


__all__ = [
    "ANON_KEY",
    "SERVICE_KEY",
    "TABLES",
    "ConnectionFaults",
    "FakePostgrest",
    "Fault",
    "serve_tcp",
    "transport",
]
