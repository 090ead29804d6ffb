"""The language's part of the filter budget: text length and nesting depth, and bounded error
reports whatever the input (issue 12, findings 3 and 4)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from kernels.lang import BUDGET, MAX_RING, MAX_WARMUP, Budget, CompileError, check
from kernels.lang.errors import ELLIPSIS, MAX_MESSAGE, MAX_SHOWN, WINDOW

#: A rendered report is at most this long, whatever the input: MAX_SHOWN diagnostics of a
#: clipped message and two lines of a clipped window, and the "and N more" line.
REPORT_BOUND = MAX_SHOWN * (MAX_MESSAGE + 2 * (WINDOW + 8) + 16) + 32

WIDE = Budget(max_chars=1 << 20)


def errors(source: str, budget: Budget = BUDGET) -> CompileError:
    with pytest.raises(CompileError) as info:
        check(source, budget=budget)
    return info.value


def assert_bounded(error: CompileError, source: str) -> None:
    """The rendered report and ``str()`` are bounded, and each line is a window."""
    report = error.format(source)
    assert len(report) <= REPORT_BOUND
    assert len(str(error)) <= MAX_SHOWN * (MAX_MESSAGE + 16) + 32
    for line in report.splitlines():
        assert len(line) <= max(MAX_MESSAGE + 16, WINDOW + 2 * len(ELLIPSIS) + 4), line[:80]
    shown = min(len(error.diagnostics), MAX_SHOWN)
    hidden = len(error.diagnostics) - shown
    assert report.count("\n") == 3 * shown - 1 + (hidden > 0)
    if hidden:
        assert report.endswith(f"and {hidden} more")
        assert str(error).endswith(f"; and {hidden} more")


def test_the_budget_is_a_frozen_value_with_stated_defaults() -> None:
    assert Budget() == BUDGET
    assert (BUDGET.max_chars, BUDGET.max_depth, BUDGET.max_warmup) == (4096, 64, MAX_WARMUP)
    # The daemon keeps at most MAX_RING bars: the warm-up fits with its 20 % + 20 bar margin.
    assert int(MAX_WARMUP * 1.2) + 20 <= MAX_RING
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        BUDGET.max_chars = 1  # type: ignore[misc]
    assert attrs.evolve(BUDGET, max_nodes=10).max_nodes == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_chars", 0), ("max_depth", 101), ("max_warmup", MAX_RING + 1), ("max_user_work", -1)],
)
def test_a_budget_beyond_what_is_safe_is_refused(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        Budget(**{field: value})


def test_text_over_the_limit_is_one_error_at_the_first_character_past_it() -> None:
    source = "close > 1 and " * 400
    error = errors(source)
    assert [(d.span.line, d.span.col) for d in error.diagnostics] == [(1, 4097)]
    assert str(error) == f"1:4097: filter too long ({len(source)} characters > 4096)"
    assert len(check("close > 1 and " * 280 + "close > 1").clauses) == 281


def test_a_text_of_megabytes_is_refused_from_its_bounded_prefix() -> None:
    """The error points at the first character past the limit, on its own line and column,
    without mapping the rest of the text (20 MB here)."""
    source = "close > 1\n" * 2_000_000
    [diagnostic] = errors(source).diagnostics
    line = source.count("\n", 0, 4096) + 1
    col = 4096 - source.rfind("\n", 0, 4096)
    assert (diagnostic.span.line, diagnostic.span.col) == (line, col)
    assert (diagnostic.span.start, diagnostic.span.end) == (4096, 4097)


@pytest.mark.parametrize(
    "source",
    [
        "(" * 200 + "close" + ")" * 200 + " > 1",
        "-" * 200 + "close > 1",
        "not " * 200 + "true",
        "sma(" * 200 + "close" + ", 5)" * 200 + " > 1",
        "abs(" * 200 + "close" + ")" * 200 + " > 1",
        "close" + "[1]" * 200 + " > 1",
        " + ".join(["close"] * 200) + " > 1",
        "macd(" * 100 + ").hist" * 100 + " > 1",
    ],
)
def test_depth_200_is_a_clean_budget_error(source: str) -> None:
    error = errors(source)
    assert any("too deeply nested (depth 65 > 64)" in d.message for d in error.diagnostics)
    assert_bounded(error, source)


def test_the_depth_error_points_where_the_nesting_goes_too_deep() -> None:
    source = "(" * 70 + "close" + ")" * 70 + " > 1"
    (diagnostic,) = errors(source).diagnostics
    assert (diagnostic.span.col, diagnostic.message) == (
        65,
        "filter too deeply nested (depth 65 > 64)",
    )
    assert check("(" * 60 + "close" + ")" * 60 + " > 1").clauses
    # A smaller budget is checked the same way.
    assert "depth 11 > 10" in str(errors("-" * 12 + "close > 1", Budget(max_depth=10)))


def test_5000_clauses_are_a_clean_error_and_compile_flat_under_a_wide_budget() -> None:
    source = " and ".join(f"close > {k}" for k in range(5000))
    assert "filter too long" in str(errors(source))
    checked = check(source, budget=WIDE)
    assert len(checked.clauses) == 5000


def test_on_of_a_timeframe_not_streamed_is_an_error_at_its_string() -> None:
    source = 'close > 1 and on("4h", close > sma(close, 20))'
    with pytest.raises(CompileError) as info:
        check(source, timeframe="5m", timeframes={"1h", "5m"})
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.span.col, diagnostic.span.end_col) == (18, 22)
    assert diagnostic.message == "timeframe '4h' is not streamed here (streamed: 5m, 1h)"
    assert check(source, timeframe="5m", timeframes={"5m", "4h"}).timeframes == {"5m", "4h"}
    assert check(source).timeframes == {"5m", "4h"}  # unknown streams: not checked


def test_a_trader_timeframe_not_streamed_is_an_error() -> None:
    with pytest.raises(CompileError, match=r"trader's timeframe '15m' is not streamed here"):
        check("close > 1", timeframe="15m", timeframes={"5m"})


def test_the_reported_10_kb_comma_filter_renders_a_few_kb() -> None:
    # Issue 12, finding 3: this 10 KB filter produced a 150 MB reply.
    source = "sma(" + "," * 10000 + ") > 0"
    assert_bounded(errors(source), source)
    error = errors(source, WIDE)
    assert len(error.diagnostics) > 10000
    assert_bounded(error, source)
    assert error.format(source).endswith(f"and {len(error.diagnostics) - MAX_SHOWN} more")


def _shapes(n: int) -> list[str]:
    return [
        "," * n,
        "sma(" + "," * (n - 8) + ") > 0",
        "x" * n,
        "close > " + "9" * (n - 8),
        "1" * (n // 2) + "abc" * (n // 6),
        'on("' + "h" * (n - 20) + '", close > 1)',
        "clse > 1 and " * (n // 13),
        "close >\n" * (n // 8),
        "\t" * (n - 4) + "clse",
        "é" * n,
        "\x00" * n,
        "close > 1 " + "#" * (n - 10),
        "(" * n,
        ")" * n,
        "rsi(14).foo" * (n // 11),
        "_" + "a" * (n - 1) + "(close) > 1",
        "close[" + "9" * (n - 8) + "] > 1",
        "a" * 5000 + " " + "b" * (n - 5001),
    ]


@pytest.mark.parametrize("source", _shapes(64 * 1024))
def test_64_kib_inputs_give_a_bounded_report(source: str) -> None:
    assert_bounded(errors(source), source)


@pytest.mark.parametrize("source", _shapes(16 * 1024))
def test_long_inputs_within_a_wide_budget_still_give_a_bounded_report(source: str) -> None:
    try:
        check(source, budget=Budget(max_chars=16 * 1024))
    except CompileError as error:
        assert_bounded(error, source)


def test_the_readme_states_the_budget() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    b = BUDGET
    rows = [
        f"| text | {b.max_chars:,} characters | — |",
        f"| nesting depth | {b.max_depth} | — |",
        f"| plan nodes | {b.max_nodes:,} | {b.max_user_nodes:,} |",
        f"| work per bar and symbol | {b.max_work:,} | {b.max_user_work:,} |",
        f"| memory per symbol | {b.max_width:,} floats ({b.max_width * 8 // 1024} KiB) | "
        f"{b.max_user_width:,} floats ({b.max_user_width * 8 // 1024} KiB) |",
        f"| warm-up | {b.max_warmup:,} bars on each timeframe it reads | — |",
    ]
    for row in rows:
        assert row in readme, row
