"""The results block printed at the end of a run."""

from __future__ import annotations

from typing import Any


def print_results(r: dict[str, Any]) -> None:
    p = r["params"]
    print(
        f"load: {p['clients']} authenticated readers (HS256 Supabase tokens, half by query, "
        f"half by auth message) + 1 stalled, {p['bad']} bad attempts; loopback, "
        f"1-min load average {r['loadavg_1m']:.2f} at the end"
    )
    print(f"  {p['clients']} readers connected and greeted in {r['connect_s']:.1f} s")
    print("  broadcast latency (perf_counter stamp before broadcast -> arrival at each reader):")
    for phase, q in r["latency"].items():
        print(
            f"    {phase:9s} p50 {q['p50_ms']:7.2f} ms  p99 {q['p99_ms']:7.2f} ms  "
            f"max {q['max_ms']:7.2f} ms  ({q['n']} deliveries)"
        )
    print("  fan-out (each message's slowest reader):")
    for phase, q in r["fan_out"].items():
        print(
            f"    {phase:9s} p50 {q['p50_ms']:7.2f} ms  p99 {q['p99_ms']:7.2f} ms  "
            f"max {q['max_ms']:7.2f} ms  ({q['n']} messages)"
        )
    budget = p["budget_p99_ms"]
    worst = max(r["latency"][ph]["p99_ms"] for ph in ("baseline", "bad", "after"))
    print(
        f"  budget: a single broadcast's p99 to every reader <= {budget:.0f} ms (baseline, bad and "
        f"after phases; --budget-p99-ms): {'MET' if worst <= budget else 'NOT MET'} "
        f"(worst p99 {worst:.1f} ms)"
    )
    bd = r["burst_delivered"]
    if bd["n"]:
        rate = p["burst_size"] * p["clients"] / (bd["p50_ms"] / 1000)
        print(
            f"  a burst of {p['burst_size']} delivered to all {p['clients']} readers in: "
            f"p50 {bd['p50_ms']:.0f} ms, max {bd['max_ms']:.0f} ms ({bd['n']} bursts; "
            f"~{rate:,.0f} deliveries/s)"
        )
    rd = r["readers"]
    flawless = not (
        rd["missing_total"]
        or rd["out_of_order_total"]
        or rd["closed_early_count"]
        or rd["error_count"]
        or rd["without_end_marker"]
    )
    print(
        f"  readers: {rd['count']} ({rd['error_count']} failed), every one got all "
        f"{r['stamped_broadcasts']} broadcasts in order: {'YES' if flawless else 'NO'}"
        f" (missing {rd['missing_total']} in {rd['readers_missing_any']} readers, out of order "
        f"{rd['out_of_order_total']}, closed early {rd['closed_early_count']})"
    )
    s = r["stalled"]
    if s["dropped"]:
        print(
            f"  stalled client: dropped after {s['broadcasts_until_drop']} broadcasts, "
            f"{s['seconds_until_drop']:.1f} s after broadcasting began; it then read "
            f"close {s['close_seen']!r}"
        )
    else:
        print(f"  stalled client: NOT dropped (close seen: {s['close_seen']!r})")
    b = r["bad"]
    print(
        f"  bad attempts: {b['attempts']} in {b['elapsed_s']:.1f} s, "
        f"{'all rejected as expected' if not b['wrong'] else 'WRONG OUTCOMES: ' + str(b['wrong'])}"
    )
    for kind, outcomes in sorted(b["outcomes"].items()):
        shown = ", ".join(f"{o} x{n}" for o, n in outcomes.items())
        print(f"    {kind:24s} {shown}")
    fs = r["server_final"]
    print(
        f"  server after the flood: {fs['connections']} connections open, {fs['clients']} "
        f"authenticated (expected {p['clients']} and {p['clients']}: nothing left behind)"
    )
    print("  CPU seconds per phase (wall seconds): ", end="")
    print(
        "; ".join(
            f"{ph} server {c['server']:.1f} readers {c['readers']:.1f} ({c['wall']:.1f})"
            for ph, c in r["cpu_s"].items()
            if ph != "stalled"
        )
    )
    rss = r["server_rss_mib"]
    print(
        "  server RSS: "
        + ", ".join(f"{k} {v['rss_mib']:.0f} MiB" for k, v in rss.items())
        + f"; peak {rss['end']['peak_mib']:.0f} MiB"
    )
