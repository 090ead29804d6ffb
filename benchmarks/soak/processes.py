"""The soak's processes: the simulated exchange and the daemon, started and stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import trio

from benchmarks.soak.exchange_script import EXCHANGE_SCRIPT
from benchmarks.soak.settings import START_MS, TIMEFRAME
from benchmarks.soak.state import SoakError, SoakState, log_tail
from benchmarks.workload import traders

_DASHBOARD = re.compile(r"Dashboard: (http://\S+?)/\?token=(\S+)")


def traders_toml(n: int) -> str:
    """The first ``n`` reference traders on 1m, as a traders file."""
    return "\n".join(
        f'[[traders]]\nid = "{t.id}"\nname = "{t.name}"\ntimeframe = "{TIMEFRAME}"\n'
        f"filter = '''{t.filter}'''\n"
        for t in traders(n)
    )


class ProcessesMixin(SoakState):
    """Starts the exchange and the daemon, talks to the exchange, stops both."""

    def start_exchange(self) -> tuple[str, str]:
        lifetime = self.args.lifetime_hours * 3600 / self.speed
        argv = [
            str(self.args.symbols),
            str(self.args.seed),
            str(self.speed),
            str(START_MS),
            str(lifetime),
        ]
        self.exchange = subprocess.Popen(
            [sys.executable, "-c", EXCHANGE_SCRIPT, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(self.dir / "exchange.log").open("w"),
            text=True,
        )
        assert self.exchange.stdout is not None
        line = self.exchange.stdout.readline().split()
        if len(line) != 2:
            raise SoakError(f"the exchange did not start:\n{log_tail(self.dir / 'exchange.log')}")
        return line[0], line[1]

    def exchange_command(self, command: str) -> dict[str, Any]:
        """Send ``stall``/``stats`` to the exchange; its statistics after the command."""
        assert self.exchange is not None
        assert self.exchange.stdin is not None
        assert self.exchange.stdout is not None
        self.exchange.stdin.write(command + "\n")
        self.exchange.stdin.flush()
        reply: dict[str, Any] = json.loads(self.exchange.stdout.readline())
        return reply

    async def start_daemon(self, rest_url: str, ws_url: str) -> tuple[str, str]:
        traders = self.dir / "traders.toml"
        traders.write_text(traders_toml(self.args.traders))
        secrets = ("SUPABASE", "GEMINI", "FLY_", "USER_ID", "SYMBOLS", "MACHINE_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(secrets)}
        env.update(
            BINANCE_REST_URL=rest_url,
            BINANCE_WS_URL=ws_url,
            SYMBOL_COUNT=str(self.args.symbols),
            VYX_DATA_DIR=str(self.dir / "data"),
            HOST="127.0.0.1",
            PORT="0",
            KLINE_INTERVAL=TIMEFRAME,
            LOG_LEVEL=self.args.log_level,
            WORKERS=str(self.args.workers),
        )
        log = self.dir / "daemon.log"
        self.daemon = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
            [sys.executable, "-m", "vyx", "run", "--traders", str(traders)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        started = time.monotonic()
        with trio.move_on_after(self.args.start_timeout):
            while self.daemon.poll() is None:
                found = _DASHBOARD.search(log.read_text(errors="replace"))
                if found:
                    self.info["ready_s"] = time.monotonic() - started
                    return found.group(1), found.group(2)
                await trio.sleep(0.2)
            raise SoakError(f"the daemon exited ({self.daemon.returncode}):\n{log_tail(log)}")
        raise SoakError(f"the daemon was not ready in {self.args.start_timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM the daemon (it must drain and exit 0), then stop the exchange."""
        if self.daemon is not None and self.daemon.poll() is None:
            t = time.monotonic()
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.info["daemon_exit"] = self.daemon.wait(timeout=60)
                self.info["daemon_stop_s"] = round(time.monotonic() - t, 2)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                self.info["daemon_exit"] = "killed after 60 s"
        if self.exchange is not None and self.exchange.poll() is None:
            self.exchange.terminate()
            try:
                self.exchange.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.exchange.kill()
                self.exchange.wait()
