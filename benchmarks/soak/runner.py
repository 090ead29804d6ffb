"""A soak run: the processes, the browser and the sampling loop, to the results."""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx
import psutil
import trio

from benchmarks.soak.browser import BrowserMixin
from benchmarks.soak.processes import ProcessesMixin
from benchmarks.soak.results import ResultsMixin
from benchmarks.soak.sampling import SamplingMixin, vm_hwm_mib
from benchmarks.soak.state import SoakError, log_tail


class Soak(ProcessesMixin, BrowserMixin, SamplingMixin, ResultsMixin):
    """One soak run, from starting the processes to its results."""

    async def run(self) -> dict[str, Any]:
        args = self.args
        rest_url, ws_url = await trio.to_thread.run_sync(self.start_exchange)
        url, token = await self.start_daemon(rest_url, ws_url)
        assert self.daemon is not None
        proc = psutil.Process(self.daemon.pid)
        self.ready_at = time.monotonic()
        print(f"daemon ready in {self.info['ready_s']:.1f} s at {url}", file=sys.stderr)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http, trio.open_nursery() as n:
            n.start_soon(self.run_browser, url, token)
            last_progress, last_upto = time.monotonic(), -1.0
            next_at = trio.current_time()
            while True:
                next_at += args.sample_s
                await trio.sleep_until(next_at)
                if self.daemon.poll() is not None:
                    raise SoakError(
                        f"the daemon exited ({self.daemon.returncode}):\n"
                        f"{log_tail(self.dir / 'daemon.log')}"
                    )
                ex = await trio.to_thread.run_sync(self.exchange_command, "stats")
                s = await self.sample(http, proc, ex)
                self.samples.append(s)
                self.progress(s, args.days)
                if s.upto_ms != last_upto:
                    last_progress, last_upto = time.monotonic(), s.upto_ms
                elif time.monotonic() - last_progress > args.stall_timeout:
                    raise SoakError(f"no close screened for {args.stall_timeout:.0f} s")
                if s.day >= args.days:
                    break
            if sys.stderr.isatty():
                print(file=sys.stderr)
            # The end: the exchange stops sending (whole buckets only), the daemon announces the
            # last bucket after its grace time, and the browser receives what is in flight.
            ex = await trio.to_thread.run_sync(self.exchange_command, "stall")
            final = await self.sample(http, proc, {})
            settled = 0.0
            with trio.move_on_after(120):
                while settled < 4.0:  # the grace time of a bucket (2 s) and then some
                    await trio.sleep(0.5)
                    s = await self.sample(http, proc, {})
                    same = (s.upto_ms, s.bars) == (final.upto_ms, final.bars)
                    settled = settled + 0.5 if same else 0
                    self.idle = [*self.idle, s] if same else []
                    final = s
            self.info["exchange"] = ex
            self.info["final_metrics"] = {
                k[0] + (str(dict(k[1])) if k[1] else ""): v
                for k, v in self.last_metrics.items()
                if k[0].startswith("vyx_")
            }
            self.info["vm_hwm_mib"] = vm_hwm_mib(self.daemon.pid)
            n.cancel_scope.cancel()
        await trio.to_thread.run_sync(self.stop)
        return self.results(final)
