"""The PostgREST client: supabase-py's ``AsyncPostgrestClient`` over an httpx client we own.

Why not ``supabase.acreate_client``: its auth and realtime clients schedule asyncio tasks, which
do not exist under Trio. The PostgREST client (the one ``supabase.AsyncClient.postgrest``
returns, built the same way: ``{url}/rest/v1``, ``apikey`` + ``Authorization: Bearer`` headers)
only needs an ``httpx.AsyncClient``, and httpx runs on Trio. Its built-in retry sleeps with
``asyncio.sleep``, so it is switched off; :class:`~vyx.retry.RetryPolicy` retries here instead.

Every non-2xx response is turned into :class:`PostgrestError` by a response hook (the client's own
``APIError`` drops the HTTP status, and the status is what says whether to retry). Errors::

    StoreError (vyx.store.errors)
     ├── StoreUnavailable
     │    └── SupabaseUnavailable   a direct call gave up after RetryPolicy.max_attempts
     └── PostgrestError                  one request failed: .failure (ApiFailure), .verdict

The service key is sent in headers only; it is never part of a message, a repr or a log line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import httpx
import trio
from loguru import logger
from postgrest import AsyncPostgrestClient, ReturnMethod
from postgrest.exceptions import APIError

from vyx.retry import Backoff, RetryPolicy
from vyx.settings import SupabaseConfig
from vyx.store.errors import StoreError, StoreUnavailable
from vyx.store.supabase.wire import ApiFailure, Verdict, classify, failure_from_response

T = TypeVar("T")

#: PostgREST's retries: direct calls (trader loads, machine rows, heartbeats) give up after
#: ``max_attempts`` and raise; the spool drain keeps its rows and retries at the capped backoff
#: for as long as it takes (rows are durable there).
SUPABASE_RETRY = RetryPolicy(
    backoff=Backoff(initial=0.5, maximum=30.0), max_retry_after_s=30.0, attempt_timeout_s=10.0
)


class PostgrestError(StoreError):
    """One PostgREST request failed."""

    def __init__(self, failure: ApiFailure) -> None:
        self.failure = failure
        self.verdict: Verdict = classify(failure)
        super().__init__(str(failure))


class SupabaseUnavailable(StoreUnavailable):
    """A direct request (not spooled) failed ``max_attempts`` times or was refused."""


class _HttpStatusError(Exception):
    def __init__(self, failure: ApiFailure) -> None:
        self.failure = failure
        super().__init__(str(failure))


async def _raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    body = await response.aread()
    raise _HttpStatusError(failure_from_response(response.status_code, body, response.headers))


def _bool_filter(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


class Rest:
    """Requests to one Supabase project's PostgREST, each bounded by ``policy.attempt_timeout_s``.

    Single-attempt methods raise :class:`PostgrestError`; :meth:`call` retries a request."""

    def __init__(
        self, client: AsyncPostgrestClient, policy: RetryPolicy, http: httpx.AsyncClient
    ) -> None:
        self._client = client
        self._http = http
        self.policy = policy

    @classmethod
    def open(
        cls,
        cfg: SupabaseConfig,
        *,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Rest:
        """A client for ``cfg.url`` with the service key. ``transport`` is the test seam
        (``httpx.ASGITransport`` around the fake, or a fault-injecting wrapper)."""
        policy = policy or SUPABASE_RETRY
        base = f"{cfg.url.rstrip('/')}/rest/v1"
        headers = {
            "apikey": cfg.service_key,
            "Authorization": f"Bearer {cfg.service_key}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        http = httpx.AsyncClient(
            base_url=base,
            headers=headers,
            timeout=httpx.Timeout(policy.attempt_timeout_s),
            transport=transport,
            event_hooks={"response": [_raise_for_status]},
        )
        client = AsyncPostgrestClient(base, headers=headers, http_client=http, retry_enabled=False)
        # We own the httpx client (its hooks); aclose() closes it.
        client._owns_session = True
        return cls(client, policy, http)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def _execute(self, builder: Any) -> list[dict[str, Any]]:
        data = await self._bounded(builder.execute)
        rows = data.data
        return rows if isinstance(rows, list) else []

    async def _bounded(self, request: Callable[[], Awaitable[T]]) -> T:
        """One attempt of ``request`` within ``attempt_timeout_s``.

        Raises :class:`PostgrestError`."""
        timeout = self.policy.attempt_timeout_s
        failure: ApiFailure
        with trio.move_on_after(timeout):
            try:
                return await request()
            except _HttpStatusError as exc:
                failure = exc.failure
            except APIError as exc:  # a 2xx whose body did not parse
                failure = ApiFailure(status=None, code=exc.code, message=str(exc.message))
            except httpx.TimeoutException:
                failure = ApiFailure(None, None, f"timed out after {timeout:g} s")
            except httpx.TransportError as exc:
                failure = ApiFailure(None, None, f"{type(exc).__name__}: {exc}")
            raise PostgrestError(failure)
        raise PostgrestError(ApiFailure(None, None, f"timed out after {timeout:g} s"))

    async def describe(self) -> dict[str, Any]:
        """``GET /rest/v1/``: PostgREST's OpenAPI description of the tables it serves."""
        response = await self._bounded(lambda: self._http.get("/"))
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise PostgrestError(
                ApiFailure(response.status_code, None, "not an OpenAPI description")
            )
        return doc

    async def insert(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, returning: bool = False
    ) -> list[dict[str, Any]]:
        """``POST /rest/v1/{table}``: a plain insert (a conflicting key is a 409/23505)."""
        builder = self._client.from_(table).insert(
            [dict(r) for r in rows],
            returning=ReturnMethod.representation if returning else ReturnMethod.minimal,
        )
        return await self._execute(builder)

    async def upsert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        on_conflict: str,
        ignore_duplicates: bool = False,
        returning: bool = False,
    ) -> list[dict[str, Any]]:
        """``POST /rest/v1/{table}?on_conflict=...`` with ``Prefer: resolution=...``."""
        builder = self._client.from_(table).upsert(
            [dict(r) for r in rows],
            on_conflict=on_conflict,
            ignore_duplicates=ignore_duplicates,
            returning=ReturnMethod.representation if returning else ReturnMethod.minimal,
        )
        return await self._execute(builder)

    async def select(
        self,
        table: str,
        *,
        eq: Mapping[str, Any],
        columns: str = "*",
        order: str | None = None,
        desc: bool = False,
        limit: int | None = None,
        lt: Mapping[str, Any] | None = None,
        gt: Mapping[str, Any] | None = None,
        then_by: str | None = None,
        in_: Mapping[str, Sequence[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /rest/v1/{table}?select=...&col=eq.value...`` (and ``lt.``/``gt.``/``in.``
        filters; ``order``, then ascending ``then_by``)."""
        builder = self._client.from_(table).select(columns)
        for column, value in eq.items():
            builder = builder.eq(column, _bool_filter(value))
        for column, value in (lt or {}).items():
            builder = builder.lt(column, value)
        for column, value in (gt or {}).items():
            builder = builder.gt(column, value)
        for column, values in (in_ or {}).items():
            builder = builder.in_(column, list(values))
        if order is not None:
            builder = builder.order(order, desc=desc)
        if then_by is not None:
            builder = builder.order(then_by)
        if limit is not None:
            builder = builder.limit(limit)
        return await self._execute(builder)

    async def update(
        self, table: str, values: Mapping[str, Any], *, eq: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """``PATCH /rest/v1/{table}?col=eq.value`` returning the updated rows."""
        builder = self._client.from_(table).update(dict(values))
        for column, value in eq.items():
            builder = builder.eq(column, _bool_filter(value))
        return await self._execute(builder)

    async def delete(
        self, table: str, *, eq: Mapping[str, Any], returning: bool = False
    ) -> list[dict[str, Any]]:
        """``DELETE /rest/v1/{table}?col=eq.value`` (the deleted rows with ``returning``)."""
        builder = self._client.from_(table).delete(
            returning=ReturnMethod.representation if returning else ReturnMethod.minimal
        )
        for column, value in eq.items():
            builder = builder.eq(column, _bool_filter(value))
        return await self._execute(builder)

    async def call(
        self, what: str, request: Callable[[], Awaitable[T]], *, attempts: int | None = None
    ) -> T:
        """Run ``request`` with bounded retries on ``retry`` verdicts.

        Raises :class:`SupabaseUnavailable` after ``max_attempts`` failures (``attempts``, if
        given) or at once for a ``blocked`` one, :class:`PostgrestError` for a rejection.
        Cancellation propagates."""
        policy = self.policy
        if attempts is not None:
            policy = attrs.evolve(policy, max_attempts=attempts)
        while True:
            try:
                return await request()
            except PostgrestError as exc:
                if exc.verdict == "reject":
                    raise
                if exc.verdict == "blocked":
                    raise SupabaseUnavailable(f"{what}: {exc}") from None
                if policy.exhausted:
                    raise SupabaseUnavailable(
                        f"{what}: gave up after {policy.attempt} attempts: {exc}"
                    ) from None
                delay = policy.delay(exc.failure.retry_after_s)
                logger.warning("supabase: {} failed ({}), retrying in {:.1f} s", what, exc, delay)
                await trio.sleep(delay)
                policy = policy.failed()
