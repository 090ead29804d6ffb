"""A PostgREST-compatible test server over a real PostgreSQL database (PostgREST itself is not
installable here), mounted as Supabase mounts it: ``/rest/v1``.

An ASGI app (in-process through ``httpx.ASGITransport``, or over TCP with
:func:`~tests.vyx.store.supabase.fake_postgrest.serve_tcp`). Each request runs as SQL in one
transaction under the request's role, as PostgREST runs it: ``SET LOCAL ROLE`` to the JWT's
``role`` claim (``anon`` without a token; ``service_role`` bypasses RLS, ``authenticated`` does
not) with ``request.jwt.claims`` (and the older ``request.jwt.claim.sub``/``.role``) set, so
``auth.uid()``, grants and RLS policies are the database's own, and so are types, CHECKs,
unique and foreign keys. Statements come from :mod:`~tests.vyx.store.supabase.pgrest_query`;
errors are PostgREST's JSON (``code``, ``details``, ``hint``, ``message``) with its status
mapping (``docs/references/errors.rst``): 23503/23505 → 409, 42501 → 401 for ``anon`` and 403
otherwise, 42P01/42883 → 404, 08*/53* → 503, others in 2x/4x classes → 400.

Supabase's gateway parts: ``apikey`` is required (401 without it); keys are HS256 JWTs signed
with the project's secret (:meth:`PostgrestServer.token`). :attr:`PostgrestServer.down` makes
every request answer 503 as PostgREST does when its database is unreachable.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import attrs
import jwt
import psycopg
import trio

from tests.vyx.store.supabase.fake_postgrest import (
    Receive,
    Scope,
    Send,
    read_request,
    serve_lifespan,
)
from tests.vyx.store.supabase.pgrest_catalog import SCHEMA, describe, functions, table_info
from tests.vyx.store.supabase.pgrest_query import (
    ApiError,
    Prefer,
    delete_sql,
    insert_sql,
    payload_columns,
    rpc_sql,
    select_sql,
    update_sql,
)
from tests.vyx.store.supabase.postgres import Databases, Template

JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
ROLES = ("anon", "authenticated", "service_role")
_JSON = [(b"content-type", b"application/json; charset=utf-8")]

#: (status, body or None, extra headers)
Reply = tuple[int, bytes | None, list[tuple[bytes, bytes]]]


def status_for(sqlstate: str, role: str) -> int:
    """PostgREST's HTTP status for a PostgreSQL error code."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "53400": 500,
        "P0001": 400,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate == "42501":
        return 401 if role == "anon" else 403
    prefixes = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return prefixes.get(sqlstate[:2], 400)


@attrs.define
class Logged:
    """One request as the server saw it."""

    method: str
    path: str
    role: str
    query: str = ""
    status: int = 0


