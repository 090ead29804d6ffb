"""A batch of outcome updates (``Reports``) builds its store rows, browser items and record
rows from its state rows at once: exactly what each update, read as an ``Outcome``, gives
one by one (``to_row``, ``message_data``, ``outcome_row``), the same keys in the same order and
the same bits — over any state rows: never stepped, touched (even with a level unknown),
complete, unknown returns, signed zeros, infinities, long and short."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.outcomes import (
    ADV,
    DIRECTION,
    ENTRY,
    FAV,
    HORIZON,
    HORIZONS,
    N_COLUMNS,
    R0,
    SEEN,
    STOP_LEVEL,
    TARGET_LEVEL,
    TOUCH,
    TOUCH_BAR,
)
from kernels.track_record import outcome_row
from vyx.outcomes.reports import OutcomeUpdate, Reports

_VALUE = st.sampled_from([np.nan, 0.0, -0.0, np.inf, -np.inf]) | st.floats(-1e3, 1e3)
_STATE = st.tuples(
    st.floats(1e-6, 1e6),  # entry
    st.booleans(),  # short?
    _VALUE,  # stop
    _VALUE,  # target
    st.integers(0, HORIZON),  # bars seen
    _VALUE,  # favourable
    _VALUE,  # adverse
    st.integers(0, 2),  # touch
    st.integers(1, HORIZON),  # touch bar
    st.lists(_VALUE, min_size=len(HORIZONS), max_size=len(HORIZONS)),  # returns
)


class _Who:
    def __init__(self, i: int) -> None:
        self.signal_id = f"s{i}"
        self.trader_id = f"t{i % 3}"
        self.user_id = "u"
        self.symbol = f"S{i}USDT"
        self.interval = "5m" if i % 2 else "1h"
        self.bar_open_time = 1_700_000_000_000 + i


def _block(states: list[tuple]) -> np.ndarray:  # type: ignore[type-arg]
    block = np.full((len(states), N_COLUMNS), np.nan)
    for i, (entry, short, stop, target, seen, fav, adv, touch, bar, returns) in enumerate(states):
        block[i, ENTRY] = entry
        block[i, DIRECTION] = -1.0 if short else 1.0
        block[i, STOP_LEVEL], block[i, TARGET_LEVEL] = stop, target
        block[i, SEEN] = seen
        block[i, FAV], block[i, ADV] = fav, adv
        block[i, TOUCH] = touch
        block[i, TOUCH_BAR] = bar if touch else np.nan
        block[i, R0 : R0 + len(HORIZONS)] = returns
    return block


@settings(max_examples=80, deadline=None)
@given(st.lists(_STATE, max_size=12), st.lists(st.sampled_from(["atr", "analysis", "none"])))
def test_a_batchs_rows_and_messages_are_its_updates_one_by_one(
    states: list[tuple], sources: list[str]
) -> None:
    block = _block(states)
    levels = [(sources or ["atr"])[i % max(len(sources), 1)] for i in range(len(states))]
    reports = Reports([_Who(i) for i in range(len(states))], block, levels)
    updates: list[OutcomeUpdate] = list(reports)
    assert len(reports) == len(updates) == len(states)
    # As text: NaN equals nothing, and equal floats may differ in bits (-0.0 and 0.0).
    assert repr(reports.rows(7)) == repr([u.to_row(7) for u in updates])
    records = {f"t{k}": {"all": {"signals": k}, "recent": {"signals": -k}} for k in range(3)}
    one_by_one = [
        u.message_data(records[u.trader_id] if u.outcome.complete else None)
        for u in updates
        if u.outcome.bars
    ]
    assert repr(reports.message_datas(records)) == repr(one_by_one)
    traders, opened, rows = reports.completed()
    done = [u for u in updates if u.outcome.complete]
    assert traders == [u.trader_id for u in done]
    assert opened == [u.bar_open_time for u in done]
    expected = np.asarray([outcome_row(u.outcome) for u in done], dtype=np.float64)
    assert rows.tobytes() == expected.reshape(len(done), rows.shape[1]).tobytes()


def test_batches_add_up_in_order_and_read_as_their_updates() -> None:
    states = [
        (100.0, False, 99.0, 102.0, 3, 101.0, 99.5, 0, 1, [0.01, 0.02, np.nan, np.nan, np.nan]),
        (50.0, True, 51.0, 48.0, HORIZON, 47.0, 50.5, 1, 4, [0.0, -0.0, 0.1, 0.2, 0.3]),
    ]
    first = Reports([_Who(0)], _block(states[:1]), ["atr"])
    second = Reports([_Who(1)], _block(states[1:]), ["analysis"])
    both = first + second
    assert isinstance(both, Reports)
    assert both == [*first, *second]
    assert [u.signal_id for u in both] == ["s0", "s1"]
    assert both[1].outcome.touch == "target"
    assert both[1].outcome.trade_return == -(48.0 / 50.0 - 1.0)
    assert Reports.concat([]) == [] == Reports.empty()
    # With a list of updates (a subclass's): a list, in order.
    updates: list[OutcomeUpdate] = list(second)
    assert first + updates == [*first, *second]
    assert updates + first == [*second, *first]
    assert Reports.concat([first, Reports.empty(), second]).rows(0) == both.rows(0)
