"""Column mode (backtests, ``vyx eval``) against the live interpreter, bit for bit; the threads
split; the lazy Fires sequence."""

from __future__ import annotations

import collections
import threading

import numpy as np
import pytest

from kernels import backtest as backtest_module
from kernels import columns as columns_module
from kernels import ops
from kernels import step_job as step_job_module
from kernels.backtest import run_backtest
from kernels.columns import BLOCK, run_columns
from kernels.executor import Executor
from kernels.group import GroupState
from kernels.interp import outputs
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from kernels.threads import TakeFn, share
from kernels.timeframes import timeframe_ms
from kernels.warmup import filters
from tests.kernels.synthetic import random_klines

N_BARS = 2 * BLOCK + 77  # several blocks and a partial one


def _bars(n_sym: int, seed: int) -> np.ndarray:
    """Random bars with holes: a symbol starting late, missing bars, a NaN field."""
    bars = np.stack(
        [random_klines(seed + i, N_BARS, timeframe_ms("5m")).bars for i in range(n_sym)]
    )
    rng = np.random.default_rng(seed)
    bars[0, :40] = np.nan  # starts late
    for s in range(n_sym):
        bars[s, rng.choice(N_BARS, 12, replace=False)] = np.nan  # no bar at those steps
    bars[1, 150:153, ops.CLOSE] = np.nan  # a bar whose close is NaN resets the kernels
    return np.ascontiguousarray(bars)


@pytest.mark.parametrize("threads", [1, 2])
def test_column_mode_equals_stepping_bar_by_bar_for_every_opcode(threads: int) -> None:
    program = Program()
    for i, text in enumerate(filters()):
        if "on(" not in text:  # one timeframe; other timeframes' values come as ``ext`` below
            program.add(TraderDef(f"t{i}", text, "5m"))
    lay = program.layouts()["5m"]
    assert {int(o) for o in lay.op} >= set(range(ops.ADD, ops.FALLING + 1)) | {ops.ADX, ops.MFI}
    bars = _bars(5, seed=3)
    ext = np.random.default_rng(1).normal(size=(5, N_BARS, 1))
    nodes = np.arange(lay.n_nodes)
    live = GroupState(lay, 5, 1)
    want = np.concatenate(
        [
            live.run(bars[:, t : t + 1], ext=ext[:, t : t + 1], out_nodes=nodes)
            for t in range(N_BARS)
        ],
        axis=1,
    )
    got = run_columns(lay, bars, ext, outputs(nodes), threads=threads)
    assert np.array_equal(got, want, equal_nan=True)


def test_a_gated_column_holds_its_value_where_the_gate_holds() -> None:
    program = Program([TraderDef("a", "close > sma(close, 5) and rsi(14) < 60", "5m")])
    lay = program.layouts()["5m"]
    plan = program.traders["a"]
    root, clause = plan.root, plan.clauses[1].node
    bars = _bars(2, seed=5)
    ext = np.zeros((2, N_BARS, 1))
    dense = run_columns(lay, bars, ext, outputs([root, clause]))
    gated = run_columns(lay, bars, ext, outputs([root, clause], [-1, 0]))
    held = gated[:, :, 0] == 1.0
    assert held.any()
    assert (~held).any()
    assert np.array_equal(gated[:, :, 0], dense[:, :, 0], equal_nan=True)
    assert np.array_equal(gated[:, :, 1][held], dense[:, :, 1][held], equal_nan=True)


def test_fires_are_a_lazy_sequence_in_time_then_trader_then_symbol_order() -> None:
    five = {s: random_klines(i, 600, timeframe_ms("5m")) for i, s in enumerate(["BUSDT", "AUSDT"])}
    program = Program([TraderDef("z", "close > open", "5m"), TraderDef("y", "rsi(5) < 50", "5m")])
    found = run_backtest(program, {"5m": five})
    listed = list(found)
    assert len(listed) == len(found) > 100
    keys = [(f.open_time, f.trader_id, f.symbol) for f in listed]
    assert keys == sorted(keys)
    assert found[-1] == listed[-1]
    assert found[-3:] == listed[-3:]
    assert found[5] == listed[5]
    with pytest.raises(IndexError):
        found[len(found)]
    assert found.counts() == dict(collections.Counter((f.trader_id, f.symbol) for f in listed))
    for f in listed:
        if f.trader_id == "z":  # its one clause held, with its operands' values then
            values = f.clauses["close > open"]["values"]
            assert f.matched == ("close > open",)
            assert values["close"] > values["open"]


def test_shared_ranges_run_once_each_and_a_late_helper_leaves_them_to_the_caller() -> None:
    caller = threading.get_ident()
    ranges = [(k, k + 1) for k in range(10)]
    seen: list[tuple[int, int]] = []
    by_caller: list[int] = []
    helper_may_go = threading.Event()

    def run(lo: int, hi: int) -> None:
        if threading.get_ident() == caller:
            by_caller.append(lo)
            if len(by_caller) >= len(ranges) - 1:
                helper_may_go.set()
        else:  # a helper held up (its CPU busy elsewhere) at the first range it took
            assert helper_may_go.wait(timeout=30)
        seen.append((lo, hi))

    def worker(take: TakeFn) -> None:
        for lo, hi in iter(take, None):
            run(lo, hi)

    share(worker, ranges, 2)
    assert sorted(seen) == ranges
    assert len(by_caller) >= len(ranges) - 1


