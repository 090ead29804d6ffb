"""Track records: each figure on outcomes small enough to check by hand."""

from __future__ import annotations

import math

import pytest

from kernels.outcomes import HORIZON, HORIZONS, Outcome
from kernels.track_record import track_record


def _outcome(
    r24: float | None, touch: str = "none", mae: float = -0.01, direction: str = "long"
) -> Outcome:
    bars = HORIZON if r24 is not None else 2
    returns = (0.01, *(None,) * (len(HORIZONS) - 2), r24) if r24 is not None else (-0.02,)
    returns = returns + (None,) * (len(HORIZONS) - len(returns))
    return Outcome(
        direction,
        100.0,
        95.0,
        110.0,
        "atr",
        bars,
        returns,
        0.02,
        mae,
        touch,
        1 if touch != "none" else None,
    )


def test_figures_by_hand() -> None:
    outcomes = [
        _outcome(0.02),  # out at +24: +2 %
        _outcome(-0.01, touch="stop", mae=-0.06),  # out at the stop: -5 %
        _outcome(0.05, touch="target"),  # out at the target: +10 %
        _outcome(None),  # still open: counts for +1 only, not as a trade
    ]
    r = track_record(outcomes)
    assert (r.signals, r.complete, r.targets, r.stops) == (4, 3, 1, 1)
    assert r.hit_rate[0] == 0.75  # +1: three of 0.01, one of -0.02
    assert r.hit_rate[1] is None  # no +3 known
    assert r.hit_rate[-1] == pytest.approx(2 / 3)
    assert r.mean_return[-1] == pytest.approx(0.02)
    assert r.median_return[-1] == pytest.approx(0.02)
    assert r.expectancy == pytest.approx((0.02 - 0.05 + 0.10) / 3)
    assert r.profit_factor == pytest.approx(0.12 / 0.05)
    assert r.worst_mae == -0.06
    assert r.to_json()["hitRate"] == {
        "1": 0.75,
        "3": None,
        "6": None,
        "12": None,
        "24": r.hit_rate[-1],
    }


def test_no_losses_and_no_signals() -> None:
    r = track_record([_outcome(0.02)])
    assert r.profit_factor is not None
    assert math.isinf(r.profit_factor)
    assert r.to_json()["profitFactor"] is None
    assert r.to_json()["noLosses"] is True
    empty = track_record([])
    assert empty.signals == 0
    assert empty.expectancy is None
    assert empty.profit_factor is None
    assert empty.to_json()["noLosses"] is False
