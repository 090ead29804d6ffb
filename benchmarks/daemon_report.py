"""How ``bench_daemon`` prints its results (the same figures it writes to
``bench-results/daemon.json``)."""

from __future__ import annotations

from typing import Any


def print_reference(r: dict[str, Any]) -> None:
    """The reference workload's figures (``bench_daemon.reference``), one per line."""
    print(
        f"vyx run (own process) <- simulated exchange (own process, x{r['speed']:g}), "
        f"{r['symbols']} symbols x 5m+1h, 20 reference traders + flip, browser on /ws:"
    )
    print(
        f"  closed-candle frame -> signal_created: p50 {r['latency_p50_ms']:.1f} ms   "
        f"p99 {r['latency_p99_ms']:.1f} ms   max {r['latency_max_ms']:.1f} ms   "
        f"({r['signals']} signals over {r['closes']} closes, {r['signals_by_rest']} more from bars "
        f"repaired by REST; target p99 <= 10 ms)"
    )
    print(
        f"  from the bucket's last closed frame:  p50 {r['after_bucket_p50_ms']:.1f} ms   "
        f"p99 {r['after_bucket_p99_ms']:.1f} ms   (the exchange wrote a bucket's 100 closed 5m "
        f"frames over p50 {r['bucket_spread_p50_ms']:.1f} ms, max "
        f"{r['bucket_spread_max_ms']:.1f} ms); slowest: {r['slowest_close']}"
    )
    print(
        f"  an hour closed while it started (market time, process start -> healthy): "
        f"{'yes' if r['hours_closed_while_starting'] else 'no'}; gaps repaired by REST "
        f"{r['gaps_repaired']:.0f} ({r['bars_repaired']:.0f} bars)"
    )
    print(
        f"  inside the daemon, close announced -> signals stored and pushed (/metrics): "
        f"p50 <= {r['close_to_signals_p50_ms']:.1f} ms, "
        f"p99 <= {r['close_to_signals_p99_ms']:.1f} ms"
    )
    print(
        f"  screen at close (5m, /metrics histogram): p50 <= {r['screen_p50_ms']:.1f} ms; "
        f"daemon CPU {r['daemon_cpu_fraction'] * 100:.0f}% of a core over the closes"
    )
    print(
        f"  start to ready (process start -> dashboard printed; backfill of {r['symbols']} "
        f"symbols x 2 timeframes included): {r['ready_s']:.2f} s warm; /health healthy at "
        f"{r['healthy_s']:.2f} s (target <= 5 s)"
    )
    print(
        f"  first start, empty kernel cache (every kernel compiled, with progress, in forked "
        f"processes): ready at {r['cold_ready_s']:.1f} s, {r['cold_cpu_s']:.1f} s of CPU "
        f"(compiling processes included), peak RSS of vyx run {r['cold_peak_rss_mib']:.0f} MiB"
    )
    late = ", ".join(r["compiled_after_first_start"]) or "none"
    print(
        f"  peak RSS (VmHWM of vyx run; its first run after that cold compile): "
        f"{r['peak_rss_mib']:.0f} MiB (target <= 200 MiB); RSS at ready "
        f"{r['rss_at_ready_mib']:.0f} MiB, after the closes {r['rss_end_mib']:.0f} MiB; "
        f"kernels compiled meanwhile: {late}"
    )
    print(
        f"  idle (no traders, {r['symbols']} symbols streaming, 3 s after ready): RSS "
        f"{r['idle_rss_mib']:.0f} MiB, peak {r['idle_peak_rss_mib']:.0f} MiB"
    )


def print_throughput(f: dict[str, Any]) -> None:
    """The throughput phase's figures (``bench_daemon.throughput``)."""
    print(
        f"throughput: {f['traders']} traders, half of them true on every symbol at every close, "
        f"exchange x{f['speed']:g} "
        f"(a 5m close every {300 / f['speed']:g} s):"
    )
    print(
        f"  {f['signals_per_s']:.0f} signals/s stored and pushed to the browser "
        f"({f['signals_per_close']:.0f} per close over {f['closes']} whole closes, offered "
        f"{f['offered_per_s']:.0f}/s)"
    )
    print(
        f"  daemon CPU {f['daemon_cpu_fraction'] * 100:.0f}% of a core over {f['window_s']:.0f} s "
        f"from {f['warm_s']:g} s in (outcomes completing), {f['window_signals_per_s']:.0f} "
        f"signals/s then: {f['daemon_cpu_fraction'] / f['window_signals_per_s'] * 1e6:.0f} µs "
        f"of daemon CPU per signal"
    )
    print(
        f"  last signal of a close after its bucket's last frame: first "
        f"{f['last_signal_lag_first_ms']:.0f} ms, last {f['last_signal_lag_last_ms']:.0f} ms, "
        f"max {f['last_signal_lag_max_ms']:.0f} ms; the browser received "
        f"{f['signals_received']} while the daemon counted {f['created_total']:.0f} created; "
        f"{f['stored_total']} in SQLite after the drain"
    )
