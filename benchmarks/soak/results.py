"""The results of a run: figures and checks from the samples after the warm-up."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import attrs

from benchmarks.soak.prometheus import histogram_quantile
from benchmarks.soak.records import Sample
from benchmarks.soak.settings import TIMEFRAME
from benchmarks.soak.state import SoakError, SoakState
from kernels.timeframes import MINUTE_MS


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``ys`` over ``xs`` (NaN for fewer than 3 points)."""
    if len(xs) < 3 or max(xs) == min(xs):
        return math.nan
    return statistics.linear_regression(xs, ys).slope


class ResultsMixin(SoakState):
    """The results dictionary (figures, checks, samples) of a finished run."""

    def reloads(self) -> int:
        """Series reloaded because a hole outgrew the ring (those bars are not screened)."""
        with suppress(OSError):
            return (self.dir / "daemon.log").read_text(errors="replace").count("hole larger than")
        return 0

    def results(self, final: Sample) -> dict[str, Any]:
        args = self.args
        post = [s for s in self.samples if s.day >= args.warmup_days]
        if len(post) < 5:
            raise SoakError(f"only {len(post)} samples after the warm-up: run longer")
        # Floors (a leak raises the floor; a screen or a request in flight is a transient):
        # while streaming just after the warm-up, and once the daemon is idle at the end.
        head, tail = post[:5], self.idle or [final]

        def floor(xs: Sequence[Sample], f: str) -> float:
            return float(min(getattr(s, f) for s in xs))

        days = [s.day for s in post]
        rss = [s.rss_mib for s in post]
        per_day = slope(days, rss)
        per_hour = slope([s.t / 3600 for s in post], rss)
        window = days[-1] - days[0]
        # Counted from the end of the warm-up: at start-up the fast market moves on while the
        # daemon backfills, so its first closes cover only the symbols backfilled before them.
        closes = round((final.upto_ms - post[0].upto_ms) / MINUTE_MS)
        bars = final.bars - post[0].bars
        expected_bars = closes * args.symbols
        m = self.last_metrics
        buckets = [
            (float(dict(k[1])["le"]), v)
            for k, v in m.items()
            if k[0] == "vyx_screen_duration_seconds_bucket"
            and dict(k[1]).get("timeframe") == TIMEFRAME
        ]
        real_s = final.t
        r: dict[str, Any] = {
            "days": args.days,
            "symbols": args.symbols,
            "traders": args.traders,
            "bar_ms": args.bar_ms,
            "warmup_days": args.warmup_days,
            "seed": args.seed,
            "ready_s": round(self.info["ready_s"], 2),
            "real_s": round(real_s, 1),
            "bars_per_s": round(closes / real_s, 2) if real_s else math.nan,
            "rss_after_warmup_mib": round(post[0].rss_mib, 1),
            "rss_end_mib": round(final.rss_mib, 1),
            "rss_peak_sampled_mib": round(max(s.rss_mib for s in self.samples), 1),
            "rss_peak_vmhwm_mib": round(self.info["vm_hwm_mib"], 1),
            "rss_slope_mib_per_day": round(per_day, 3),
            "rss_slope_mib_per_hour": round(per_hour, 3),
            "rss_fitted_growth_mib": round(per_day * window, 2),
            "fds_start": floor(head, "fds"),
            "fds_end": floor(tail, "fds"),
            "threads_start": floor(head, "threads"),
            "threads_end": floor(tail, "threads"),
            "tasks_start": floor(head, "tasks"),
            "tasks_end": floor(tail, "tasks"),
            "tasks_min_max": [min(s.tasks for s in post), max(s.tasks for s in post)],
            "queue_events_max": max(s.events for s in post),
            "queue_events_end": final.events,
            "queue_store_max": max(s.store for s in post),
            "queue_store_end": final.store,
            "queue_analysis_max": max(s.analysis for s in post),
            "lag_bars_p50": statistics.median(s.lag_bars for s in post),
            "lag_bars_max": max(s.lag_bars for s in post),
            "lag_bars_end": post[-1].lag_bars,
            "exchange_lag_bars_end": post[-1].exchange_lag_bars,
            "closes_screened": closes,
            "screens": final.screens - post[0].screens,
            "bars_screened": bars,
            "bars_expected": expected_bars,
            "bars_missed": expected_bars - bars,
            "signals": final.signals,
            "signals_pushed": final.pushed,
            # From the end of the warm-up (the browser connects after the daemon is ready, so
            # the first signals were never its to receive). A signal counted just before that
            # sample and received just after it makes "pushed" the larger: never the smaller.
            "signals_after_warmup": final.signals - post[0].signals,
            "pushed_after_warmup": final.pushed - post[0].pushed,
            "browser_connects": self.browser.connects,
            "browser_drops": self.browser.drops,
            "reconnects": final.reconnects,
            "ring_reloads": self.reloads(),
            "screen_p50_ms": round(histogram_quantile(0.5, buckets) * 1000, 3),
            "screen_p99_ms": round(histogram_quantile(0.99, buckets) * 1000, 3),
            "cpu_percent": round(
                100 * (final.cpu_s - post[0].cpu_s) / max(final.t - post[0].t, 1e-9), 1
            ),
            "daemon_exit": self.info.get("daemon_exit"),
            "daemon_stop_s": self.info.get("daemon_stop_s"),
            "exchange": self.info.get("exchange"),
        }
        growth_limit = max(3.0, 0.02 * post[0].rss_mib)
        r["checks"] = {
            "rss_flat": abs(per_day * window) <= growth_limit,
            "fds_flat": r["fds_end"] <= r["fds_start"] + 2,
            "tasks_flat": r["tasks_end"] <= r["tasks_start"] + 3,
            "queues_drained": final.events <= 1 and final.store <= 200,
            "no_missed_bars": r["bars_missed"] == 0,
            # A browser that cannot keep up is dropped (1013) by design and reconnects; at a
            # fast-forwarded signal rate that can happen to this one on a busy machine. Then
            # it must still have been receiving at the end; else it must have had every one.
            "browser_served": r["pushed_after_warmup"] >= r["signals_after_warmup"]
            if not self.browser.drops
            else all("client too slow" in d for d in self.browser.drops)
            and final.pushed > post[-len(post) // 4].pushed,
            "clean_exit": r["daemon_exit"] == 0,
        }
        r["ok"] = all(r["checks"].values())
        # Not a failure, but the run was not the one asked for: the closes backed up (the
        # exchange slows down when the daemon does not read; nothing is lost).
        # A steady lag of a few bars is frames in flight (queues, sockets); 60 bars is 3 s at
        # the default speed, far below what a reconnect can still repair from the ring's depth.
        r["kept_up"] = r["lag_bars_max"] <= 60 and r["exchange_lag_bars_end"] <= 10
        r["samples"] = [attrs.asdict(s) for s in [*self.samples, final]]
        return r
