"""Hypothesis: whatever the text, checking ends in a result or a CompileError; spans are sane;
compiling stays within budget and error reports stay bounded."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.footprint import footprint
from kernels.lang import BUDGET, CompileError, ast, check
from kernels.lang.catalog import ALIASES, FUNCTIONS, KEYWORDS, SERIES, TICKER_FIELDS
from kernels.lang.errors import MAX_SHOWN, SourceMap, Span
from kernels.lang.parser import PYTHON_KEYWORDS
from kernels.lang.tokens import OPERATORS, UNSUPPORTED
from kernels.program import Program, TraderDef

FIELDS = sorted({f for s in FUNCTIONS.values() for f in (*(s.outputs or ()), *s.field_aliases)})
WORDS = sorted(
    {*SERIES, *TICKER_FIELDS, *FUNCTIONS, *ALIASES, *KEYWORDS, *PYTHON_KEYWORDS, *FIELDS}
    | {"on", "__import__", "x", "True", "None", "src", "timeperiod", "nbdev", "length"}
)
LITERALS = ["0", "1", "2", "14", "2.5", "1e3", "1001", ".5", "1.", '"1h"', '"5m"', "'4h'", '"x"']
TOKENS = [*OPERATORS, *UNSUPPORTED, *WORDS, *LITERALS, "# note\n"]
SEPARATORS = st.sampled_from(["", " ", "\n", "\t", "  "])

VALID = [
    "rsi(14) < 30 and crosses_above(close, ema(close, 50))",
    'volume > 2 * sma(volume, 20) and on("1h", close > ema(close, 200)) and change_24h > 3',
    "macd(12, 26, 9).hist > 0 or bbands(20, 2).lower > close[1]",
    "30 < stochrsi(14, 5, 3).fastk < 70 and not falling(obv(), 3)",
]


def assert_span_in(span: Span, source: str) -> None:
    assert 0 <= span.start <= span.end <= len(source)
    smap = SourceMap(source)
    assert smap.span(span.start, span.end) == span


def check_error(error: CompileError, source: str) -> None:
    assert error.diagnostics
    for diagnostic in error.diagnostics:
        assert_span_in(diagnostic.span, source)
    shown = min(len(error.diagnostics), MAX_SHOWN)
    more = len(error.diagnostics) > MAX_SHOWN
    assert error.format(source).count("\n") == 3 * shown - 1 + more


def check_anything(source: str) -> None:
    """Check ``source``; any outcome but a CompileError or a result fails the test."""
    try:
        checked = check(source, require_bool=False)
    except CompileError as error:
        check_error(error, source)
        return
    for node in ast.walk(checked.expr):
        assert_span_in(node.span, source)
        assert node.span.end > node.span.start
    assert check(checked.normalized, require_bool=False).expr == checked.expr


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text(source: str) -> None:
    check_anything(source)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TOKENS), SEPARATORS), max_size=40))
def test_token_soup(parts: list[tuple[str, str]]) -> None:
    check_anything("".join(token + sep for token, sep in parts))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 3), st.sampled_from([*TOKENS, "", "(", ")"])),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_filters(source: str, edits: list[tuple[int, int, str]]) -> None:
    for at, cut, insert in edits:
        at = at % (len(source) + 1)
        source = source[:at] + insert + source[at + cut :]
    check_anything(source)


@settings(deadline=None)
@given(st.sampled_from(VALID), st.integers(0, 150))
def test_every_prefix_of_a_valid_filter(source: str, cut: int) -> None:
    check_anything(source[:cut])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([*TOKENS, *VALID]), SEPARATORS), max_size=600),
    st.sampled_from(["1m", "5m", "1h"]),
)
def test_any_text_compiles_within_budget_or_gives_a_bounded_report(
    parts: list[tuple[str, str]], timeframe: str
) -> None:
    """Up to ~8 KB of anything: a plan within every limit of the budget, or a CompileError
    whose report is a few KB; never another exception."""
    source = "".join(token + sep for token, sep in parts)
    program = Program(timeframes={"1m", "5m", "1h", "4h"})
    error: CompileError | None = None
    try:
        program.add(TraderDef("t", source, timeframe))
    except CompileError as exc:
        error = exc
    if error is not None:
        check_error(error, source)
        assert len(error.format(source)) <= 16 * 1024
        return
    size = footprint(program.graphs)
    assert size.nodes <= BUDGET.max_nodes
    assert size.work <= BUDGET.max_work
    assert size.width <= BUDGET.max_width
    assert max(size.warmup.values()) <= BUDGET.max_warmup
