"""Plans: every catalog function lowers; traders share nodes; warm-ups; eval == live."""

from __future__ import annotations

import copy

import attrs
import numpy as np
import pytest

from benchmarks.workload import traders
from kernels.backtest import evaluate
from kernels.compositions import lowered_names
from kernels.group import GroupState
from kernels.lang import CompileError
from kernels.lang.catalog import FUNCTIONS
from kernels.program import Program, TraderDef, build, compile_trader
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import aggregate, random_klines


def test_every_catalog_function_has_a_lowering() -> None:
    assert set(FUNCTIONS) == set(lowered_names())


def test_common_subexpressions_are_computed_once_across_traders() -> None:
    one = Program([TraderDef("a", "rsi(14) < 30 and close > ema(close, 50)", "5m")])
    both = Program(
        [
            TraderDef("a", "rsi(14) < 30 and close > ema(close, 50)", "5m"),
            TraderDef("b", "rsi(close, 14) > 70 and ema(50) < close", "5m"),
        ]
    )
    shared = {k for k in both.graphs["5m"].nodes if k.op in (31, 40)}  # EMA, RSI
    assert len(shared) == 2, "rsi(14) and ema(close, 50) appear once for both traders"
    # The second trader adds only its own comparisons, not another RSI or EMA.
    assert len(both.graphs["5m"]) - len(one.graphs["5m"]) <= 5


def test_multi_timeframe_traders_get_a_graph_per_timeframe_and_a_warmup_for_each() -> None:
    program = Program([TraderDef("m", 'close > sma(close, 20) and on("1h", rsi(14) > 50)', "5m")])
    assert program.timeframes == ("1h", "5m")
    needs = program.warmup("m", program.layouts())
    assert needs["5m"] == 20
    assert needs["1h"] > 14


def test_a_compiled_trader_is_linked_as_it_would_compile_with_its_warmup() -> None:
    """One compile travels with a trader: its warm-up is the linked plan's, and linking it
    gives the plan compiling it there gives."""
    defs = traders(20)
    linked = Program([compile_trader(t) for t in defs])
    rebuilt = Program(defs)
    layouts = linked.layouts()
    for t in defs:
        assert compile_trader(t).warmup == linked.warmup(t.id, layouts)
        assert linked.traders[t.id].root == rebuilt.traders[t.id].root
    assert linked.signatures("5m") == rebuilt.signatures("5m")


def test_a_compiled_trader_reading_a_timeframe_not_streamed_gets_the_checkers_error() -> None:
    trader = TraderDef("m", 'close > open and on("4h", close > open)', "5m")
    compiled = compile_trader(trader)  # compiled where nothing is known of streams
    errors = [build([t], timeframes={"5m"})[1]["m"] for t in (trader, compiled)]
    assert errors[0].diagnostics == errors[1].diagnostics
    assert "timeframe '4h' is not streamed here" in str(errors[1])


def _linked_alike(a: Program, b: Program) -> bool:
    """The same graphs (every node, ring, pin, warm-up and rollback log), ext slots and plans."""
    graphs = {tf: vars(g) for tf, g in a.graphs.items()} == {
        tf: vars(g) for tf, g in b.graphs.items()
    }
    exts = {tf: vars(e) for tf, e in a.exts.items()} == {tf: vars(e) for tf, e in b.exts.items()}
    return graphs and exts and list(a.traders.items()) == list(b.traders.items())


