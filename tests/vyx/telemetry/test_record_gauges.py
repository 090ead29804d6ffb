"""A trader's record gauges (``Metrics.observe_record``): every figure of its record in its
gauge and labels, NaN where a figure has no signal yet, the newest record replacing the last,
each trader's apart."""

from __future__ import annotations

import math

from kernels.outcomes import HORIZONS
from kernels.track_record import TrackRecord
from vyx.telemetry.metrics import Metrics


def _record(base: float, none_at: int | None = None) -> TrackRecord:
    rates = tuple(None if k == none_at else base + k / 100 for k in range(len(HORIZONS)))
    return TrackRecord(
        signals=int(base * 100),
        complete=int(base * 90),
        hit_rate=rates,
        mean_return=tuple(None if r is None else r / 10 for r in rates),
        median_return=rates,
        expectancy=None if none_at is not None else base / 3,
        profit_factor=math.inf,
        worst_mae=-base,
        targets=7,
        stops=int(base * 10),
    )


def _gauges(m: Metrics, trader: str) -> dict[str, float]:
    found = {
        "outcomes": m.value("vyx_trader_outcomes", {"trader": trader}),
        "expectancy": m.value("vyx_trader_expectancy", {"trader": trader}),
        "profit_factor": m.value("vyx_trader_profit_factor", {"trader": trader}),
        "worst_mae": m.value("vyx_trader_worst_mae", {"trader": trader}),
        "target": m.value("vyx_trader_touches", {"trader": trader, "level": "target"}),
        "stop": m.value("vyx_trader_touches", {"trader": trader, "level": "stop"}),
    }
    for h in HORIZONS:
        labels = {"trader": trader, "horizon": str(h)}
        found[f"hit{h}"] = m.value("vyx_trader_hit_rate", labels)
        found[f"mean{h}"] = m.value("vyx_trader_mean_return", labels)
    return found


def _expected(r: TrackRecord) -> dict[str, float]:
    def v(x: float | None) -> float:
        return math.nan if x is None else x

    found = {
        "outcomes": float(r.signals),
        "expectancy": v(r.expectancy),
        "profit_factor": v(r.profit_factor),
        "worst_mae": v(r.worst_mae),
        "target": float(r.targets),
        "stop": float(r.stops),
    }
    for h, rate, mean in zip(HORIZONS, r.hit_rate, r.mean_return, strict=True):
        found[f"hit{h}"] = v(rate)
        found[f"mean{h}"] = v(mean)
    return found


def _same(got: dict[str, float], want: dict[str, float]) -> bool:
    return got.keys() == want.keys() and all(
        (math.isnan(want[k]) and math.isnan(got[k])) or got[k] == want[k] for k in want
    )


def test_each_figure_lands_in_its_gauge_and_the_newest_record_replaces_the_last() -> None:
    m = Metrics()
    first, second, other = _record(0.5), _record(0.25, none_at=2), _record(0.75, none_at=0)
    m.observe_record("a", first)
    m.observe_record("b", other)
    assert _same(_gauges(m, "a"), _expected(first))
    m.observe_record("a", second)
    assert _same(_gauges(m, "a"), _expected(second))
    assert math.isnan(_gauges(m, "a")["hit6"])  # no signal at that horizon yet
    assert _same(_gauges(m, "b"), _expected(other))


def test_records_observed_between_two_scrapes_show_the_newest_in_the_exposition() -> None:
    """The gauges are set when the registry is read (a scrape): records observed at several
    closes in between show the newest of each trader, in ``/metrics``' text as well."""
    m = Metrics()
    m.observe_record("a", _record(0.5))
    m.observe_record("a", _record(0.25))
    m.observe_record("b", _record(0.75))
    text = m.render().decode()
    assert 'vyx_trader_outcomes{trader="a"} 25.0' in text
    assert 'vyx_trader_outcomes{trader="b"} 75.0' in text
    m.observe_record("a", _record(0.5))
    assert _same(_gauges(m, "a"), _expected(_record(0.5)))
    assert _same(_gauges(m, "b"), _expected(_record(0.75)))
