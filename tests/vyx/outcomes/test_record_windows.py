"""A trader's record read from its window of rows with each horizon's known returns kept
sorted as rows come and go (``window_nb``; the medians read there) is the record selected
from the rows alone (``record_of``), bit for bit: windows that fill, slide and move their rows
to the front, ties, signed zeros, unknown and infinite returns, rows given as outcomes or as
arrays; the sorted values are exactly the window's."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.outcomes import HORIZONS
from kernels.track_record import COMPLETE, WIDTH, record_of
from vyx.outcomes.records import Records

_POOL = np.asarray([0.0, -0.0, 0.01, -0.01, 0.02, 1e-9, -0.5, 0.3, np.nan, np.inf, -np.inf])


def _rows(n: int, seed: int, pooled: bool) -> np.ndarray:  # type: ignore[type-arg]
    gen = np.random.default_rng(seed)
    if pooled:
        rows = _POOL[gen.integers(0, len(_POOL), (n, WIDTH))]
    else:
        rows = gen.standard_normal((n, WIDTH)) * 0.01
        rows[gen.random((n, WIDTH)) < 0.1] = np.nan
    rows[:, COMPLETE:] = gen.random((n, WIDTH - COMPLETE)) < 0.4
    return rows


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(0, 60),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.lists(st.integers(1, 5), min_size=1, max_size=8),
)
def test_a_record_read_from_sorted_windows_is_the_record_selected(
    size: int, n: int, seed: int, pooled: bool, batches: list[int]
) -> None:
    rows = _rows(n, seed, pooled)
    records = Records(lambda: 0, size=size)
    i = 0
    for step in batches * (n // max(sum(batches), 1) + 1):
        if i >= n:
            break
        part = rows[i : i + step]
        traders = ["a" if j % 3 else "b" for j in range(i, i + len(part))]
        records.add_rows(traders, list(range(i, i + len(part))), part)
        i += len(part)
        for trader in ("a", "b"):
            mine = rows[:i][[("a" if j % 3 else "b") == trader for j in range(i)]][-size:]
            got = records.whole(trader)
            # As text: equal floats may differ in bits (-0.0 and 0.0), NaN equals nothing.
            assert repr(got) == repr(record_of(mine))
            kept = records._kept.get(trader)
            if kept is not None:
                ordered, counts = kept.ordered()
                for k in range(len(HORIZONS)):
                    known = np.sort(mine[:, k][~np.isnan(mine[:, k])])
                    assert np.array_equal(ordered[k, : counts[k]], known)


def test_a_full_record_of_a_thousand_slides_with_its_medians() -> None:
    rows = _rows(2_600, 5, pooled=False)
    records = Records(lambda: 0)
    for start in range(0, len(rows), 70):
        part = rows[start : start + 70]
        records.add_rows(["t"] * len(part), list(range(start, start + len(part))), part)
        assert repr(records.whole("t")) == repr(record_of(rows[: start + len(part)][-1_000:]))
