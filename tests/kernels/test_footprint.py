"""The plan's part of the filter budget: nodes, work, width and warm-up, per filter and per user,
checked while lowering and reported where the plan goes over (issue 12, findings 1, 4 and 5)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import attrs
import pytest

from benchmarks.workload import FILTERS
from kernels import ops
from kernels.footprint import footprint
from kernels.graph import Graph
from kernels.lang import BUDGET, Budget, CompileError
from kernels.program import Program, TraderDef, build

EXAMPLES = Path(__file__).resolve().parents[2] / "vyx" / "examples" / "traders.toml"

#: A budget no filter of these tests reaches: what is left is the structure of the plan.
UNLIMITED = Budget(
    max_chars=1 << 20,
    max_nodes=1 << 30,
    max_work=1 << 30,
    max_width=1 << 30,
    max_user_nodes=1 << 30,
    max_user_work=1 << 30,
    max_user_width=1 << 30,
)


def rejected(source: str, timeframe: str = "5m", budget: Budget = BUDGET) -> CompileError:
    with pytest.raises(CompileError) as info:
        Program(budget=budget).add(TraderDef("t", source, timeframe))
    return info.value


def real_filters() -> list[tuple[str, str]]:
    examples = tomllib.loads(EXAMPLES.read_text())["traders"]
    return [(t["filter"], t["timeframe"]) for t in examples] + FILTERS


@pytest.mark.parametrize(("source", "timeframe"), real_filters())
def test_real_filters_use_a_small_part_of_the_budget(source: str, timeframe: str) -> None:
    program = Program([TraderDef("t", source, timeframe)])
    size = footprint(program.graphs)
    assert size.nodes <= BUDGET.max_nodes // 4
    assert size.work <= BUDGET.max_work // 2
    assert size.width <= BUDGET.max_width // 4
    assert max(size.warmup.values()) <= BUDGET.max_warmup // 4


def test_all_real_filters_together_are_far_within_the_user_budget() -> None:
    filters = real_filters()
    program, errors = build(TraderDef(f"t{i}", s, tf) for i, (s, tf) in enumerate(filters))
    assert errors == {}
    size = footprint(program.graphs)
    assert size.nodes <= BUDGET.max_user_nodes // 10
    assert size.work <= BUDGET.max_user_work // 10
    assert size.width <= BUDGET.max_user_width // 10


CLAUSES = " and ".join(f"close > {k}" for k in range(150))


@pytest.mark.parametrize(
    ("source", "col", "message"),
    [
        # Issue 12, finding 5: warming up forever.
        (
            "tema(tema(tema(close, 1000), 1000), 1000) > 0",
            11,
            "filter needs too much history (11998 bars of 5m > 4000)",
        ),
        ("close > 1 and rsi(1000) > 50", 15, "filter needs too much history (6001 bars"),
        (
            'close > 1 and on("1h", ema(ema(close, 900), 900) > 0)',
            24,
            "filter needs too much history (7199 bars of 1h > 4000)",
        ),
        # close, then a constant and a comparison per clause: clause 79 makes it 161.
        (
            CLAUSES,
            CLAUSES.index("close > 79 ") + 1,
            f"filter too large (161 plan nodes > {BUDGET.max_nodes})",
        ),
        (
            "close > 1 and cci(100) > 0",
            15,
            f"filter too slow to step (211 units of work per bar > {BUDGET.max_work})",
        ),
        (
            " and ".join(f"(close + {k})[1000] > 0" for k in range(8)),
            131,
            "filter too wide (6162 floats of state per symbol > 6144)",
        ),
    ],
)
def test_a_filter_over_budget_is_an_error_where_it_goes_over(
    source: str, col: int, message: str
) -> None:
    (diagnostic,) = rejected(source).diagnostics
    assert diagnostic.message.startswith(message), diagnostic.message
    assert diagnostic.span.col == col


def test_the_reported_sma_clauses_are_refused_at_any_length() -> None:
    # Issue 12, finding 5: 359 clauses of sma(close + k, 1000) blocked the loop for 9 s.
    source = " and ".join(f"sma(close+{k},1000)>0" for k in range(359))
    assert "filter too long" in str(rejected(source))
    assert "filter too wide" in str(rejected(source[:4000].rsplit(" and ", 1)[0]))


def test_the_reported_nested_zscore_compiles_in_linear_time_and_size() -> None:
    # Issue 12, finding 1: signatures were nested tuples, hashed exponentially in the depth.
    source = "zscore(" * 18 + "close" + ")" * 18 + " > 0"
    program = Program([TraderDef("t", source, "5m")])
    sigs = program.signatures("5m")
    assert len(sigs) == len(program.graphs["5m"]) < 100
    assert {len(s) for s in sigs} == {16}
    assert len(set(sigs)) == len(sigs)
    deeper = "zscore(" * 40 + "close" + ")" * 40 + " > 0"
    assert "filter too slow to step" in str(rejected(deeper))
    assert len(Program([TraderDef("t", deeper, "5m")], budget=UNLIMITED).signatures("5m")) < 250


def _longest_path(graph: Graph) -> int:
    depth = [0] * len(graph)
    for j, key in enumerate(graph.nodes):
        depth[j] = 1 + max((depth[i] for i in key.inputs), default=0)
    return max(depth)


def test_5000_clauses_lower_to_a_shallow_plan_without_recursion() -> None:
    # Issue 12, finding 4: 497 clauses made one AND chain, and the next change recursed over it.
    source = " and ".join(f"close > {k}" for k in range(5000))
    chain = "close > " + " < ".join(str(k) for k in range(1000))
    program = Program([TraderDef("a", source, "5m"), TraderDef("b", chain, "5m")], budget=UNLIMITED)
    graph = program.graphs["5m"]
    assert sum(1 for k in graph.nodes if k.op == ops.AND) == 4999 + 999
    assert _longest_path(graph) <= 16
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # well below the depth of the old chains
    try:
        sigs = program.signatures("5m")
    finally:
        sys.setrecursionlimit(limit)
    assert len(set(sigs)) == len(graph)
    assert "filter too long" in str(rejected(source))
    assert "filter too large" in str(
        rejected(source, budget=attrs.evolve(BUDGET, max_chars=1 << 20))
    )


def test_signatures_are_stable_across_rebuilds_and_orders() -> None:
    a = TraderDef("a", "rsi(14) < 30 and close > ema(close, 50)", "5m")
    b = TraderDef("b", 'on("1h", close > sma(close, 20)) and ema(50) < close', "5m")
    one, other = Program([a, b]), Program([b, a])
    for tf in ("5m", "1h"):
        by_key = dict(zip(one.graphs[tf].nodes, one.signatures(tf), strict=True))
        assert set(one.signatures(tf)) == set(other.signatures(tf))
        assert len(by_key) == len(set(by_key.values()))
    lone = Program([b])
    assert set(lone.signatures("1h")) <= set(one.signatures("1h"))


def test_the_user_budget_refuses_a_trader_and_leaves_the_program_as_it_was() -> None:
    budget = attrs.evolve(BUDGET, max_user_nodes=40)
    program = Program(budget=budget)
    program.add(TraderDef("a", "rsi(14) < 30 and close > ema(close, 50)", "5m"))
    before = {tf: (list(g.nodes), g.width, g.work) for tf, g in program.graphs.items()}
    sigs = program.signatures("5m")
    big = 'on("1h", close > sma(close, 200)) and ' + " and ".join(f"close > {k}" for k in range(30))
    with pytest.raises(CompileError, match=r"traders too large \(41 plan nodes > 40\)"):
        program.add(TraderDef("b", big, "5m"))
    assert {tf: (list(g.nodes), g.width, g.work) for tf, g in program.graphs.items()} == before
    assert program.signatures("5m") == sigs
    assert list(program.traders) == ["a"]
    program.add(TraderDef("c", "close > sma(close, 20)", "5m"))
    assert list(program.traders) == ["a", "c"]
    program_b, errors = build(
        [TraderDef("a", "close > 1", "5m"), TraderDef("w", "close[300] > close", "5m")],
        budget=attrs.evolve(BUDGET, max_user_width=300),
    )
    assert "traders too wide" in str(errors["w"])
    assert list(program_b.traders) == ["a"]


@pytest.mark.parametrize(
    ("trader", "fragment"),
    [
        (TraderDef("t", "close > 1", "7m"), "unknown timeframe '7m'"),
        (TraderDef("t", None, "5m"), "a filter is text, found NoneType"),  # type: ignore[arg-type]
        (TraderDef("t", 'on("4h", close > 1)', "5m"), "timeframe '4h' is not streamed here"),
        (TraderDef("t", "close > 1", "15m"), "trader's timeframe '15m' is not streamed"),
    ],
)
def test_anything_wrong_with_a_trader_is_a_compile_error(trader: TraderDef, fragment: str) -> None:
    program = Program(timeframes={"5m", "1h"})
    with pytest.raises(CompileError, match=fragment):
        program.add(trader)
    _, errors = build([trader, TraderDef("ok", "close > 1", "5m")], timeframes={"5m"})
    assert list(errors) == ["t"]
