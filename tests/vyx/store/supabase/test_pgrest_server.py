"""The PostgREST test server over real PostgreSQL speaks PostgREST's wire format: the requests
supabase-py sends become SQL under the request's role, and PostgreSQL's own constraints, types
and RLS answer with PostgREST's error shapes and statuses (``docs/references/errors.rst``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.vyx.store.supabase.factory import OTHER_USER, TRADER, USER
from tests.vyx.store.supabase.pgrest_server import PostgrestServer, serving
from tests.vyx.store.supabase.postgres import Databases

SIGNAL = "0e5b9c1d-2f3a-4b5c-8d6e-7f8091a2b3c4"


@pytest.fixture
def server(postgres_databases: Databases) -> Iterator[PostgrestServer]:
    with serving(postgres_databases, "fresh") as s:
        s.insert(
            "traders",
            {"id": TRADER, "user_id": USER, "name": "mine", "filter": {"code": "rsi(14) < 30"}},
        )
        yield s


@asynccontextmanager
async def client(
    server: PostgrestServer, token: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    key = server.service_key if token is None else token
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server),
        base_url="http://sb.test/rest/v1",
        headers=headers,
    ) as http:
        yield http


def signal(**extra: Any) -> dict[str, Any]:
    return {
        "id": SIGNAL,
        "trader_id": TRADER,
        "user_id": USER,
        "symbol": "BTCUSDT",
        "interval": "5m",
        "price": 40000.5,
        "created_at": "2026-01-02T03:04:05.678Z",
        **extra,
    }


def error(response: httpx.Response) -> tuple[int, str | None]:
    body = response.json()
    assert set(body) == {"code", "details", "hint", "message"}
    return response.status_code, body["code"]


async def test_insert_select_filters_order_limit(server: PostgrestServer) -> None:
    async with client(server) as http:
        r = await http.post("/signals", json=[signal()], headers={"Prefer": "return=minimal"})
        assert (r.status_code, r.content) == (201, b"")
        second = signal(
            id="1e5b9c1d-2f3a-4b5c-8d6e-7f8091a2b3c4", price=1, created_at="2026-01-02T04:00:00Z"
        )
        r = await http.post("/signals", json=second, headers={"Prefer": "return=representation"})
        assert r.status_code == 201
        assert r.json()[0]["created_at"] == "2026-01-02T04:00:00+00:00"
        assert r.json()[0]["status"] == "new"  # the column default
        r = await http.get(
            "/signals",
            params={
                "select": "id,price",
                "user_id": f"eq.{USER}",
                "order": "created_at.desc",
                "limit": "1",
            },
        )
        assert r.json() == [{"id": second["id"], "price": 1}]
        r = await http.get("/signals", params={"price": "gt.2", "symbol": "in.(BTCUSDT,ETHUSDT)"})
        assert [row["id"] for row in r.json()] == [SIGNAL]
        assert r.json()[0]["created_at"] == "2026-01-02T03:04:05.678+00:00"
        r = await http.get("/signals", params={"machine_id": "is.null", "id": f"not.eq.{SIGNAL}"})
        assert [row["id"] for row in r.json()] == [second["id"]]


async def test_upsert_merges_or_ignores_on_the_conflict_target(server: PostgrestServer) -> None:
    async with client(server) as http:
        await http.post("/signals", json=[signal()])
        merge = {"Prefer": "return=representation,resolution=merge-duplicates"}
        partial = {"on_conflict": "id", "columns": '"id","price"'}
        r = await http.post("/signals", params=partial, json=[{"id": SIGNAL}], headers=merge)
        # PostgreSQL checks NOT NULL on the row it would insert before it looks for a conflict
        assert error(r) == (400, "23502")
        r = await http.post(
            "/signals", params={"on_conflict": "id"}, json=[signal(price=7)], headers=merge
        )
        assert r.status_code == 201
        assert (r.json()[0]["price"], r.json()[0]["symbol"]) == (7, "BTCUSDT")
        ignore = {"Prefer": "return=representation,resolution=ignore-duplicates"}
        r = await http.post("/signals", json=[signal(price=9)], headers=ignore)
        assert (r.status_code, r.json()) == (201, [])
        assert server.rows("signals")[0]["price"] == 7


@pytest.mark.parametrize(
    ("row", "params", "status", "code"),
    [
        (signal(), {}, 409, "23505"),
        (signal(id=OTHER_USER, trader_id=None), {}, 400, "23502"),
        (signal(id=OTHER_USER, price=-1), {}, 400, "23514"),
        (signal(id=OTHER_USER, price="abc"), {}, 400, "22P02"),
        (signal(id=OTHER_USER, bogus=1), {}, 400, "PGRST204"),
        ([signal(id=OTHER_USER), {"id": TRADER}], {}, 400, "PGRST102"),
    ],
)
async def test_constraint_errors_have_postgrest_shapes(
    server: PostgrestServer, row: Any, params: dict[str, str], status: int, code: str
) -> None:
    async with client(server) as http:
        await http.post("/signals", json=signal())
        r = await http.post("/signals", json=row, params=params)
        assert error(r) == (status, code)


async def test_the_original_schema_refuses_what_the_issue_found(
    postgres_databases: Databases, shared_data: Any
) -> None:
    with serving(postgres_databases, "original_as_is") as original:
        original.sql(f"insert into auth.users (id) values ('{USER}')")
        async with client(original) as http:
            machine = {"user_id": USER, "machine_id": "m", "region": "ams", "status": "running"}
            r = await http.post("/cloud_machines", json=machine)
            assert error(r) == (400, "23514")
            assert "cloud_machines_region_check" in r.json()["message"]
            machine["region"] = "fra"
            r = await http.post(
                "/cloud_machines", json=machine, headers={"Prefer": "return=representation"}
            )
            metric = {"machine_id": r.json()[0]["id"], "memory_used_mb": 187.4}
            r = await http.post("/cloud_metrics", json=metric)
            assert error(r) == (400, "22P02")
            assert r.json()["message"] == 'invalid input syntax for type integer: "187.4"'
            r = await http.post(
                "/signal_analyses",
                params={"on_conflict": "signal_id"},
                json={"signal_id": SIGNAL},
                headers={"Prefer": "resolution=merge-duplicates"},
            )
            assert error(r) == (400, "42P10")


async def test_foreign_keys_and_missing_things(server: PostgrestServer) -> None:
    async with client(server) as http:
        analysis = {
            "signal_id": SIGNAL,
            "trader_id": TRADER,
            "user_id": USER,
            "decision": "wait",
            "confidence": 5,
        }
        assert error(await http.post("/signal_analyses", json=analysis)) == (409, "23503")
        assert error(await http.get("/nope")) == (404, "PGRST205")
        assert error(await http.get("/signals", params={"price": "zz.1"})) == (400, "PGRST100")
        assert error(await http.get("/signals", params={"nope": "eq.1"})) == (400, "42703")
        assert error(await http.delete("/signals")) == (400, "21000")  # pg-safeupdate
        assert error(await http.post("/rpc/nope", json={})) == (404, "PGRST202")


async def test_keys_roles_and_row_level_security(server: PostgrestServer) -> None:
    server.insert("signals", signal(), signal(id=TRADER, user_id=OTHER_USER))
    async with client(server, token="not-a-jwt") as http:
        assert error(await http.get("/signals")) == (401, "PGRST301")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server)) as bare:
        r = await bare.get("http://sb.test/rest/v1/signals")
        assert r.status_code == 401
        assert r.json()["message"] == "No API key found in request"
    async with client(server, token=server.anon_key) as http:
        assert error(await http.get("/signals")) == (401, "42501")  # revoked from anon
    async with client(server, token=server.token("authenticated", USER)) as http:
        assert [r["id"] for r in (await http.get("/signals")).json()] == [SIGNAL]
        r = await http.post("/signals", json=signal(id=OTHER_USER))
        assert error(r) == (403, "42501")  # only the service role writes signals
        r = await http.patch(
            "/traders",
            params={"id": f"eq.{TRADER}"},
            json={"name": "x"},
            headers={"Prefer": "return=representation"},
        )
        assert [t["name"] for t in r.json()] == ["x"]
    async with client(server, token=server.token("authenticated", OTHER_USER)) as http:
        r = await http.patch(
            "/traders",
            params={"id": f"eq.{TRADER}"},
            json={"name": "y"},
            headers={"Prefer": "return=representation"},
        )
        assert (r.status_code, r.json()) == (200, [])  # RLS: not theirs, nothing updated


async def test_rpc_and_the_openapi_description(server: PostgrestServer) -> None:
    server.sql(
        "create function public.add_one(n integer) returns integer language sql as 'select n + 1'"
    )
    server.sql(
        "create function public.whoami() returns text language sql stable "
        "as $$ select auth.uid()::text $$"
    )
    async with client(server) as http:
        assert (await http.post("/rpc/add_one", json={"n": 41})).json() == 42
    async with client(server, token=server.token("authenticated", USER)) as http:
        assert (await http.post("/rpc/whoami", json={})).json() == USER
        doc = (await http.get("/")).json()
    signals = doc["definitions"]["signals"]
    assert signals["properties"]["price"] == {"format": "double precision", "type": "number"}
    assert "<pk/>" in signals["properties"]["id"]["description"]
    assert signals["properties"]["status"]["default"] == "new"
    assert {"id", "trader_id", "symbol", "price"} <= set(signals["required"])
    analyses = doc["definitions"]["signal_analyses"]["properties"]["signal_id"]
    assert "<fk table='signals' column='id'/>" in analyses["description"]
    assert "/rpc/add_one" in doc["paths"]
    assert set(doc["paths"]["/signals"]) == {"get", "post", "patch", "delete"}
