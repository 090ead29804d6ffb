"""Ring buffer properties: history is the last ``capacity`` bars, forming bars never leak."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.ring import BLOCK, N_FIELDS, Append, RingBuffer, RingError

TF = 60_000


def _bar(i: int) -> np.ndarray:
    return np.arange(N_FIELDS, dtype=float) + 10.0 * i


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 40), n=st.integers(0, 130), read=st.integers(1, 50))
def test_appending_n_bars_keeps_the_last_capacity_bars(capacity: int, n: int, read: int) -> None:
    ring = RingBuffer(TF, capacity, ["AUSDT"])
    slot = ring.slot("AUSDT")
    for i in range(n):
        assert ring.append(slot, i * TF, _bar(i)) is Append.APPENDED
    kept = min(n, capacity, read)
    times, values = ring.window(slot, read)
    assert ring.length(slot) == min(n, capacity)
    assert times.tolist() == [i * TF for i in range(n - kept, n)]
    expected = np.array([_bar(i) for i in range(n - kept, n)]).reshape(kept, N_FIELDS).T
    np.testing.assert_array_equal(values, expected)
    # Windows are contiguous views (kernels read them without copying).
    assert values[0].flags.c_contiguous
    newest_times, newest_values = ring.newest()
    assert newest_times[slot] == (times[-1] if n else -1)
    if n:
        np.testing.assert_array_equal(newest_values[slot], _bar(n - 1))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    forming=st.lists(st.floats(-1e6, 1e6), min_size=N_FIELDS, max_size=N_FIELDS),
)
def test_overwriting_the_forming_bar_then_restoring_it_changes_nothing(
    n: int, forming: list[float]
) -> None:
    ring = RingBuffer(TF, 16, ["AUSDT"])
    slot = ring.slot("AUSDT")
    for i in range(n):
        ring.append(slot, i * TF, _bar(i))
    ring.set_forming(slot, n * TF, _bar(n))
    before_times, before_values = (a.copy() for a in ring.window(slot))
    before_forming = ring.forming(slot)
    ring.set_forming(slot, n * TF, forming)
    ring.set_forming(slot, n * TF, _bar(n))
    times, values = ring.window(slot)
    np.testing.assert_array_equal(times, before_times)
    np.testing.assert_array_equal(values, before_values)
    after = ring.forming(slot)
    assert after is not None
    assert before_forming is not None
    assert after[0] == before_forming[0]
    np.testing.assert_array_equal(after[1], before_forming[1])


def test_duplicates_stale_bars_and_gaps_never_corrupt_history() -> None:
    ring = RingBuffer(TF, 8, ["AUSDT"])
    slot = ring.slot("AUSDT")
    assert ring.append(slot, 0, _bar(0)) is Append.APPENDED
    assert ring.append(slot, TF, _bar(1)) is Append.APPENDED
    assert ring.append(slot, TF, _bar(99)) is Append.DUPLICATE
    assert ring.append(slot, 0, _bar(99)) is Append.STALE
    assert ring.append(slot, 5 * TF, _bar(5)) is Append.GAP
    times, values = ring.window(slot)
    assert times.tolist() == [0, TF]
    np.testing.assert_array_equal(values[:, 1], _bar(1))
    assert ring.next_open_time(slot) == 2 * TF


def test_closing_a_bar_clears_its_forming_bar_only() -> None:
    ring = RingBuffer(TF, 8, ["AUSDT"])
    slot = ring.slot("AUSDT")
    ring.append(slot, 0, _bar(0))
    assert ring.set_forming(slot, TF, _bar(7))
    assert not ring.set_forming(slot, 0, _bar(7)), "a forming bar must be newer than history"
    ring.append(slot, TF, _bar(1))
    assert ring.forming(slot) is None


def test_symbols_come_and_go_without_moving_other_symbols_bars() -> None:
    names = [f"S{i}USDT" for i in range(BLOCK + 5)]
    ring = RingBuffer(TF, 4, names[:BLOCK])
    first = ring.slot(names[0])
    ring.append(first, 0, _bar(0))
    view_before = ring.window(first)[1]
    for name in names[BLOCK:]:  # a new block is allocated: existing bars are not copied
        ring.add_symbol(name)
    assert np.shares_memory(view_before, ring.window(first)[1])
    ring.remove_symbol(names[3])
    assert names[3] not in ring
    reused = ring.add_symbol("NEWUSDT")
    assert reused == 3
    assert ring.length(reused) == 0
    assert ring.symbols[3] == "NEWUSDT"
    with pytest.raises(RingError, match="unknown symbol"):
        ring.slot(names[3])


def test_blocks_and_lengths_say_where_every_slots_window_is() -> None:
    names = [f"S{i}USDT" for i in range(BLOCK + 5)]
    ring = RingBuffer(TF, 4, names)
    for slot in range(len(names)):
        for t in range(slot % 7):
            ring.append(slot, t * TF, _bar(slot + t))
    ring.remove_symbol(names[2])
    assert ring.lengths().tolist() == [ring.length(s) for s in range(ring.n_slots)]
    slots = np.asarray([BLOCK + 3, 1, 2, BLOCK, 5], dtype=np.int64)
    seen = []
    for data, times, of, rows in ring.blocks(slots):
        for k, (row, end, held) in zip(of.tolist(), rows.tolist(), strict=True):
            want_times, want_values = ring.window(int(slots[k]))
            assert times[row, end - held : end].tolist() == want_times.tolist()
            assert np.array_equal(data[:, row, end - held : end], want_values)
            seen.append(k)
    assert sorted(seen) == list(range(len(slots)))


def _state(ring: RingBuffer, slot: int) -> tuple[object, ...]:
    block, row = ring._locate(slot)
    return (
        block.times[row].tolist(),
        block.data[:, row].tobytes(),
        int(block.head[row]),
        int(block.count[row]),
        int(block.forming_time[row]),
        block.forming[row].tobytes(),
    )


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 12),
    held=st.integers(0, 20),
    forming_at=st.integers(-1, 40),
    steps=st.lists(st.integers(-3, 3), min_size=0, max_size=40),
    start=st.integers(-2, 25),
)
def test_extend_is_append_bar_by_bar(
    capacity: int, held: int, forming_at: int, steps: list[int], start: int
) -> None:
    """Whatever is held and whatever comes (runs, duplicates, stale bars, holes), ``extend``
    leaves the ring exactly as appending each bar would, and counts the same bars."""
    step = 60_000
    rings = [RingBuffer(step, capacity, ["X"]) for _ in range(2)]
    for ring in rings:
        for t in range(held):
            ring.append(0, t * step, [float(t)] * N_FIELDS)
        if forming_at >= 0:
            ring.set_forming(0, forming_at * step, [-1.0] * N_FIELDS)
    # mostly the next bar, sometimes a duplicate (0), a stale bar (< 0) or a hole (3)
    advance = {1: 1, 2: 1, 3: 3}
    times, t = [], max(0, start)
    for d in steps:
        times.append(t * step)
        t = max(0, t + advance.get(d, d))
    values = [[float(x // step) + 0.5 * i] * N_FIELDS for i, x in enumerate(times)]
    one_by_one = sum(
        rings[0].append(0, x, v) is Append.APPENDED for x, v in zip(times, values, strict=True)
    )
    assert rings[1].extend(0, times, values) == one_by_one
    assert _state(rings[0], 0) == _state(rings[1], 0)
