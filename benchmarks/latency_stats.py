"""Latency figures of ``bench_daemon``: quantiles of measured delays, the spread of each bucket
of closed frames the exchange sent, and quantiles read from the daemon's Prometheus histograms."""

from __future__ import annotations

import re
import statistics


def quantiles(xs: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of ``xs`` in ms (NaN when empty)."""
    if not xs:
        return (float("nan"),) * 3
    if len(xs) == 1:
        return xs[0] * 1e3, xs[0] * 1e3, xs[0] * 1e3
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return q[49] * 1e3, q[98] * 1e3, max(xs) * 1e3


def bucket_spans(
    sent: dict[tuple[str, str, int], float],
) -> dict[tuple[str, int], tuple[float, float]]:
    """(interval, open time) -> (first, last) closed frame sent."""
    out: dict[tuple[str, int], tuple[float, float]] = {}
    for (_, i, t), at in sent.items():
        lo, hi = out.get((i, t), (at, at))
        out[(i, t)] = (min(lo, at), max(hi, at))
    return out


def histogram_quantile(metrics: dict[str, float], name: str, tf: str | None, q: float) -> float:
    """A quantile (ms) read from a Prometheus histogram's buckets (upper bound of its bucket)."""
    rows = []
    label = "" if tf is None else ',timeframe="' + tf + '"'
    for key, value in metrics.items():
        m = re.fullmatch(name + r'_bucket\{le="([^"]+)"' + label + r"\}", key)
        if m:
            rows.append((float(m.group(1)), value))
    rows.sort()
    if not rows or rows[-1][1] == 0:
        return float("nan")
    for le, count in rows:
        if count >= q * rows[-1][1]:
            return le * 1e3
    return float("nan")