class _Pool:
    """A few connections, each used by one worker thread at a time."""

    def __init__(self, conninfo: str, size: int) -> None:
        self._conninfo = conninfo
        self._idle: queue.SimpleQueue[psycopg.Connection[Any]] = queue.SimpleQueue()
        self._all: list[psycopg.Connection[Any]] = []
        self.limiter = trio.CapacityLimiter(size)

    def _take(self) -> psycopg.Connection[Any]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self._conninfo)
            self._all.append(conn)
        if conn.closed or conn.broken:
            conn = psycopg.connect(self._conninfo)
            self._all.append(conn)
        return conn

    def run(self, work: Callable[[psycopg.Connection[Any]], Reply]) -> Reply:
        conn = self._take()
        try:
            return work(conn)
        finally:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            self._idle.put(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()


class PostgrestServer:
    """The ASGI app over the database at ``conninfo`` (a superuser connection; requests
    switch to their role). ``requests`` logs every request; close with :meth:`close`."""

    def __init__(self, conninfo: str, *, jwt_secret: str = JWT_SECRET, pool: int = 4) -> None:
        self.conninfo = conninfo
        self.jwt_secret = jwt_secret
        self._pool = _Pool(conninfo, pool)
        self.down = False
        self.requests: list[Logged] = []
        self.service_key = self.token("service_role")
        self.anon_key = self.token("anon")

    def token(self, role: str, sub: str | None = None, *, ttl_s: float = 3600) -> str:
        """A JWT as Supabase issues them (keys: ``role`` only; users: ``sub`` too)."""
        claims: dict[str, Any] = {
            "role": role,
            "iss": "supabase-test",
            "exp": int(time.time() + ttl_s),
        }
        if sub is not None:
            claims["sub"] = sub
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def close(self) -> None:
        """Close the connections (the database can then be dropped)."""
        self._pool.close()

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``statement`` as the superuser (test setup and inspection), committed."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def rows(self, table: str, order: str = "created_at") -> list[dict[str, Any]]:
        """Every row of ``table`` as PostgREST prints it (superuser, RLS not applied)."""
        found = self.sql(f"select to_json(t) from public.{table} t order by {order}")
        return [r[0] for r in found]

    def insert(self, table: str, *rows: dict[str, Any]) -> None:
        """Insert ``rows`` as the superuser (JSON values converted by PostgreSQL)."""
        for row in rows:
            columns = ", ".join(f'"{c}"' for c in row)
            self.sql(
                f"insert into public.{table} ({columns}) select {columns} from "
                f"json_populate_record(null::public.{table}, %s::json)",
                (json.dumps(row),),
            )

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        headers, body = await read_request(scope, receive)
        log = Logged(scope["method"], scope["path"], "", scope["query_string"].decode())
        self.requests.append(log)
        try:
            status, out, extra = await self._handle(scope, headers, body, log)
        except ApiError as exc:
            status, out, extra = exc.status, json.dumps(exc.body).encode(), _JSON
        log.status = status
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": out or b""})

    def _claims(self, headers: dict[str, str]) -> dict[str, Any]:
        if "apikey" not in headers:
            raise ApiError(
                401,
                None,
                "No API key found in request",
                hint="No `apikey` request header or url param was found.",
            )
        auth = headers.get("authorization", "")
        if not auth:
            return {"role": "anon"}
        try:
            claims: dict[str, Any] = jwt.decode(
                auth.removeprefix("Bearer ").strip(),
                self.jwt_secret,
                algorithms=["HS256"],
                options={"verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "PGRST303", "JWT expired") from None
        except jwt.InvalidTokenError:
            raise ApiError(401, "PGRST301", "JWSError JWSInvalidSignature") from None
        if claims.get("role") not in ROLES:
            raise ApiError(401, "PGRST301", f'role "{claims.get("role")}" does not exist')
        return claims

    async def _handle(
        self, scope: Scope, headers: dict[str, str], body: bytes, log: Logged
    ) -> Reply:
        path: str = scope["path"]
        if not path.startswith("/rest/v1"):
            raise ApiError(404, None, "no Route matched with those values")
        claims = self._claims(headers)
        log.role = claims["role"]
        if self.down:
            raise ApiError(
                503,
                "PGRST001",
                "Database client error. Retrying the connection.",
                "connection to server failed: Connection refused",
            )
        route = path.removeprefix("/rest/v1").strip("/")
        query = parse_qsl(scope["query_string"].decode(), keep_blank_values=True)
        request = _Request(
            scope["method"],
            route,
            query,
            Prefer.parse(headers.get("prefer", "")),
            body,
            claims,
            headers.get("host", "localhost"),
        )
        return await trio.to_thread.run_sync(
            self._pool.run, request.execute, limiter=self._pool.limiter
        )


@attrs.frozen
class _Request:
    method: str
    route: str
    query: list[tuple[str, str]]
    prefer: Prefer
    body: bytes
    claims: dict[str, Any]
    host: str

    @property
    def role(self) -> str:
        return str(self.claims["role"])

    def execute(self, conn: psycopg.Connection[Any]) -> Reply:
        """Run the request in one transaction under its role (worker thread)."""
        try:
            with conn.transaction():
                conn.execute(f'SET LOCAL ROLE "{self.role}"')
                conn.execute(
                    "select set_config('request.jwt.claims', %s, true), "
                    "set_config('request.jwt.claim.sub', %s, true), "
                    "set_config('request.jwt.claim.role', %s, true), "
                    "set_config('request.method', %s, true)",
                    (
                        json.dumps(self.claims),
                        str(self.claims.get("sub") or ""),
                        self.role,
                        self.method,
                    ),
                )
                return self._dispatch(conn)
        except psycopg.Error as exc:
            diag = exc.diag
            code = diag.sqlstate or "XX000"
            raise ApiError(
                status_for(code, self.role),
                code,
                diag.message_primary or str(exc),
                diag.message_detail,
                diag.message_hint,
            ) from None

    def _dispatch(self, conn: psycopg.Connection[Any]) -> Reply:
        if self.route == "":
            if self.method not in ("GET", "HEAD"):
                raise ApiError(405, "PGRST117", f"Unsupported HTTP method: {self.method}")
            doc = describe(conn, self.role, self.host)
            return (
                200,
                json.dumps(doc).encode(),
                [(b"content-type", b"application/openapi+json; charset=utf-8")],
            )
        if self.route.startswith("rpc/"):
            return self._rpc(conn, self.route.removeprefix("rpc/"))
        table = table_info(conn, self.route)
        if table is None:
            raise ApiError(
                404,
                "PGRST205",
                f"Could not find the table '{SCHEMA}.{self.route}' in the schema cache",
            )
        params = dict(self.query)
        if self.method == "GET":
            statement, values = select_sql(table, params, self.query)
            return 200, self._fetch(conn, statement, values)[0], _JSON
        if self.method == "POST":
            rows = self._json()
            rows = rows if isinstance(rows, list) else [rows]
            names = payload_columns(table, rows, params.get("columns"))
            text, _ = self._fetch(
                conn, insert_sql(table, params, self.prefer, names), [json.dumps(rows)]
            )
            return (201, text, _JSON) if self.prefer.representation else (201, None, [])
        if self.method == "PATCH":
            values_in = self._json()
            if not isinstance(values_in, dict):
                raise ApiError(400, "PGRST102", "Empty or invalid json")
            statement, values = update_sql(table, params, self.query, self.prefer, list(values_in))
            text, _ = self._fetch(conn, statement, [json.dumps(values_in), *values])
            return (200, text, _JSON) if self.prefer.representation else (204, None, [])
        if self.method == "DELETE":
            statement, values = delete_sql(table, params, self.query, self.prefer)
            text, _ = self._fetch(conn, statement, values)
            return (200, text, _JSON) if self.prefer.representation else (204, None, [])
        raise ApiError(405, "PGRST117", f"Unsupported HTTP method: {self.method}")

    def _json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError as exc:
            raise ApiError(400, "PGRST102", "Empty or invalid json", str(exc)) from None

    @staticmethod
    def _fetch(
        conn: psycopg.Connection[Any], statement: Any, values: list[Any]
    ) -> tuple[bytes, int]:
        row = conn.execute(statement, values).fetchone()
        assert row is not None
        return str(row[0]).encode(), int(row[1]) if len(row) > 1 else 0

    def _rpc(self, conn: psycopg.Connection[Any], name: str) -> Reply:
        if self.method not in ("GET", "POST"):
            raise ApiError(405, "PGRST101", "Only GET and POST verbs are allowed for functions")
        args = self._json() if self.method == "POST" else dict(self.query)
        args = args if isinstance(args, dict) else {}
        for fn in functions(conn, self.role, name):
            if {a for a, _ in fn.args} == set(args):
                statement, values = rpc_sql(fn, args)
                row = conn.execute(statement, values).fetchone()
                if fn.returns_void:
                    return 204, None, []
                text = "null" if row is None or row[0] is None else str(row[0])
                return 200, text.encode(), _JSON
        listed = ", ".join(sorted(args))
        raise ApiError(
            404,
            "PGRST202",
            f"Could not find the function {SCHEMA}.{name}({listed}) in the schema cache",
            hint="If a new function was created in the database with this name and "
            "parameters, try reloading the schema cache.",
        )


@contextmanager
def serving(databases: Databases, template: Template) -> Iterator[PostgrestServer]:
    """A server over a new copy of ``template``; the database is dropped afterwards."""
    name = databases.create(template)
    server = PostgrestServer(databases.pg.conninfo(name))
    try:
        yield server
    finally:
        server.close()
        databases.drop(name)
