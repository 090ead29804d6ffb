"""SIGTERM stops the daemon within ``DRAIN_TIMEOUT_S`` whatever its start-up is doing, and the
dashboard is reachable (and says how the market's start-up goes) before the market is ready; a
location Binance refuses (451) is the one start-up state that makes ``/health`` answer 503."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from kernels.program import TraderDef
from tests.vyx.server.wsclient import connect
from vyx.app import DaemonOptions, run_daemon
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, ExchangeHandle, run_exchange
from vyx.server.service import ServerHandle
from vyx.traders import TraderInfo, TraderRejected

DRAIN_S = 5.0


async def _traders() -> tuple[list[TraderInfo], list[TraderRejected]]:
    return [TraderInfo(TraderDef("up", "close > open", "5m", "up"))], []


def _refused_url() -> str:
    """An address where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def _market_phase(server: ServerHandle, wanted: str) -> dict[str, Any]:
    """What a browser is told until the market's phase is ``wanted``: the status."""
    url = server.url.replace("http://", "ws://") + f"/ws?access_token={server.local_token}"
    async with connect(url) as ws:
        while True:
            msg = json.loads(await ws.get_message())
            status = msg["data"].get("status") if msg["type"] == "snapshot" else msg["data"]
            if msg["type"] in ("snapshot", "status_update") and status["market"] == wanted:
                return dict(status)


Setup = Callable[[ExchangeHandle], str]
RESTRICTED = "restricted location (HTTP 451) from region iad"
#: state -> (the exchange's setup, the market phase, /health's status code and reason).
STATES: dict[str, tuple[Setup, str, int, str | None]] = {
    "unreachable": (lambda ex: _refused_url(), "unreachable", 200, None),
    "answering 503": (
        lambda ex: (ex.faults.fail_rest(10**6, 503), ex.rest_url)[1],
        "unreachable",
        200,
        None,
    ),
    "connecting": (lambda ex: (ex.faults.slow_rest(120), ex.rest_url)[1], "connecting", 200, None),
    "backfilling": (
        lambda ex: (ex.faults.slow_rest(120, after=2), ex.rest_url)[1],
        "backfilling",
        200,
        None,
    ),
    "restricted": (
        lambda ex: (ex.faults.restrict(), ex.rest_url)[1],
        "restricted",
        503,
        f"market: {RESTRICTED}",
    ),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_sigterm_stops_the_daemon_while_it_starts(tmp_path: Path, state: str) -> None:
    """Finding 10: with Binance unreachable the daemon logged "stopping" and kept retrying; the
    dashboard's address was printed only once the market was ready."""
    setup, phase, health_status, reason = STATES[state]
    announced: list[ServerHandle] = []
    listening, stopped = trio.Event(), trio.Event()

    def announce(server: ServerHandle) -> None:
        announced.append(server)
        listening.set()

    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=3, seed=1, speed=60.0, decoys=False)
        )
        cfg = Config.from_env(
            {
                "BINANCE_REST_URL": setup(exchange),
                "BINANCE_WS_URL": exchange.ws_url,
                "SYMBOL_COUNT": "3",
                "VYX_DATA_DIR": str(tmp_path),
                "PORT": "0",
                "DRAIN_TIMEOUT_S": str(DRAIN_S),
                "MACHINE_REGION": "iad",
            }
        )
        opts = DaemonOptions(traders=_traders, persist_browser_edits=False, announce=announce)

        async def daemon() -> None:
            await run_daemon(cfg, opts)
            stopped.set()

        nursery.start_soon(daemon)
        with trio.fail_after(30):
            await listening.wait()
            status = await _market_phase(announced[0], phase)
        assert status["symbols"] == 0
        async with httpx.AsyncClient(base_url=announced[0].url) as client:
            health = await client.get("/health")
        assert health.status_code == health_status
        assert health.json().get("reason") == reason
        if state == "restricted":
            assert status["marketDetail"] == RESTRICTED
            # One refused request, no retry: the market does not hammer.
            assert exchange.faults.statistics().restricted_refused == 1
        signal.raise_signal(signal.SIGTERM)
        with trio.fail_after(DRAIN_S):
            await stopped.wait()
        nursery.cancel_scope.cancel()
