"""A trader's live record: bounded, all time and the last 7 days, cached until it changes."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from kernels.outcomes import HORIZON, Outcome
from kernels.track_record import RECENT_MS, track_record
from vyx.outcomes.records import Records

DAY = 86_400_000
TOUCHES = ("none", "target", "stop")


def _outcome(r24: float) -> Outcome:
    returns = (0.0, 0.0, 0.0, 0.0, r24)
    return Outcome("long", 100.0, 95.0, 110.0, "atr", HORIZON, returns, 0.01, -0.01, "none", None)


def test_all_time_recent_and_the_bound() -> None:
    now = [30 * DAY]
    records = Records(lambda: now[0], size=3)
    records.add("t", 1 * DAY, _outcome(0.01))  # pushed out by the bound
    records.add("t", 2 * DAY, _outcome(-0.02))
    records.add("t", now[0] - DAY, _outcome(0.03))
    records.add("t", now[0] - 2 * DAY, _outcome(0.04))
    got = records.to_json("t")
    assert got["all"]["signals"] == 3
    assert got["recent"]["signals"] == 2
    assert got["all"]["hitRate"]["24"] == 2 / 3
    assert records.traders == {"t": 3}
    # Cached until the next outcome; the recent part moves with the clock (after a minute).
    records.add("t", now[0], _outcome(0.05))
    assert records.to_json("t")["all"]["signals"] == 3
    assert records.to_json("t")["recent"]["signals"] == 3
    now[0] += RECENT_MS
    assert records.to_json("t")["recent"]["signals"] == 1
    assert records.to_json("other")["all"]["signals"] == 0


def test_whole_record_is_computed_once_per_outcome() -> None:
    records = Records(lambda: 30 * DAY)
    records.add("t", 29 * DAY, _outcome(0.01))
    first = records.whole("t")
    assert records.whole("t") is first  # cached: /metrics and the message read the same one
    assert records.record("t")[0] is first
    assert records.to_json("t")["all"] == first.to_json()
    records.add("t", 29 * DAY, _outcome(-0.02))
    assert records.whole("t").signals == 2
    assert records.to_json("t")["all"]["signals"] == 2


@given(
    size=st.integers(1, 5),
    added=st.lists(
        st.tuples(st.integers(0, 40), st.floats(-0.2, 0.2), st.sampled_from(TOUCHES)),
        max_size=30,
    ),
)
def test_the_kept_rows_sum_up_as_the_newest_outcomes(
    size: int, added: list[tuple[int, float, str]]
) -> None:
    """However many were added (the rows moved to the front of their arrays every ``size``),
    a record is that of the newest ``size`` outcomes, all time and those of the last 7 days."""
    now = 40 * DAY
    records = Records(lambda: now, size=size)
    kept: list[tuple[int, Outcome]] = []
    for day, r24, touch in added:
        o = attrs.evolve(_outcome(r24), touch=touch, touch_bar=None if touch == "none" else 3)
        records.add("t", day * DAY, o)
        kept = [*kept, (day * DAY, o)][-size:]
    whole, recent = records.record("t")
    assert whole == track_record(o for _, o in kept)
    assert recent == track_record(o for at, o in kept if at >= now - RECENT_MS)
    assert records.traders == ({"t": len(kept)} if added else {})
