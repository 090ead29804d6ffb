"""``vyx run --traders FILE``: a browser's edit over the daemon's WebSocket is written back to
the file (what the next start runs), the user's comments kept."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from tests.vyx.test_daemon_intake import _row, _run, _stop, _upsert
from vyx.cli.run import daemon_options
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, run_exchange
from vyx.traders_file import load_traders

FILE = """# my traders
[[traders]]
id = "file"
name = "file"
filter = 'close > open'   # a rising bar
"""


async def test_a_browsers_edits_land_in_the_traders_file(tmp_path: Path) -> None:
    path = tmp_path / "traders.toml"
    path.write_text(FILE)
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=2, seed=3, speed=3000.0, decoys=False)
        )
        env = {
            "BINANCE_REST_URL": exchange.rest_url,
            "BINANCE_WS_URL": exchange.ws_url,
            "SYMBOL_COUNT": "2",
            "VYX_DATA_DIR": str(tmp_path / "data"),
            "PORT": "0",
        }
        opts = attrs.evolve(daemon_options(path, load_traders(path)), handle_signals=False)
        daemon, done = await _run(nursery, Config.from_env(env), opts)
        token = daemon.server.local_token
        assert token is not None
        await _upsert(daemon, {**_row("file", "close < open"), "cooldownBars": 4}, token)
        await _upsert(daemon, _row("browser", "close > high[1]"), token)
        await _stop(nursery, daemon, done)
    kept = {e.id: e.definition for e in load_traders(path)}
    assert (kept["file"].filter.strip(), kept["file"].cooldown) == ("close < open", 4)
    assert kept["browser"].filter.strip() == "close > high[1]"
    assert path.read_text().startswith("# my traders\n")
