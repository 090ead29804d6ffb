"""Sampling the daemon from outside (``/proc`` and ``/metrics``), and the progress line."""

from __future__ import annotations

import math
import sys
import time
from contextlib import suppress
from typing import Any

import httpx
import psutil

from benchmarks.soak.prometheus import metric, scrape
from benchmarks.soak.records import Sample
from benchmarks.soak.settings import TIMEFRAME
from benchmarks.soak.state import SoakState
from kernels.timeframes import DAY_MS, MINUTE_MS


def _hms(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def vm_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(x for x in status if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


class SamplingMixin(SoakState):
    """One sample of the daemon, the exchange's CPU, and the progress line on stderr."""

    async def sample(
        self, http: httpx.AsyncClient, proc: psutil.Process, ex: dict[str, Any]
    ) -> Sample:
        m = scrape((await http.get("/metrics")).text)
        with proc.oneshot():
            cpu = proc.cpu_times()
            rss, fds, threads = proc.memory_info().rss, proc.num_fds(), proc.num_threads()
        upto = metric(m, "vyx_screened_upto_ms", timeframe=TIMEFRAME)
        if upto and not self.first_upto:
            self.first_upto = upto
        s = Sample(
            t=time.monotonic() - self.ready_at,
            day=(upto - self.first_upto) / DAY_MS if self.first_upto else 0.0,
            rss_mib=rss / 2**20,
            fds=fds,
            threads=threads,
            cpu_s=cpu.user + cpu.system,
            exchange_cpu_s=self.exchange_cpu(),
            tasks=metric(m, "vyx_trio_tasks"),
            events=metric(m, "vyx_queue_depth", queue="market_events"),
            store=metric(m, "vyx_queue_depth", queue="store"),
            analysis=metric(m, "vyx_queue_depth", queue="analysis"),
            ws_clients=metric(m, "vyx_ws_clients"),
            screens=metric(m, "vyx_screens_total", timeframe=TIMEFRAME),
            bars=metric(m, "vyx_screened_bars_total", timeframe=TIMEFRAME),
            upto_ms=upto,
            signals=metric(m, "vyx_signals_total"),
            pushed=self.browser.signals,
            reconnects=metric(m, "vyx_market_reconnects_total"),
            lag_bars=(ex["sent_ms"] - upto) / MINUTE_MS if upto and ex else math.nan,
            exchange_lag_bars=(ex["market_ms"] - ex["sent_ms"]) / MINUTE_MS if ex else math.nan,
        )
        self.last_metrics = m
        return s

    def exchange_cpu(self) -> float:
        if self.exchange is None:
            return math.nan
        with suppress(psutil.Error):
            t = psutil.Process(self.exchange.pid).cpu_times()
            return float(t.user + t.system)
        return math.nan

    def progress(self, s: Sample, total_days: float) -> None:
        done = s.day / total_days if total_days else 1.0
        recent = self.samples[-15:]
        span = recent[-1].t - recent[0].t
        rate = (recent[-1].day - recent[0].day) * 1440 / span if span > 0 else 0.0
        cpu = (recent[-1].cpu_s - recent[0].cpu_s) / span * 100 if span > 0 else 0.0
        ex_cpu = (
            (recent[-1].exchange_cpu_s - recent[0].exchange_cpu_s) / span * 100 if span else 0.0
        )
        eta = (total_days - s.day) * 1440 / rate if rate > 0 else math.inf
        line = (
            f"bars {s.day * 1440:>6.0f}/{total_days * 1440:.0f} ({done:4.0%})  "
            f"RSS {s.rss_mib:6.1f} MiB  fds {s.fds}  tasks {s.tasks:.0f}  "
            f"rate {rate:5.1f} bars/s  lag {s.lag_bars:4.1f}+{s.exchange_lag_bars:.0f} bars  "
            f"CPU daemon {cpu:3.0f}% exchange {ex_cpu:3.0f}%  "
            f"queues ev {s.events:.0f} store {s.store:.0f}  signals {s.signals:.0f}  "
            f"ETA {_hms(eta) if math.isfinite(eta) else '?'}"
        )
        if sys.stderr.isatty():
            print("\r" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)
