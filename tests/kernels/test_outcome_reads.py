"""Outcomes read from many tracker rows at once (``OutcomeTracker.outcomes``, the step at a
close's reports) are the outcomes read row by row, bit for bit: rows never stepped, touched,
complete, with and without levels, long and short, in any order."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.outcomes import HORIZON, Levels, OutcomeTracker

_PRICE = st.floats(0.01, 1e6, allow_nan=False, allow_infinity=False)
_ROW = st.tuples(
    _PRICE,  # entry
    st.booleans(),  # short?
    st.none() | st.tuples(st.floats(0.001, 0.2), st.floats(0.001, 0.4)),  # stop, target apart
    st.integers(0, HORIZON + 2),  # bars stepped
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=30), st.integers(0, 2**32 - 1), st.randoms())
def test_outcomes_read_at_once_are_the_outcomes_read_row_by_row(
    rows: list[tuple[float, bool, tuple[float, float] | None, int]], seed: int, order: random.Random
) -> None:
    tracker = OutcomeTracker(len(rows) + 2)
    tracker.release(tracker.open(1.0, "long", Levels.none()))  # a freed row, reused
    gen = np.random.default_rng(seed)
    opened = []
    for entry, short, apart, bars in rows:
        d = -1.0 if short else 1.0
        levels = (
            Levels.none()
            if apart is None
            else Levels(entry * (1 - d * apart[0]), entry * (1 + d * apart[1]), "atr")
        )
        row = tracker.open(entry, "short" if short else "long", levels)
        opened.append(row)
        for _ in range(bars):  # bars around the entry: some touch a level, some do not
            close = entry * gen.uniform(0.8, 1.2)
            high, low = close * gen.uniform(1.0, 1.1), close * gen.uniform(0.9, 1.0)
            tracker.advance(
                np.asarray([row]), np.asarray([high]), np.asarray([low]), np.asarray([close])
            )
    picked = np.asarray(opened, dtype=np.int64)
    order.shuffle(opened)
    shuffled = np.asarray(opened, dtype=np.int64)
    for rows_ in (picked, shuffled, shuffled[:1]):
        at_once = tracker.outcomes(rows_)
        one_by_one = [tracker.outcome(r) for r in rows_.tolist()]
        # As text as well: equal floats with other bits (-0.0 and 0.0) would compare equal.
        assert at_once == one_by_one
        assert [repr(o) for o in at_once] == [repr(o) for o in one_by_one]
    assert tracker.outcomes(np.empty(0, dtype=np.int64)) == []
