"""``vyx doctor``: what stands between this place and a working daemon, one line per check.

Run where the daemon will run (on the machine: ``fly ssh console -C "vyx doctor"``). Checks, in
order: the configuration, the data directory (and, on Fly, that it is a volume), the region,
Binance REST and streams (a 451 there means Binance refuses this location), Supabase, Gemini and
the Fly Machines API. Each gives a :class:`CheckResult`; :func:`run_checks` is the whole list. A
probe has :data:`PROBE_TIMEOUT_S` and sends no secret anywhere but to its own service, in headers
(never in a URL), and no verdict quotes one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal

import attrs
import httpx
import trio

from vyx.config import Config, ConfigError
from vyx.data_dir import StartupError, prepare_data_dir
from vyx.fleet.fly_api import authorization
from vyx.fleet.regions import DEFAULT_REGION, RegionRefused, check_region, region_of
from vyx.market.connection import Connect, StreamConfig, open_stream
from vyx.market.restriction import is_restricted
from vyx.market.websocket import HandshakeFailed, WebSocketError
from vyx.store.supabase.project import ProjectSchema

#: Deadline of each network probe, seconds.
PROBE_TIMEOUT_S = 10.0
#: How much of an error text a verdict quotes.
_DETAIL_MAX = 160

Level = Literal["ok", "warn", "fail", "skip"]


@attrs.frozen
class CheckResult:
    """One check's outcome."""

    #: What was checked (``binance rest``).
    name: str
    #: ``ok``; ``warn`` (works, but look); ``fail`` (the daemon will not work); ``skip``.
    level: Level
    #: One line: what was found and, when not ok, what to do.
    detail: str

    def line(self) -> str:
        """``FAIL  binance rest    https://api.binance.com: restricted location (HTTP 451) ...``."""
        return f"{self.level.upper():<5} {self.name:<15} {self.detail}"


def check_config(env: Mapping[str, str]) -> tuple[CheckResult, Config | None]:
    """The configuration from ``env``: every problem on the line, or the mode."""
    try:
        cfg = Config.from_env(env)
    except ConfigError as exc:
        return CheckResult("config", "fail", "; ".join(exc.problems)), None
    who = f"user {cfg.machine.user_id}" if cfg.mode == "cloud" else "local user"
    return CheckResult("config", "ok", f"{cfg.mode} mode, {who}"), cfg


def check_data_dir(path: Path, *, on_fly: bool) -> CheckResult:
    """Writable (as ``vyx run`` prepares it); on Fly also a mounted volume, or it is wiped at
    every restart."""
    try:
        prepare_data_dir(path)
    except StartupError as exc:
        return CheckResult("data dir", "fail", str(exc))
    if on_fly and not os.path.ismount(path):
        return CheckResult(
            "data dir",
            "warn",
            f"{path} is writable but not a volume: the spool, the store and the catch-up mark "
            "are lost at every restart (vyx provision mounts one at /data)",
        )
    return CheckResult("data dir", "ok", f"{path} is writable")


def check_region_of(cfg: Config) -> CheckResult:
    """The machine's region (``MACHINE_REGION``/``FLY_REGION``) and whether Binance serves it."""
    code = cfg.machine.region
    if code is None:
        return CheckResult(
            "region",
            "skip",
            "unknown here (not on Fly, no MACHINE_REGION); the Binance checks below tell",
        )
    try:
        found = check_region(code)
    except RegionRefused as exc:
        known = region_of(code) is not None
        return CheckResult("region", "fail" if known else "warn", str(exc))
    note = ", nearest to Binance" if found.code == DEFAULT_REGION else ""
    return CheckResult("region", "ok", f"{found.describe()}: Binance serves it{note}")


async def _http(
    name: str,
    url: str,
    headers: Mapping[str, str],
    transport: httpx.AsyncBaseTransport | None,
    explain: Callable[[httpx.Response], CheckResult | None] = lambda _: None,
    answered: Callable[[httpx.Response, str], CheckResult | None] = lambda _, __: None,
) -> CheckResult:
    """GET ``url``: on 2xx what ``answered`` says of the answer (given the verdict's text,
    with the time), else ok; otherwise what ``explain`` says, else the status. ``url`` is
    quoted without its ``user:password@`` part."""
    shown = _without_userinfo(url)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(transport=transport, timeout=None) as client:
            with trio.fail_after(PROBE_TIMEOUT_S):
                response = await client.get(url, headers=dict(headers))
                await response.aread()
    except trio.TooSlowError:
        return CheckResult(name, "fail", f"{shown}: no answer within {PROBE_TIMEOUT_S:.0f} s")
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}"[:_DETAIL_MAX]
        return CheckResult(name, "fail", f"{shown}: unreachable ({reason})")
    ms = (time.monotonic() - started) * 1000
    if response.is_success:
        text = f"{shown}: HTTP {response.status_code} in {ms:.0f} ms"
        return answered(response, text) or CheckResult(name, "ok", text)
    verdict = explain(response)
    if verdict is not None:
        return verdict
    return CheckResult(name, "fail", f"{shown}: HTTP {response.status_code}")


