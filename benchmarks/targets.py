"""Every figure of the performance issue next to its target, from one ``just bench`` run.

Reads what the benchmark modules of the same run wrote to ``bench-results/``
(``kernels.json``, ``frames.json``, ``signals.json``, ``daemon.json``), prints one table
(figure, now, target, met) and writes it to ``bench-results/targets.md`` and ``targets.json``.
A figure whose benchmark did not run is shown as missing, never guessed.

Run last by ``just bench``, or alone: ``uv run python -m benchmarks.targets``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"

Results = dict[str, dict[str, Any]]


def _load() -> Results:
    out: Results = {}
    for name in ("kernels", "frames", "signals", "daemon"):
        path = RESULTS / f"{name}.json"
        out[name] = json.loads(path.read_text()) if path.exists() else {}
    return out


def _get(r: Results, *path: str) -> float:
    node: Any = r
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return math.nan
        node = node[key]
    return float(node)


#: (figure, how it is computed, format, target text, met when; None: no target of its own)
Row = tuple[str, Callable[[Results], float], str, str, Callable[[float], bool] | None]

ROWS: list[Row] = [
    (
        "backtest, bars x symbols x traders per second vs the TA-Lib loop",
        lambda r: (
            _get(r, "kernels", "backtest", "vyx_per_s")
            / _get(r, "kernels", "backtest", "talib_per_s")
        ),
        "{:.2f}x",
        ">= 3x (>= 1x at the very least)",
        lambda v: v >= 1.0,
    ),
    (
        "1000 sym x 50 traders x 3 TF, kernel step on 2 threads vs 1 (median close)",
        lambda r: (
            _get(r, "kernels", "large_1_thread", "kernel_step_us")
            / _get(r, "kernels", "large_2_threads", "kernel_step_us")
        ),
        "{:.2f}x",
        ">= 1.7x",
        lambda v: v >= 1.7,
    ),
    (
        "reference workload, 2 threads offered vs 1 (kernel step)",
        lambda r: (
            _get(r, "kernels", "reference", "kernel_step_us")
            / _get(r, "kernels", "reference_2_threads", "kernel_step_us")
        ),
        "{:.2f}x",
        "never slower (>= ~0.95x: noise)",
        lambda v: v >= 0.95,
    ),
    (
        "frame -> signal_created p99, from the bucket's last closed frame",
        lambda r: _get(r, "daemon", "after_bucket_p99_ms"),
        "{:.1f} ms",
        "<= 10 ms",
        lambda v: v <= 10.0,
    ),
    (
        "CPU per closed-kline frame, socket to ring",
        lambda r: _get(r, "frames", "cpu_us_per_frame"),
        "{:.1f} us",
        "<= 30 us",
        lambda v: v <= 30.0,
    ),
    (
        "explain + store + push, per signal (process CPU, SQLite's thread included)",
        lambda r: _get(r, "signals", "cpu_us_per_signal"),
        "{:.0f} us",
        "<= 20 us",
        lambda v: v <= 20.0,
    ),
    (
        # Not the row above measured another way: everything the daemon does per signal at
        # 500 signals/s, counted against the signals (an upper bound of the row above).
        "  upper bound: the whole daemon's CPU / signals per s (frames, screens, outcomes, "
        "records included; 12 s with outcomes completing)",
        lambda r: (
            _get(r, "daemon", "throughput_daemon_cpu_fraction")
            / _get(r, "daemon", "throughput_window_signals_per_s")
            * 1e6
        ),
        "{:.0f} us",
        "none (bounds the row above)",
        None,
    ),
    (
        "start to ready, warm cache, 100 symbols x 2 TF",
        lambda r: _get(r, "daemon", "ready_s"),
        "{:.2f} s",
        "<= 3 s",
        lambda v: v <= 3.0,
    ),
    (
        "peak RSS, a process loading the kernels from cache",
        lambda r: _get(r, "kernels", "compile_memory", "cached_rss_mib"),
        "{:.0f} MiB",
        "<= 160 MiB",
        lambda v: v <= 160.0,
    ),
    (
        "peak RSS, full daemon at the reference workload",
        lambda r: _get(r, "daemon", "peak_rss_mib"),
        "{:.0f} MiB",
        "<= 200 MiB",
        lambda v: v <= 200.0,
    ),
    (
        "an install staged beside a busy event loop (many on() clauses, 100 sym x 2 TF)",
        lambda r: _get(r, "kernels", "busy_install", "many on() clauses", "busy_ms"),
        "{:.0f} ms",
        "<= ~100 ms",
        lambda v: v <= 100.0,
    ),
    (
        "cold kernel compile (progress shown)",
        lambda r: _get(r, "kernels", "compile_memory", "cold_compile_s"),
        "{:.1f} s",
        "<= 8 s",
        lambda v: v <= 8.0,
    ),
    (
        "vyx --help (wall, fresh interpreter)",
        lambda r: _get(r, "frames", "help_s"),
        "{:.2f} s",
        "<= 0.3 s",
        lambda v: v <= 0.3,
    ),
]


def table(results: Results) -> list[tuple[str, str, str, str]]:
    """(figure, now, target, met) per row; ``now`` is "missing" when its benchmark did not run."""
    rows = []
    for name, compute, fmt, target, met in ROWS:
        value = compute(results)
        if math.isnan(value):
            rows.append((name, "missing", target, "?"))
        elif met is None:
            rows.append((name, fmt.format(value), target, "-"))
        else:
            rows.append((name, fmt.format(value), target, "yes" if met(value) else "NO"))
    return rows


def main() -> None:
    """Print the table; write ``bench-results/targets.md`` and ``targets.json``."""
    rows = table(_load())
    header = ("figure", "now", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    print("\nissue 15, every figure next to its target (this run):")
    print("  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)))
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    md = ["| figure | now | target | met |", "|---|---|---|---|"]
    md += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    (RESULTS / "targets.md").write_text("\n".join(md) + "\n")
    (RESULTS / "targets.json").write_text(
        json.dumps([dict(zip(header, r, strict=True)) for r in rows], indent=2)
    )


if __name__ == "__main__":
    main()