def test_a_screen_is_split_only_when_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    symbols = [f"S{i}USDT" for i in range(40)]
    rings = {"5m": RingBuffer(timeframe_ms("5m"), 300, symbols)}
    for i, s in enumerate(symbols):
        k = random_klines(i, 300, timeframe_ms("5m"))
        for t in range(300):
            rings["5m"].append(rings["5m"].slot(s), int(k.open_time[t]), k.bars[t, :8])
    executor = Executor(rings)
    executor.set_traders([TraderDef("x", "rsi(14) < 30 and close > ema(close, 50)", "5m")])
    k = random_klines(99, 301, timeframe_ms("5m"))
    for s in symbols:
        rings["5m"].append(rings["5m"].slot(s), int(k.open_time[300]), k.bars[300, :8])
    job = executor.prepare("5m")
    assert job.node_steps() == 40 * executor.layouts["5m"].n_nodes
    assert job.threads_worth(2) == 1  # far below MIN_SPLIT_STEPS
    monkeypatch.setattr(step_job_module, "MIN_SPLIT_STEPS", job.node_steps())
    assert job.threads_worth(2) == 2
    twin = GroupState(job.state.layout, job.state.n_slots, job.state.n_ext)
    twin.mem[:], twin.count[:] = job.state.mem, job.state.count
    want = twin.run(job.bars, ext=job.ext, out_nodes=job.out_nodes)
    job.run_split(2)
    assert np.array_equal(job.out, want, equal_nan=True)
    assert np.array_equal(job.state.mem, twin.mem, equal_nan=True)


def test_a_backtest_steps_one_symbol_a_group_when_histories_are_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    five = {s: random_klines(i, 400, timeframe_ms("5m")) for i, s in enumerate("ABCDEF")}
    program = Program([TraderDef("r", "rsi(7) < 45 and close > sma(close, 10)", "5m")])
    want = [(f.open_time, f.symbol, f.clauses) for f in run_backtest(program, {"5m": five})]
    monkeypatch.setattr(columns_module, "BARS_FLOATS", 1)  # a group's bars over it
    assert columns_module._group(400) == 1
    got = [(f.open_time, f.symbol, f.clauses) for f in run_backtest(program, {"5m": five})]
    assert got == want
    assert len(want) > 10


@pytest.mark.parametrize("threads", [1, 2])
def test_fires_past_the_room_of_a_threads_buffer_are_all_kept(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    five = {s: random_klines(i, 300, timeframe_ms("5m")) for i, s in enumerate("ABCDEFGHIJ")}
    program = Program([TraderDef("r", "close > open", "5m"), TraderDef("s", "rsi(5) < 50", "5m")])
    data = {"5m": five}

    def fires() -> list[tuple[str, str, int, float, object]]:
        found = run_backtest(program, data, threads=threads)
        return [(f.trader_id, f.symbol, f.open_time, f.price, f.clauses) for f in found]

    monkeypatch.setattr(backtest_module, "MIN_THREAD_WORK", 0)  # split however small
    want = fires()
    # Room for 3 fires at first: the buffer grows (the group that overflowed stepped again).
    monkeypatch.setattr(columns_module, "FIRE_ROWS", 3)
    assert fires() == want
    assert len(want) > 500


def test_window_extremes_by_block_equal_stepping_bar_by_bar_to_the_bit() -> None:
    # Whole blocks of bars (the windows' block path): prices on a coarse grid (equal highs
    # and lows in a window), signed zeros (the newest of 0.0 and -0.0 is the extreme), a
    # NaN close in the middle of a block, windows shorter and longer than a block.
    filters = [
        "highest((close - open) * 0, 5) == 0 and lowest((close - open) * 0, 3) == 0",
        "willr(14) < -50 and stoch(14, 3, 3).slowk < 50 and stochf(3, 2).fastk > 0",
        "highest(high, 90) > lowest(low, 2) and highest(close, 1) > 0",
        "willr(70) > -50 or stochf(9, 3).fastk > 50",
    ]
    program = Program([TraderDef(f"t{i}", text, "5m") for i, text in enumerate(filters)])
    lay = program.layouts()["5m"]
    bars = np.stack(
        [random_klines(40 + i, 5 * BLOCK + 9, timeframe_ms("5m")).bars for i in range(4)]
    )
    bars[:, :, : ops.CLOSE + 1] = np.round(bars[:, :, : ops.CLOSE + 1] / 2) * 2
    bars[:, :, ops.HIGH] = np.maximum(bars[:, :, ops.HIGH], bars[:, :, ops.CLOSE])
    bars[:, :, ops.LOW] = np.minimum(bars[:, :, ops.LOW], bars[:, :, ops.CLOSE])
    bars[2, 3 * BLOCK + 20, ops.CLOSE] = np.nan
    ext = np.zeros((4, bars.shape[1], 1))
    nodes = np.arange(lay.n_nodes)
    live = GroupState(lay, 4, 1)
    want = np.concatenate(
        [
            live.run(bars[:, t : t + 1], ext=ext[:, t : t + 1], out_nodes=nodes)
            for t in range(bars.shape[1])
        ],
        axis=1,
    )
    got = run_columns(lay, np.ascontiguousarray(bars), ext, outputs(nodes))
    zeros = got[got == 0.0]
    assert np.signbit(zeros).any()
    assert not np.signbit(zeros).all()
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))
    # The state a block leaves is the one stepping bar by bar leaves.
    col = columns_module.column_layout(lay)
    blocks = GroupState(col, 4, 1)
    blocks.mem[:] = columns_module.fresh_row(col)
    blocks.run(np.ascontiguousarray(bars), ext=ext, block=BLOCK)
    for j in range(lay.n_nodes):
        size = lay.ssize[j]
        assert np.array_equal(
            blocks.mem[:, col.soff[j] : col.soff[j] + size],
            live.mem[:, lay.soff[j] : lay.soff[j] + size],
            equal_nan=True,
        )
