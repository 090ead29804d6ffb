"""One compile per trader on its way in, whatever its source: the traders file, a browser's
``trader_upsert`` and a row of the ``traders`` table in cloud mode each reach the running plan
with their filter parsed and checked exactly once (the rings are sized from that compile's
warm-up, the executor links it), and a later change of other traders does not compile them
again.

Counted at the parser every check goes through (:func:`kernels.lang.checker.parse`), so any
compile on the way (a check of its own, a sizing compile, a staging compile) counts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio

from kernels.lang import checker, parser
from tests.vyx.server.wsclient import connect
from tests.vyx.store.supabase.factory import TRADER, USER
from tests.vyx.store.supabase.fake_postgrest import serve_tcp
from tests.vyx.store.supabase.pgrest_server import serving
from tests.vyx.store.supabase.postgres import Databases
from tests.vyx.test_daemon_cloud import environment
from vyx.app import Daemon, DaemonOptions, run_daemon
from vyx.cli.run import file_source
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, run_exchange

#: Each source's filter: distinct texts, so each one's parses are counted apart. The file's
#: reads a longer timeframe, whose ring is sized from its compile's warm-up.
FILE_FILTER = 'close > sma(close, 7) and on("15m", rsi(close, 9) > 1)'
BROWSER_FILTER = "close > sma(close, 11)"
LATER_FILTER = "close < sma(close, 13)"
TABLE_FILTER = "close > ema(close, 17)"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each filter text was parsed (every compile parses it once)."""
    counts: Counter[str] = Counter()
    parse = parser.parse

    def counting(source: str, *args: Any) -> Any:
        counts[source] += 1
        return parse(source, *args)

    monkeypatch.setattr(checker, "parse", counting)
    return counts


async def _upsert(daemon: Daemon, trader: dict[str, Any], token: str, path: str = "/ws") -> None:
    """A browser's ``trader_upsert``, over the daemon's WebSocket, until it is acknowledged."""
    url = daemon.server.url.replace("http://", "ws://") + f"{path}?access_token={token}"
    request = {"type": "trader_upsert", "data": {"trader": trader, "requestId": trader["id"]}}
    async with connect(url) as ws:
        await ws.send_text(json.dumps(request))
        with trio.fail_after(30):
            while True:
                msg = json.loads(await ws.get_message())
                if msg["data"].get("requestId") == trader["id"]:
                    assert msg["type"] == "ack", msg
                    return


def _row(tid: str, code: str) -> dict[str, Any]:
    return {"id": tid, "name": tid, "filter": {"code": code, "language": "vyx"}}


async def _run(
    nursery: trio.Nursery, cfg: Config, opts: DaemonOptions
) -> tuple[Daemon, trio.Event]:
    """The daemon, ready, and the event set once it returned (after a stop it drains)."""
    done = trio.Event()

    async def daemon_task(*, task_status: trio.TaskStatus[Daemon]) -> None:
        await run_daemon(cfg, opts, task_status=task_status)
        done.set()

    daemon: Daemon = await nursery.start(daemon_task)
    return daemon, done


async def _stop(nursery: trio.Nursery, daemon: Daemon, done: trio.Event) -> None:
    """Stop the daemon, let it drain (into the fakes still running), then the fakes."""
    daemon.stop()
    with trio.fail_after(30):
        await done.wait()
    nursery.cancel_scope.cancel()


async def test_file_and_browser_traders_compile_once(tmp_path: Path, parses: Counter[str]) -> None:
    path = tmp_path / "traders.toml"
    path.write_text(f'[[traders]]\nid = "file"\nname = "file"\nfilter = \'{FILE_FILTER}\'\n')
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=2, seed=3, speed=3000.0, decoys=False)
        )
        env = {
            "BINANCE_REST_URL": exchange.rest_url,
            "BINANCE_WS_URL": exchange.ws_url,
            "SYMBOL_COUNT": "2",
            "VYX_DATA_DIR": str(tmp_path),
            "PORT": "0",
        }
        opts = DaemonOptions(
            traders=file_source(path), persist_browser_edits=False, handle_signals=False
        )
        daemon, done = await _run(nursery, Config.from_env(env), opts)
        executor = daemon.screener.executor
        assert set(executor.traders) == {"file"}
        assert set(daemon.rings) == {"5m", "15m"}  # sized from the file trader's warm-up
        assert parses[FILE_FILTER] == 1

        token = daemon.server.local_token
        assert token is not None
        await _upsert(daemon, _row("browser", BROWSER_FILTER), token)
        assert set(executor.traders) == {"file", "browser"}
        assert parses[BROWSER_FILTER] == 1

        # A later change re-stages the whole set: the running traders are linked, not compiled.
        await _upsert(daemon, _row("later", LATER_FILTER), token)
        assert set(executor.traders) == {"file", "browser", "later"}
        assert (parses[FILE_FILTER], parses[BROWSER_FILTER], parses[LATER_FILTER]) == (1, 1, 1)
        await _stop(nursery, daemon, done)


async def test_a_database_trader_compiles_once_in_cloud_mode(
    postgres_databases: Databases, tmp_path: Path, parses: Counter[str]
) -> None:
    with serving(postgres_databases, "fresh") as server:
        row = {**_row(TRADER, TABLE_FILTER), "user_id": USER, "language": "vyx"}
        server.insert("traders", {**row, "cloud_config": {"enabledInCloud": True}, "strategy": {}})
        server.insert("user_subscriptions", {"user_id": USER, "tier": "elite", "status": "active"})
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_tcp, server)
            exchange = await nursery.start(
                run_exchange, ExchangeConfig(symbols=2, seed=5, speed=3000.0, decoys=False)
            )
            env = environment(port, server, 0, exchange, tmp_path)
            del env["GEMINI_API_KEY"], env["GEMINI_BASE_URL"]
            cfg = Config.from_env(env)
            assert cfg.mode == "cloud"
            daemon, done = await _run(nursery, cfg, DaemonOptions(handle_signals=False))
            assert set(daemon.screener.executor.traders) == {TRADER}
            assert parses[TABLE_FILTER] == 1
            await _stop(nursery, daemon, done)
        nursery.cancel_scope.cancel()
