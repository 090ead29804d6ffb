"""``vyx doctor`` against the simulated exchange (real sockets) and fakes of Supabase, Gemini and
the Fly API: one line per check, restricted locations named, secrets never printed."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from click.testing import CliRunner

from vyx.cli import cli
from vyx.exchange.service import ExchangeConfig, ExchangeHandle, run_exchange
from vyx.fleet.doctor import CheckResult, run_checks

SERVICE_KEY = "sb_secret_doctor-test-key-0001"
GEMINI_KEY = "AIza-doctor-test-key-0002"
FLY_TOKEN = "fm2_doctor-test-token-0003"
USER = "11111111-2222-3333-4444-555555555555"


def _env(exchange: ExchangeHandle, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "BINANCE_REST_URL": exchange.rest_url,
        "BINANCE_WS_URL": exchange.ws_url,
        "VYX_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


def _by_name(verdicts: list[CheckResult]) -> dict[str, CheckResult]:
    return {v.name: v for v in verdicts}


async def test_a_good_place_then_a_restricted_one(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(run_exchange, ExchangeConfig(symbols=3, decoys=False))
        good = _by_name(await run_checks(_env(exchange, tmp_path, MACHINE_REGION="nrt")))
        exchange.faults.restrict()
        bad = _by_name(await run_checks(_env(exchange, tmp_path, MACHINE_REGION="iad")))
        nursery.cancel_scope.cancel()
    assert [good[n].level for n in good] == ["ok"] * 5 + ["skip"] * 3
    assert good["region"].detail == "nrt (Tokyo, JP): Binance serves it, nearest to Binance"
    assert good["data dir"].detail == f"{tmp_path / 'data'} is writable"
    assert good["binance rest"].detail.startswith(f"{exchange.rest_url}/api/v3/ping: HTTP 200")
    assert good["supabase"].detail == "not configured (embedded mode: SQLite)"
    assert bad["region"].level == "fail"
    assert "Binance refuses the United States (HTTP 451)" in bad["region"].detail
    for name in ("binance rest", "binance ws"):
        assert bad[name].level == "fail"
        assert "restricted location (HTTP 451) from region iad" in bad[name].detail
        assert "--region nrt" in bad[name].detail


def _services(request: httpx.Request) -> httpx.Response:
    """Supabase accepts its key, Gemini refuses its key, Fly knows the app; Binance is down."""
    host, path, headers = request.url.host, request.url.path, request.headers
    if host == "db.example.test" and path == "/rest/v1/":
        ok = headers.get("apikey") == SERVICE_KEY
        return httpx.Response(200 if ok else 401, json={"paths": {}})
    if host == "gemini.example.test" and path == "/v1beta/models":
        return httpx.Response(403, json={"error": {"message": "API key not valid"}})
    if host == "fly.example.test" and path == "/v1/apps/vyx-test":
        ok = headers.get("authorization") == f"Bearer {FLY_TOKEN}"
        return httpx.Response(200 if ok else 401, json={"name": "vyx-test"})
    raise httpx.ConnectError("connection refused", request=request)


async def test_services_and_secrets(tmp_path: Path) -> None:
    env = {
        "BINANCE_REST_URL": "https://binance.example.test",
        "BINANCE_WS_URL": "ws://127.0.0.1:1",
        "VYX_DATA_DIR": str(tmp_path),
        "SUPABASE_URL": "https://db.example.test",
        "SUPABASE_SERVICE_KEY": SERVICE_KEY,
        "USER_ID": USER,
        "GEMINI_API_KEY": GEMINI_KEY,
        "GEMINI_BASE_URL": "https://gemini.example.test",
        "FLY_API_TOKEN": FLY_TOKEN,
        "FLY_API_URL": "https://fly.example.test/v1",
        "FLY_APP_NAME": "vyx-test",
        "FLY_MACHINE_ID": "0123456789abcd",
        "FLY_REGION": "fra",
    }
    verdicts = await run_checks(env, transport=httpx.MockTransport(_services))
    found = _by_name(verdicts)
    assert {n: v.level for n, v in found.items()} == {
        "config": "ok",
        "data dir": "warn",  # on Fly and not a mounted volume
        "region": "ok",
        "binance rest": "fail",
        "binance ws": "fail",
        "supabase": "ok",
        "gemini": "fail",
        "fly": "ok",
    }
    assert found["config"].detail == f"cloud mode, user {USER}"
    assert "not a volume" in found["data dir"].detail
    assert "unreachable (ConnectError" in found["binance rest"].detail
    assert found["gemini"].detail.endswith("HTTP 403: the key was refused")
    for verdict in verdicts:
        line = verdict.line()
        assert "\n" not in line
        assert not any(secret in line for secret in (SERVICE_KEY, GEMINI_KEY, FLY_TOKEN))


def _project(tables: dict[str, list[str]]) -> dict[str, object]:
    """PostgREST's description of a project with these tables and columns."""
    return {
        "definitions": {
            table: {"properties": {c: {"format": "text"} for c in columns}}
            for table, columns in tables.items()
        }
    }


async def test_a_project_without_our_later_migrations_is_a_warning_naming_them(
    tmp_path: Path,
) -> None:
    """The original product's project (no signals.bar_open_time nor alert_muted, no alert_mutes nor
    signal_outcomes) works but keeps less: the check says what to apply; a fully migrated one
    is ok. A password in SUPABASE_URL is never quoted."""
    original = _project({"signals": ["id", "machine_id", "symbol"]})
    migrated = _project(
        {
            "signals": ["id", "machine_id", "symbol", "bar_open_time", "alert_muted"],
            "signal_outcomes": ["id"],
            "alert_mutes": ["id"],
        }
    )
    env = {
        "BINANCE_REST_URL": "https://binance.example.test",
        "BINANCE_WS_URL": "ws://127.0.0.1:1",
        "VYX_DATA_DIR": str(tmp_path),
        "SUPABASE_URL": "https://admin:hunter2-pw@db.example.test",
        "SUPABASE_SERVICE_KEY": SERVICE_KEY,
        "USER_ID": USER,
    }
    for doc, level in ((original, "warn"), (migrated, "ok")):
        answer = partial(httpx.Response, 200, json=doc)
        verdicts = await run_checks(env, transport=httpx.MockTransport(lambda _, a=answer: a()))
        found = _by_name(verdicts)["supabase"]
        assert found.level == level
        assert found.detail.startswith("https://db.example.test/rest/v1/: HTTP 200 in ")
        assert all("hunter2-pw" not in v.line() for v in verdicts)
    warned = _by_name(
        await run_checks(
            env, transport=httpx.MockTransport(lambda _: httpx.Response(200, json=original))
        )
    )["supabase"]
    for missing in (
        "signals.bar_open_time column",
        "signals.alert_muted column",
        "alert_mutes table",
        "signal_outcomes table",
    ):
        assert f"no {missing} (apply supabase/migrations)" in warned.detail


def test_the_command_prints_one_line_per_check_and_fails_on_a_bad_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["doctor"], env={"VYX_DATA_DIR": str(tmp_path), "PORT": "http"}
    )
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith("FAIL  config")
    assert "PORT" in first
    assert "1 check(s) failed: config" in result.output


@pytest.mark.parametrize("region", ["sjc", "yyz"])
def test_the_region_check_alone(region: str, tmp_path: Path) -> None:
    from vyx.config import Config
    from vyx.fleet.doctor import check_region_of

    cfg = Config.from_env({"VYX_DATA_DIR": str(tmp_path), "MACHINE_REGION": region})
    verdict = check_region_of(cfg)
    assert verdict.level == "fail"
    assert "use nrt" in verdict.detail
