"""The check every draft passes: the compiler's problems, timeframes allowed, clause notes."""

from __future__ import annotations

from hypothesis import given, settings

from kernels.lang import ast, check, to_source
from tests.kernels.lang.test_roundtrip import bools
from vyx.authoring.draft import Draft, Problem, Proposal, check_proposal, clause_lines


def test_a_proposal_that_compiles_becomes_a_draft_with_its_warmup() -> None:
    draft = check_proposal(
        Proposal("Dip", "5m", "rsi(close, 14) < 30 and on('1h', close > ema(close, 50))")
    )
    assert isinstance(draft, Draft)
    assert draft.filter == 'rsi(14) < 30\nand on("1h", close > ema(50))'
    assert draft.normalized == check(draft.filter).normalized
    assert draft.timeframes == ("5m", "1h")
    assert draft.warmup["1h"] > 50
    assert draft.warmup["5m"] > 14


def test_every_compiler_diagnostic_is_a_problem_with_its_position() -> None:
    source = "rsi(14) < 30 and\nfoo(3) > clse"
    problems = check_proposal(Proposal("x", "5m", source))
    assert problems == [
        Problem("unknown function 'foo'", 2, 1),
        Problem("unknown name 'clse'; did you mean close?", 2, 10),
    ]
    assert [str(p) for p in problems] == [
        "2:1: unknown function 'foo'",
        "2:10: unknown name 'clse'; did you mean close?",
    ]


def test_timeframes_not_allowed_are_problems_at_the_on_call() -> None:
    allowed = ["5m", "1h"]
    source = 'rsi(14) < 30 and on("4h", close > ema(50)) and on("1h", adx(14) > 20)'
    assert check_proposal(Proposal("x", "5m", source), allowed_timeframes=allowed) == [
        Problem("timeframe '4h' is not available here (one of 5m, 1h)", 1, 18)
    ]
    own = check_proposal(Proposal("x", "15m", "rsi(14) < 30"), allowed_timeframes=allowed)
    assert own == [Problem("timeframe: '15m' is not available here (one of 5m, 1h)")]
    bad = check_proposal(Proposal("x", "7m", "rsi(14) < 30"))
    assert isinstance(bad, list)
    assert bad[0].message.startswith("timeframe: '7m' is not a timeframe")


def test_shape_problems_come_before_compiling() -> None:
    problems = check_proposal(Proposal(" ", "5m", "  "))
    assert problems == [
        Problem("name: a trader needs a name"),
        Problem("filter: empty; write one condition at least"),
    ]
    long = check_proposal(Proposal("x", "5m", "close > 1 and " * 400 + "true"))
    assert long == [Problem("filter: at most 4000 characters")]


def test_explanations_pair_by_canonical_text_then_by_position() -> None:
    source = "rsi(14) < 30 and close > ema(close, 200)"
    by_text = check_proposal(
        Proposal("x", "5m", source, (("close > ema(200)", "uptrend"), ("rsi(close,14)<30", "dip")))
    )
    assert isinstance(by_text, Draft)
    assert [c.explanation for c in by_text.clauses] == ["dip", "uptrend"]
    by_position = check_proposal(Proposal("x", "5m", source, (("a", "one"), ("b", "two"))))
    assert isinstance(by_position, Draft)
    assert [c.explanation for c in by_position.clauses] == ["one", "two"]
    missing = check_proposal(Proposal("x", "5m", source, (("rsi(14) < 30", "dip"),)))
    assert isinstance(missing, Draft)
    assert [c.explanation for c in missing.clauses] == ["dip", None]


@settings(max_examples=200, deadline=None)
@given(bools(2))
def test_clause_lines_mean_the_same_filter(expr: ast.Expr) -> None:
    checked = check(to_source(expr))
    text = clause_lines(checked.expr, [c.label for c in checked.clauses])
    assert check(text).expr == checked.expr, text