def _without_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` (a secret) before its host."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else url


def _restricted(name: str, url: str, region: str | None) -> CheckResult:
    return CheckResult(
        name,
        "fail",
        f"{_without_userinfo(url)}: restricted location (HTTP 451) from region "
        f"{region or 'unknown'}: Binance refuses this place; run the machine in a region it "
        f"serves (vyx provision --region {DEFAULT_REGION})",
    )


async def check_binance_rest(
    cfg: Config, transport: httpx.AsyncBaseTransport | None = None
) -> CheckResult:
    """``GET /api/v3/ping``."""
    url = cfg.market.rest_url.rstrip("/") + "/api/v3/ping"

    def explain(response: httpx.Response) -> CheckResult | None:
        if is_restricted(response.status_code, response.content):
            return _restricted("binance rest", url, cfg.machine.region)
        return None

    return await _http("binance rest", url, {}, transport, explain)


async def check_binance_ws(cfg: Config, connect: Connect | None = None) -> CheckResult:
    """Open and close a combined stream (``btcusdt@ticker``)."""
    url = cfg.market.ws_url.rstrip("/") + "/stream?streams=btcusdt@ticker"
    shown = _without_userinfo(url)
    opener: Connect = connect or (lambda u: open_stream(u, StreamConfig(ws_url=cfg.market.ws_url)))
    started = time.monotonic()
    failure: BaseExceptionGroup[BaseException] | None = None
    try:
        with trio.fail_after(PROBE_TIMEOUT_S):
            async with opener(url):
                pass
    except* (WebSocketError, OSError, trio.TooSlowError, ValueError) as group:
        failure = group
    if failure is None:
        ms = (time.monotonic() - started) * 1000
        return CheckResult("binance ws", "ok", f"{shown}: connected in {ms:.0f} ms")
    leaves = _leaves(failure)
    for leaf in leaves:
        if isinstance(leaf, HandshakeFailed) and leaf.status_code is not None:
            if is_restricted(leaf.status_code, leaf.body):
                return _restricted("binance ws", url, cfg.machine.region)
            return CheckResult(
                "binance ws", "fail", f"{shown}: handshake refused: HTTP {leaf.status_code}"
            )
    reason = f"{type(leaves[0]).__name__}: {leaves[0]}"[:_DETAIL_MAX]
    return CheckResult("binance ws", "fail", f"{shown}: unreachable ({reason})")


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _key_refused(name: str, url: str, what: str) -> Callable[[httpx.Response], CheckResult | None]:
    url = _without_userinfo(url)

    def explain(response: httpx.Response) -> CheckResult | None:
        if response.status_code in (400, 401, 403):
            return CheckResult(name, "fail", f"{url}: HTTP {response.status_code}: {what} refused")
        return None

    return explain


async def check_supabase(
    cfg: Config, transport: httpx.AsyncBaseTransport | None = None
) -> CheckResult:
    """PostgREST's description of the tables (``GET /rest/v1/``) with the service key."""
    if cfg.supabase is None:
        return CheckResult("supabase", "skip", "not configured (embedded mode: SQLite)")
    url = cfg.supabase.url.rstrip("/") + "/rest/v1/"
    key = cfg.supabase.service_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    explain = _key_refused("supabase", url, "the service key was")
    return await _http("supabase", url, headers, transport, explain, _project_differences)


def _project_differences(response: httpx.Response, text: str) -> CheckResult | None:
    """A warning listing what the project lacks of our migrations (the tables and columns whose
    rows or values are then not kept; ``mute`` is refused), as the daemon logs at start."""
    try:
        doc = response.json()
    except ValueError:
        return None
    if not isinstance(doc, Mapping):
        return None
    schema = ProjectSchema.from_openapi(doc)
    if "signals" not in schema.tables:  # not described (a proxy, an old PostgREST)
        return None
    missing = [line for line in schema.differences() if "migrations" in line]
    if not missing:
        return None
    return CheckResult("supabase", "warn", f"{text}; {'; '.join(missing)}")


async def check_gemini(
    cfg: Config, transport: httpx.AsyncBaseTransport | None = None
) -> CheckResult:
    """The model list (``GET /v1beta/models``) with the API key in a header."""
    if cfg.analyzer.api_key is None:
        return CheckResult("gemini", "skip", "no GEMINI_API_KEY: signals are not analysed")
    url = cfg.analyzer.base_url.rstrip("/") + "/v1beta/models"
    headers = {"x-goog-api-key": cfg.analyzer.api_key}
    return await _http(
        "gemini", url, headers, transport, _key_refused("gemini", url, "the key was")
    )


async def check_fly(cfg: Config, transport: httpx.AsyncBaseTransport | None = None) -> CheckResult:
    """The app through the Machines API (``GET /apps/{app}``)."""
    fly = cfg.fly
    if fly.api_token is None or fly.app_name is None:
        return CheckResult(
            "fly", "skip", "no FLY_API_TOKEN/FLY_APP_NAME: no provisioning, no scaling"
        )
    url = f"{fly.api_url.rstrip('/')}/apps/{fly.app_name}"
    headers = {"Authorization": authorization(fly.api_token)}
    return await _http("fly", url, headers, transport, _key_refused("fly", url, "the token was"))


async def run_checks(
    env: Mapping[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    connect: Connect | None = None,
) -> list[CheckResult]:
    """Every check, in order (the network probes at once). ``transport``/``connect`` are the
    tests' seams; a configuration that does not load stops at its own verdict."""
    config, cfg = check_config(env)
    if cfg is None:
        return [config]
    on_fly = cfg.fly.machine_id is not None
    verdicts = [config, check_data_dir(cfg.store.data_dir, on_fly=on_fly), check_region_of(cfg)]
    probes: list[Callable[[], Awaitable[CheckResult]]] = [
        lambda: check_binance_rest(cfg, transport),
        lambda: check_binance_ws(cfg, connect),
        lambda: check_supabase(cfg, transport),
        lambda: check_gemini(cfg, transport),
        lambda: check_fly(cfg, transport),
    ]
    results: list[CheckResult | None] = [None] * len(probes)

    async def probe(i: int) -> None:
        results[i] = await probes[i]()

    async with trio.open_nursery() as nursery:
        for i in range(len(probes)):
            nursery.start_soon(probe, i)
    return verdicts + [v for v in results if v is not None]
