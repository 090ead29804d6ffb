"""No kernel is loaded or compiled once the daemon is ready.

numba loads a kernel (from its cache, or compiles it) the first time it is called. A kernel
first called at a close, a signal or an outcome would be loaded on that close's path
(milliseconds), or on a machine that never ran it compiled there (seconds, and numba's
compiler then stays in the daemon's memory: a first run after an install read 211 MiB
instead of 173). The daemon loads every kernel before it is ready
(:func:`kernels.precompile.ensure_loaded`); this runs it in a fresh process, where nothing
is loaded yet, and records every kernel numba adds after ready.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: A fresh interpreter: the daemon against the simulated exchange, a browser receiving its
#: signals until one signal's outcome completed (signals, outcomes and their pushes all ran);
#: prints the kernels numba added after ready, each as [name, "compiled" | "loaded"].
PROBE = """
import json, sys
import trio
from numba.core import dispatcher, event

ready = []
after_ready = []
compiles = []

class Compiles(event.Listener):
    def on_start(self, ev):
        compiles.append(ev.data["dispatcher"])
    def on_end(self, ev):
        pass

event.register("numba:compile", Compiles())
compile_signature = dispatcher.Dispatcher.compile

def compile(self, sig):
    count, compiled = len(self.overloads), len(compiles)
    result = compile_signature(self, sig)
    if ready and len(self.overloads) != count:
        how = "compiled" if len(compiles) != compiled else "loaded"
        after_ready.append([f"{self.py_func.__module__}.{self.py_func.__qualname__}", how])
    return result

dispatcher.Dispatcher.compile = compile

from kernels.program import TraderDef
from tests.vyx.server.wsclient import connect
from vyx.app import DaemonOptions, run_daemon
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, run_exchange
from vyx.traders import TraderInfo

async def main(data_dir):
    async def load():
        return [TraderInfo(TraderDef("up", "close > open", "5m", "up"))], []

    seen = set()
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=3, seed=7, speed=6000.0, decoys=False)
        )
        cfg = Config.from_env({
            "BINANCE_REST_URL": exchange.rest_url,
            "BINANCE_WS_URL": exchange.ws_url,
            "SYMBOL_COUNT": "3",
            "VYX_DATA_DIR": data_dir,
            "PORT": "0",
        })
        opts = DaemonOptions(
            traders=load,
            persist_browser_edits=False,
            handle_signals=False,
            ready=lambda: ready.append(True),
        )
        daemon = await nursery.start(run_daemon, cfg, opts)
        url = daemon.server.url.replace("http://", "ws://")
        async with connect(f"{url}/ws?access_token={daemon.server.local_token}") as ws:
            with trio.fail_after(60):
                while "complete outcome" not in seen:
                    msg = json.loads(await ws.get_message())
                    seen.add(msg["type"])
                    if msg["type"] == "signal_outcome" and msg["data"]["complete"]:
                        seen.add("complete outcome")
        daemon.stop()
        nursery.cancel_scope.cancel()
    print(json.dumps({"ready": ready, "seen": sorted(seen), "after_ready": after_ready}))

trio.run(main, sys.argv[1])
"""

REPO = Path(__file__).resolve().parents[2]


def test_no_kernel_is_loaded_or_compiled_after_the_daemon_is_ready(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["ready"] == [True]
    # The paths that first call the kernels after ready ran: a close's signals were pushed,
    # outcomes were followed bar by bar and one completed.
    assert {"signal_created", "signal_outcome", "complete outcome"} <= set(result["seen"])
    assert result["after_ready"] == []
