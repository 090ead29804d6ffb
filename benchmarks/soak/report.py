"""The results block printed at the end of a run."""

from __future__ import annotations

from typing import Any


def report(r: dict[str, Any]) -> str:
    c = r["checks"]

    def ok(name: str) -> str:
        return "ok" if c[name] else "FAIL"

    return "\n".join(
        [
            f"soak: {r['days']:g} market days of 1m candles, {r['symbols']} symbols x "
            f"{r['traders']} traders, a candle every {r['bar_ms']:g} ms "
            f"({r['real_s'] / 60:.1f} min, {r['bars_per_s']:.1f} bars/s; ready in "
            f"{r['ready_s']:.1f} s; daemon CPU {r['cpu_percent']:.0f}%)",
            f"  RSS   after warm-up ({r['warmup_days']:g} d) {r['rss_after_warmup_mib']:.1f} MiB, "
            f"end {r['rss_end_mib']:.1f}, peak {r['rss_peak_sampled_mib']:.1f} sampled / "
            f"{r['rss_peak_vmhwm_mib']:.1f} VmHWM",
            f"        slope {r['rss_slope_mib_per_day']:+.3f} MiB per market day, "
            f"{r['rss_slope_mib_per_hour']:+.3f} MiB per real hour; fitted growth after warm-up "
            f"{r['rss_fitted_growth_mib']:+.2f} MiB [{ok('rss_flat')}]",
            f"  fds   {r['fds_start']:.0f} -> {r['fds_end']:.0f} [{ok('fds_flat')}]   "
            f"threads {r['threads_start']:.0f} -> {r['threads_end']:.0f}   "
            f"trio tasks {r['tasks_start']:.0f} -> {r['tasks_end']:.0f} "
            f"(range {r['tasks_min_max'][0]:.0f}..{r['tasks_min_max'][1]:.0f}) "
            f"[{ok('tasks_flat')}]",
            f"  queues  market events max {r['queue_events_max']:.0f}, end "
            f"{r['queue_events_end']:.0f}; store rows max {r['queue_store_max']:.0f}, end "
            f"{r['queue_store_end']:.0f} [{ok('queues_drained')}]; screener lag p50 "
            f"{r['lag_bars_p50']:.1f} bars, max {r['lag_bars_max']:.1f}; exchange behind its clock "
            f"by {r['exchange_lag_bars_end']:.0f} bars at the end"
            + ("" if r["kept_up"] else " [warn: the closes backed up, use a larger --bar-ms]"),
            f"  closes  {r['closes_screened']} screened ({r['screens']:.0f} screens), bars "
            f"{r['bars_screened']:.0f} of {r['bars_expected']:.0f} expected, missed "
            f"{r['bars_missed']:.0f} [{ok('no_missed_bars')}]; exchange reconnects "
            f"{r['reconnects']:.0f}, series reloaded after a hole larger than the ring "
            f"{r['ring_reloads']}",
            f"  signals {r['signals']:.0f} produced, {r['signals_pushed']} pushed to the browser; "
            f"after warm-up {r['signals_after_warmup']:.0f} and {r['pushed_after_warmup']} "
            f"({r['browser_connects']} connect(s), {len(r['browser_drops'])} drop(s)) "
            f"[{ok('browser_served')}]",
            f"  screen  p50 {r['screen_p50_ms']:.2f} ms, p99 {r['screen_p99_ms']:.2f} ms "
            f"(from the histogram's buckets)",
            f"  stop    SIGTERM -> exit {r['daemon_exit']} in {r['daemon_stop_s']} s "
            f"[{ok('clean_exit')}]",
            f"  {'PASS' if r['ok'] else 'FAIL'}",
        ]
    )
