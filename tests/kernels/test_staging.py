"""Trader changes are staged apart from the running state and installed at once; whatever the
traders contain, a change is an error per trader, never an exception (issue 12, finding 4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels.executor import Executor, StaleStage
from kernels.lang import BUDGET, Budget
from kernels.program import TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from tests.kernels.lang.test_fuzz import TOKENS, VALID
from tests.kernels.synthetic import random_klines

SYMBOLS = ["AAAUSDT", "BBBUSDT"]
BASE = [TraderDef("ok", "rsi(14) < 60 and close > sma(close, 20)", "5m")]


def _executor(n: int = 300, budget: Budget = BUDGET) -> tuple[Executor, dict[str, RingBuffer]]:
    rings = {"5m": RingBuffer(timeframe_ms("5m"), 1000, SYMBOLS)}
    for i, s in enumerate(SYMBOLS):
        k = random_klines(i, n, timeframe_ms("5m"))
        for t in range(n):
            rings["5m"].append(rings["5m"].slot(s), int(k.open_time[t]), k.bars[t, :8])
    executor = Executor(rings, budget=budget)
    assert executor.set_traders(BASE) == {}
    executor.advance("5m")
    return executor, rings


def _append(rings: dict[str, RingBuffer], t: int) -> None:
    for i, s in enumerate(SYMBOLS):
        k = random_klines(i, t + 1, timeframe_ms("5m"))
        rings["5m"].append(rings["5m"].slot(s), int(k.open_time[t]), k.bars[t, :8])


def test_a_timeframe_without_a_ring_is_a_compile_error_not_a_key_error() -> None:
    executor, _ = _executor()
    errors = executor.set_traders(
        [
            *BASE,
            TraderDef("tf4h", 'rsi(14) < 30 and on("4h", close > ema(close, 20))', "5m"),
            TraderDef("own15m", "close > open", "15m"),
        ]
    )
    assert set(errors) == {"tf4h", "own15m"}
    (diagnostic,) = errors["tf4h"].diagnostics
    assert diagnostic.span.col == 21
    assert diagnostic.message == "timeframe '4h' is not streamed here (streamed: 5m)"
    assert "trader's timeframe '15m' is not streamed here" in str(errors["own15m"])
    assert list(executor.traders) == ["ok"]
    assert executor.advance("5m").traders.keys() == {"ok"}


def test_a_change_after_a_huge_filter_does_not_recurse() -> None:
    # 497 clauses installed, then the next change of any trader raised RecursionError.
    wide = Budget(
        max_chars=1 << 20,
        max_nodes=1 << 20,
        max_work=1 << 20,
        max_user_nodes=1 << 20,
        max_user_work=1 << 20,
    )
    executor, _ = _executor(60, wide)
    huge = TraderDef("huge", " and ".join(f"close > {k}" for k in range(2000)), "5m")
    assert executor.set_traders([*BASE, huge]) == {}
    assert executor.set_traders([*BASE, huge, TraderDef("x", "close > open", "5m")]) == {}
    assert set(executor.traders) == {"ok", "huge", "x"}


def test_staging_leaves_the_running_executor_untouched() -> None:
    executor, _ = _executor()
    states = dict(executor.states)
    mem = executor.states["5m"].mem.copy()
    staged = executor.stage([*BASE, TraderDef("new", "close > ema(close, 30)", "5m")])
    assert staged.errors == {}
    assert executor.states == states
    assert list(executor.traders) == ["ok"]
    np.testing.assert_array_equal(executor.states["5m"].mem, mem)
    executor.install(staged)
    assert list(executor.traders) == ["ok", "new"]
    assert executor.states["5m"] is staged.states["5m"]


@pytest.mark.parametrize("change", ["screen", "ring write", "symbol removed"])
def test_a_stale_stage_is_refused_and_changes_nothing(change: str) -> None:
    executor, rings = _executor()
    staged = executor.stage([*BASE, TraderDef("new", "close > ema(close, 30)", "5m")])
    if change == "screen":
        _append(rings, 300)
        executor.advance("5m")
    elif change == "ring write":
        _append(rings, 300)
    else:
        rings["5m"].remove_symbol(SYMBOLS[0])
        executor.remove_symbol("5m", 0)
    program = executor.program
    with pytest.raises(StaleStage):
        executor.install(staged)
    assert executor.program is program
    assert list(executor.traders) == ["ok"]
    fresh = executor.stage([*BASE, TraderDef("new", "close > ema(close, 30)", "5m")])
    executor.install(fresh)
    assert list(executor.traders) == ["ok", "new"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(VALID),
            st.lists(
                st.tuples(st.integers(0, 200), st.sampled_from([*TOKENS, "", "("])), max_size=3
            ),
            st.sampled_from(["1m", "5m", "1h", "4h"]),
        ),
        max_size=4,
    )
)
def test_any_trader_set_installs_or_is_refused_per_trader(
    traders: list[tuple[str, list[tuple[int, str]], str]],
) -> None:
    """Whatever the traders contain, a change installs the good ones and reports the others."""
    executor, _ = _executor(80)
    defs = [*BASE]
    for i, (source, edits, timeframe) in enumerate(traders):
        for at, insert in edits:
            at %= len(source) + 1
            source = source[:at] + insert + source[at:]
        defs.append(TraderDef(f"t{i}", source, timeframe))
    errors = executor.set_traders(defs)
    assert set(errors) | set(executor.traders) == {d.id for d in defs}
    assert "ok" in executor.traders
    result = executor.advance("5m")
    assert set(result.traders) <= set(executor.traders)
