"""A track record summed up in one kernel call (``record_of`` over ``record_sums_nb``) is the
record numpy sums up column by column, bit for bit: sums pairwise as numpy adds them (short,
up to 128 values, and split in halves beyond), medians of odd and even counts, ties, signed
zeros, unknown (NaN) and infinite values, columns with no known value, no row at all."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.outcomes import HORIZONS
from kernels.track_record import (
    COMPLETE,
    MAE,
    STOP,
    TARGET,
    TRADE,
    WIDTH,
    Rows,
    TrackRecord,
    record_of,
)


def _numpy_record(rows: Rows) -> TrackRecord:
    """The record as numpy sums it up, column by column (``record_of`` before its kernel)."""

    def known(column: Rows) -> Rows:
        return column[~np.isnan(column)]

    def mean(values: Rows) -> float | None:
        return float(np.mean(values)) if len(values) else None

    def median(values: Rows) -> float | None:
        return float(np.median(values)) if len(values) else None

    by_h = [known(rows[:, k]) for k in range(len(HORIZONS))]
    trades = known(rows[:, TRADE])
    maes = known(rows[:, MAE])
    gains = float(trades[trades > 0].sum())
    losses = -float(trades[trades < 0].sum())
    if losses > 0:
        pf: float | None = gains / losses
    else:
        pf = math.inf if gains > 0 else None
    return TrackRecord(
        len(rows),
        int(np.count_nonzero(rows[:, COMPLETE])),
        tuple((int(np.count_nonzero(rs > 0)) / len(rs)) if len(rs) else None for rs in by_h),
        tuple(mean(rs) for rs in by_h),
        tuple(median(rs) for rs in by_h),
        mean(trades),
        pf,
        float(maes.min()) if len(maes) else None,
        int(np.count_nonzero(rows[:, TARGET])),
        int(np.count_nonzero(rows[:, STOP])),
    )


def _rows(n: int, seed: int, unknown: float, pool: bool, infinite: bool = False) -> Rows:
    """``n`` rows of returns (from a small pool of values with ties and signed zeros, or
    spread over magnitudes), a share ``unknown`` of them NaN (``infinite``: 2 % of them
    infinite, either sign), and 0/1 flags."""
    gen = np.random.default_rng(seed)
    if pool:
        values = np.asarray([0.0, -0.0, 0.01, -0.01, 0.02, 1e-9, -0.5, 0.3])
        rows = values[gen.integers(0, len(values), (n, WIDTH))]
    else:
        rows = gen.standard_normal((n, WIDTH)) * 10.0 ** gen.integers(-6, 2, (n, WIDTH))
    if infinite:
        rows = np.where(
            gen.random((n, WIDTH)) < 0.02, gen.choice([-np.inf, np.inf], (n, WIDTH)), rows
        )
    rows[gen.random((n, WIDTH)) < unknown] = np.nan
    rows[:, COMPLETE:] = gen.random((n, WIDTH - COMPLETE)) < 0.4
    return rows


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 300) | st.sampled_from([127, 128, 129, 255, 256, 257, 1000]),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 0.1, 0.6, 1.0]),
    st.booleans(),
    st.booleans(),
)
def test_the_kernels_record_is_numpys_bit_for_bit(
    n: int, seed: int, unknown: float, pool: bool, infinite: bool
) -> None:
    rows = _rows(n, seed, unknown, pool, infinite)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as in the kernel
        expected = _numpy_record(rows)
    # repr tells -0.0 from 0.0, which == does not.
    assert repr(record_of(rows)) == repr(expected)


def test_a_column_of_equal_values_has_their_median() -> None:
    for n in (1, 2, 999, 1_000):
        rows = _rows(n, n, 0.0, pool=False)
        rows[:, :MAE] = 0.0
        rows[::3, :MAE] = -0.0
        rows[:, 1] = 0.25
        assert repr(record_of(rows)) == repr(_numpy_record(rows))
        assert record_of(rows).median_return[:2] == (0.0, 0.25)


def test_medians_of_ordered_columns() -> None:
    """Sorted, reversed, organ-pipe and sawtooth columns (orders that make a fixed choice of
    pivot poor): the medians numpy gives."""
    n = 1_001
    rows = _rows(n, 4, 0.0, pool=False)
    up = np.arange(n, dtype=np.float64)
    rows[:, 0] = up
    rows[:, 1] = up[::-1]
    rows[:, 2] = np.minimum(up, up[::-1])
    rows[:, 3] = up % 37
    for length in (n, n - 1):
        part = np.ascontiguousarray(rows[:length])
        assert repr(record_of(part)) == repr(_numpy_record(part))


def test_long_records_sum_in_numpys_halves() -> None:
    for n, seed in ((2_500, 1), (4_099, 2), (20_000, 3)):
        rows = _rows(n, seed, 0.05, pool=False)
        assert repr(record_of(rows)) == repr(_numpy_record(rows))