def test_a_build_on_a_running_program_links_as_a_build_from_nothing() -> None:
    """Traders the running program linked first, in order, are copied from it: appended,
    edited, removed, reordered, duplicated or failing traders give the program a build from
    nothing gives; the running program is left as it was."""
    defs = traders(20)
    compiled = [compile_trader(t) for t in defs]
    running, _ = build(compiled, timeframes={"5m", "1h"})
    before = {tf: copy.deepcopy(vars(g)) for tf, g in running.graphs.items()}
    edge = TraderDef("edge", 'on("1h", close > 3) and close > 1 and rsi(14) > 20', "5m")
    bad = TraderDef("bad", "rsi(14) <", "5m")
    cases = {
        "appended": ([*compiled, compile_trader(edge)], 20),
        "edited": ([*compiled[:5], compile_trader(edge), *compiled[6:]], 5),
        "removed last": (compiled[:-1], 19),
        "removed first": (compiled[1:], 0),
        "reordered": ([compiled[1], compiled[0], *compiled[2:]], 0),
        "as text": ([*compiled[:3], defs[3], *compiled[4:]], 3),
        "renamed": ([*compiled[:2], compiled[2].of(attrs.evolve(defs[2], name="x"))], 2),
        "duplicate and failing": ([*compiled[:4], bad, compiled[0], edge], 4),
    }
    for name, (wanted, kept) in cases.items():
        fresh, errors = build(wanted, timeframes={"5m", "1h"})
        reused, reused_errors = build(wanted, timeframes={"5m", "1h"}, base=running)
        assert _linked_alike(fresh, reused), name
        assert fresh.signatures("5m") == reused.signatures("5m"), name
        assert errors.keys() == reused_errors.keys(), name
        assert running.linked_prefix(wanted, running.budget, {"5m", "1h"})[1] == kept, name
    assert {tf: vars(g) for tf, g in running.graphs.items()} == before
    # Linked to another budget or other timeframes: nothing is copied.
    assert running.linked_prefix(compiled, running.budget, {"5m"})[1] == 0
    assert running.linked_prefix(compiled, attrs.evolve(running.budget, max_nodes=9), None)[1] == 0


def test_bad_traders_are_reported_not_skipped() -> None:
    program, errors = build([TraderDef("ok", "close > open"), TraderDef("bad", "rsi(14) <", "5m")])
    assert list(program.traders) == ["ok"]
    assert isinstance(errors["bad"], CompileError)
    assert "1:" in errors["bad"].format("rsi(14) <")


@pytest.mark.parametrize(
    "expr",
    [
        "rsi(14)",
        "macd(12, 26, 9).hist",
        "bbands(20, 2).lower",
        "close > ema(close, 20) and volume > sma(volume, 10)",
        'on("1h", ema(close, 10)) - close',
        "change_24h",
        "stoch(14, 3, 3).slowd",
    ],
)
def test_eval_agrees_with_the_live_executor_bit_for_bit(expr: str) -> None:
    five = {"AUSDT": random_klines(3, 900, timeframe_ms("5m"))}
    data = {"5m": five, "1h": {"AUSDT": aggregate(five["AUSDT"], 12)}}
    program = Program()
    program.add(TraderDef("e", expr, "5m"), require_bool=False)
    times, values = evaluate(program, "e", data)["AUSDT"]
    # The same expression stepped bar by bar as the screener does: longer timeframes first,
    # other timeframes' values read at their last closed bar.
    five_k, hour_k = data["5m"]["AUSDT"], data["1h"]["AUSDT"]
    plan = Program()
    plan.add(TraderDef("e", expr, "5m"), require_bool=False)
    root = plan.traders["e"].root
    layouts = plan.layouts()
    states = {tf: GroupState(layouts[tf], 1, len(plan.exts[tf].sources)) for tf in layouts}
    live = []
    hour_i = 0
    for t in range(len(five_k)):
        close = int(five_k.open_time[t]) + timeframe_ms("5m")
        while (
            "1h" in states
            and hour_i < len(hour_k)
            and int(hour_k.open_time[hour_i]) + timeframe_ms("1h") <= close
        ):
            states["1h"].run(hour_k.bars[None, hour_i : hour_i + 1])
            hour_i += 1
        ext = np.full((1, 1, max(1, len(plan.exts["5m"].sources))), np.nan)
        for k, (tf, node) in enumerate(plan.exts["5m"].sources):
            ext[0, 0, k] = states[tf].value(node)[0]
        out = states["5m"].run(five_k.bars[None, t : t + 1], ext=ext, out_nodes=np.array([root]))
        live.append(out[0, 0, 0])
    live_arr = np.array(live)
    warm = ~np.isnan(values)
    assert warm.any()
    np.testing.assert_array_equal(values[warm], live_arr[warm])
    assert times.tolist() == five_k.open_time.tolist()
