"""TA-Lib's patterns of three candles (two crows, three black crows, three inside and outside,
the stars, hikkake, tasuki gap, ...), transcribed from TA-Lib's C with the
conventions :mod:`kernels.ind.candle_patterns` states."""

from __future__ import annotations

from kernels.ind.candle_code import (
    BODY_DOJI,
    BODY_LONG,
    BODY_SHORT,
    EQUAL,
    FAR,
    HIGH,
    LOW,
    NEAR,
    R0,
    R1,
    R2,
    R3,
    SHADOW_LONG,
    SHADOW_SHORT,
    SHADOW_VERY_SHORT,
    T0,
    T1,
    Pattern,
    avg,
    black,
    body,
    bottom,
    c,
    candle_gap_down,
    candle_gap_up,
    color,
    field_at,
    gap_down,
    gap_up,
    h,
    index,
    lo,
    lower,
    maximum,
    minimum,
    o,
    penetration,
    reg,
    select,
    top,
    upper,
    when,
    white,
)


def _two_crows() -> Pattern:
    cond = (
        white(2)
        & (body(2) > avg(BODY_LONG, 2))
        & black(1)
        & gap_up(1, 2)
        & black(0)
        & (o(0) < o(1))
        & (o(0) > c(1))
        & (c(0) > o(2))
        & (c(0) < c(2))
    )
    return Pattern("CDL2CROWS", "Two Crows", 12, when(cond, -100))


def _three_black_crows() -> Pattern:
    cond = (
        white(3)
        & black(2)
        & black(1)
        & black(0)
        & (o(1) < o(2))
        & (o(1) > c(2))
        & (o(0) < o(1))
        & (o(0) > c(1))
        & (h(3) > c(2))
        & (c(2) > c(1))
        & (c(1) > c(0))
        & (lower(2) < avg(SHADOW_VERY_SHORT, 2))
        & (lower(1) < avg(SHADOW_VERY_SHORT, 1))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
    )
    return Pattern("CDL3BLACKCROWS", "Three Black Crows", 13, when(cond, -100))


def _three_inside() -> Pattern:
    cond = (
        (top(1) < top(2))
        & (bottom(1) > bottom(2))
        & ((white(2) & black(0) & (c(0) < o(2))) | (black(2) & white(0) & (c(0) > o(2))))
        & (body(2) > avg(BODY_LONG, 2))
        & (body(1) <= avg(BODY_SHORT, 1))
    )
    return Pattern("CDL3INSIDE", "Three Inside Up/Down", 12, when(cond, -color(2) * 100))


def _three_outside() -> Pattern:
    cond = (white(1) & black(2) & (c(1) > o(2)) & (o(1) < c(2)) & (c(0) > c(1))) | (
        black(1) & white(2) & (o(1) > c(2)) & (c(1) < o(2)) & (c(0) < c(1))
    )
    return Pattern("CDL3OUTSIDE", "Three Outside Up/Down", 3, when(cond, color(1) * 100))


def _three_stars_in_south() -> Pattern:
    cond = (
        black(2)
        & black(1)
        & black(0)
        & (body(2) > avg(BODY_LONG, 2))
        & (lower(2) > avg(SHADOW_LONG, 2))
        & (body(1) < body(2))
        & (o(1) > c(2))
        & (o(1) <= h(2))
        & (lo(1) < c(2))
        & (lo(1) >= lo(2))
        & (lower(1) > avg(SHADOW_VERY_SHORT, 1))
        & (body(0) < avg(BODY_SHORT, 0))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (lo(0) > lo(1))
        & (h(0) < h(1))
    )
    return Pattern("CDL3STARSINSOUTH", "Three Stars In The South", 12, when(cond, 100))


def _hikkake() -> Pattern:
    # R0: the bar of the last hikkake (TA-Lib's patternIdx), R1: its result (patternResult);
    # T0: a hikkake on this bar, T1: the last one confirmed on this bar.
    inside_then_out = (
        (h(1) < h(2))
        & (lo(1) > lo(2))
        & (((h(0) < h(1)) & (lo(0) < lo(1))) | ((h(0) > h(1)) & (lo(0) > lo(1))))
    )
    pattern, bar, res = reg(T0), reg(R0), reg(R1)
    result = 100 * select(h(0) < h(1), 1, -1)
    confirmed = (
        ~pattern
        & (index() <= bar + 3)
        & (
            ((res > 0) & (c(0) > field_at(HIGH, bar - 1)))
            | ((res < 0) & (c(0) < field_at(LOW, bar - 1)))
        )
    )
    return Pattern(
        "CDLHIKKAKE",
        "Hikkake Pattern",
        5,
        select(pattern, result, when(reg(T1), res + 100 * select(res > 0, 1, -1))),
        sets=(
            (R0, select(pattern, index(), select(reg(T1), 0, bar))),
            (R1, select(pattern, result, res)),
        ),
        pre=3,
        lets=((T0, inside_then_out), (T1, confirmed)),
    )


def _three_white_soldiers() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (
        white(2)
        & (upper(2) < avg(svs, 2))
        & white(1)
        & (upper(1) < avg(svs, 1))
        & white(0)
        & (upper(0) < avg(svs, 0))
        & (c(0) > c(1))
        & (c(1) > c(2))
        & (o(1) > o(2))
        & (o(1) <= c(2) + avg(NEAR, 2))
        & (o(0) > o(1))
        & (o(0) <= c(1) + avg(NEAR, 1))
        & (body(1) > body(2) - avg(FAR, 2))
        & (body(0) > body(1) - avg(FAR, 1))
        & (body(0) > avg(BODY_SHORT, 0))
    )
    return Pattern("CDL3WHITESOLDIERS", "Three Advancing White Soldiers", 12, when(cond, 100))


def _abandoned_baby() -> Pattern:
    pen = penetration()
    cond = (
        (body(2) > avg(BODY_LONG, 2))
        & (body(1) <= avg(BODY_DOJI, 1))
        & (body(0) > avg(BODY_SHORT, 0))
        & (
            (
                white(2)
                & black(0)
                & (c(0) < c(2) - body(2) * pen)
                & candle_gap_up(1, 2)
                & candle_gap_down(0, 1)
            )
            | (
                black(2)
                & white(0)
                & (c(0) > c(2) + body(2) * pen)
                & candle_gap_down(1, 2)
                & candle_gap_up(0, 1)
            )
        )
    )
    return Pattern(
        "CDLABANDONEDBABY", "Abandoned Baby", 12, when(cond, color(0) * 100), penetration=0.3
    )


def _advance_block() -> Pattern:
    cond = (
        white(2)
        & white(1)
        & white(0)
        & (c(0) > c(1))
        & (c(1) > c(2))
        & (o(1) > o(2))
        & (o(1) <= c(2) + avg(NEAR, 2))
        & (o(0) > o(1))
        & (o(0) <= c(1) + avg(NEAR, 1))
        & (body(2) > avg(BODY_LONG, 2))
        & (upper(2) < avg(SHADOW_SHORT, 2))
        & (
            ((body(1) < body(2) - avg(FAR, 2)) & (body(0) < body(1) + avg(NEAR, 1)))
            | (body(0) < body(1) - avg(FAR, 1))
            | (
                (body(0) < body(1))
                & (body(1) < body(2))
                & ((upper(0) > avg(SHADOW_SHORT, 0)) | (upper(1) > avg(SHADOW_SHORT, 1)))
            )
            | ((body(0) < body(1)) & (upper(0) > avg(SHADOW_LONG, 0)))
        )
    )
    return Pattern("CDLADVANCEBLOCK", "Advance Block", 12, when(cond, -100))


def _star(name: str, title: str, doji: bool, bullish: bool) -> Pattern:
    """Evening/morning (doji) star: long body, a star gapping away, a body back into the first."""
    middle = (body(1) <= avg(BODY_DOJI, 1)) if doji else (body(1) <= avg(BODY_SHORT, 1))
    pen = penetration()
    if bullish:
        turn = black(2) & white(0) & gap_down(1, 2) & (c(0) > c(2) + body(2) * pen)
    else:
        turn = white(2) & black(0) & gap_up(1, 2) & (c(0) < c(2) - body(2) * pen)
    cond = turn & (body(2) > avg(BODY_LONG, 2)) & middle & (body(0) > avg(BODY_SHORT, 0))
    return Pattern(name, title, 12, when(cond, 100 if bullish else -100), penetration=0.3)


def _gap_side_side_white() -> Pattern:
    cond = (
        ((gap_up(1, 2) & gap_up(0, 2)) | (gap_down(1, 2) & gap_down(0, 2)))
        & white(1)
        & white(0)
        & (body(0) >= body(1) - avg(NEAR, 1))
        & (body(0) <= body(1) + avg(NEAR, 1))
        & (o(0) >= o(1) - avg(EQUAL, 1))
        & (o(0) <= o(1) + avg(EQUAL, 1))
    )
    return Pattern(
        "CDLGAPSIDESIDEWHITE",
        "Up/Down-gap side-by-side white lines",
        7,
        when(cond, select(gap_up(1, 2), 100, -100)),
    )


def _hikkake_mod() -> Pattern:
    # R0: bars left to confirm (patternCount), R1: patternResult, R2/R3: the 3rd candle's
    # high and low; T0: a pattern on this bar, T1: confirmed on this bar.
    found = (
        (h(2) < h(3))
        & (lo(2) > lo(3))
        & (h(1) < h(2))
        & (lo(1) > lo(2))
        & (
            ((h(0) < h(1)) & (lo(0) < lo(1)) & (c(2) <= lo(2) + avg(NEAR, 2)))
            | ((h(0) > h(1)) & (lo(0) > lo(1)) & (c(2) >= h(2) - avg(NEAR, 2)))
        )
    )
    pattern, count, res = reg(T0), reg(R0), reg(R1)
    result = 100 * select(h(0) < h(1), 1, -1)
    confirmed = (
        ~pattern & (count > 0) & (((res > 0) & (c(0) > reg(R2))) | ((res < 0) & (c(0) < reg(R3))))
    )
    return Pattern(
        "CDLHIKKAKEMOD",
        "Modified Hikkake Pattern",
        10,
        select(pattern, result, when(reg(T1), res + 100 * select(res > 0, 1, -1))),
        sets=(
            (R0, select(pattern, 3, select(reg(T1), 0, maximum(count - 1, 0)))),
            (R1, select(pattern, result, res)),
            (R2, select(pattern, h(1), reg(R2))),
            (R3, select(pattern, lo(1), reg(R3))),
        ),
        pre=3,
        lets=((T0, found), (T1, confirmed)),
    )


def _identical_three_crows() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (
        black(2)
        & (lower(2) < avg(svs, 2))
        & black(1)
        & (lower(1) < avg(svs, 1))
        & black(0)
        & (lower(0) < avg(svs, 0))
        & (c(2) > c(1))
        & (c(1) > c(0))
        & (o(1) <= c(2) + avg(EQUAL, 2))
        & (o(1) >= c(2) - avg(EQUAL, 2))
        & (o(0) <= c(1) + avg(EQUAL, 1))
        & (o(0) >= c(1) - avg(EQUAL, 1))
    )
    return Pattern("CDLIDENTICAL3CROWS", "Identical Three Crows", 12, when(cond, -100))


def _stalled_pattern() -> Pattern:
    cond = (
        white(2)
        & white(1)
        & white(0)
        & (c(0) > c(1))
        & (c(1) > c(2))
        & (body(2) > avg(BODY_LONG, 2))
        & (body(1) > avg(BODY_LONG, 1))
        & (upper(1) < avg(SHADOW_VERY_SHORT, 1))
        & (o(1) > o(2))
        & (o(1) <= c(2) + avg(NEAR, 2))
        & (body(0) < avg(BODY_SHORT, 0))
        & (o(0) >= c(1) - body(0) - avg(NEAR, 1))
    )
    return Pattern("CDLSTALLEDPATTERN", "Stalled Pattern", 12, when(cond, -100))


def _stick_sandwich() -> Pattern:
    cond = (
        black(2)
        & white(1)
        & black(0)
        & (lo(1) > c(2))
        & (c(0) <= c(2) + avg(EQUAL, 2))
        & (c(0) >= c(2) - avg(EQUAL, 2))
    )
    return Pattern("CDLSTICKSANDWICH", "Stick Sandwich", 7, when(cond, 100))


def _tasuki_gap() -> Pattern:
    gap = body(1) - body(0)
    near = maximum(gap, -gap) < avg(NEAR, 1)  # fabs
    cond = (
        gap_up(1, 2)
        & white(1)
        & black(0)
        & (o(0) < c(1))
        & (o(0) > o(1))
        & (c(0) < o(1))
        & (c(0) > maximum(c(2), o(2)))
        & near
    ) | (
        gap_down(1, 2)
        & black(1)
        & white(0)
        & (o(0) < o(1))
        & (o(0) > c(1))
        & (c(0) > o(1))
        & (c(0) < minimum(c(2), o(2)))
        & near
    )
    return Pattern("CDLTASUKIGAP", "Tasuki Gap", 7, when(cond, color(1) * 100))


def _tristar() -> Pattern:
    doji = avg(BODY_DOJI, 2)  # all three against the first doji's average, as in TA-Lib
    three = (body(2) <= doji) & (body(1) <= doji) & (body(0) <= doji)
    bearish = three & gap_up(1, 2) & (maximum(o(0), c(0)) < maximum(o(1), c(1)))
    bullish = three & gap_down(1, 2) & (minimum(o(0), c(0)) > minimum(o(1), c(1)))
    return Pattern("CDLTRISTAR", "Tristar Pattern", 12, select(bullish, 100, when(bearish, -100)))


def _unique_three_river() -> Pattern:
    cond = (
        black(2)
        & black(1)
        & white(0)
        & (c(1) > c(2))
        & (o(1) <= o(2))
        & (lo(1) < lo(2))
        & (o(0) > lo(1))
        & (body(2) > avg(BODY_LONG, 2))
        & (body(0) < avg(BODY_SHORT, 0))
    )
    return Pattern("CDLUNIQUE3RIVER", "Unique 3 River", 12, when(cond, 100))


def _upside_gap_two_crows() -> Pattern:
    cond = (
        white(2)
        & (body(2) > avg(BODY_LONG, 2))
        & black(1)
        & (body(1) <= avg(BODY_SHORT, 1))
        & gap_up(1, 2)
        & black(0)
        & (o(0) > o(1))
        & (c(0) < c(1))
        & (c(0) > c(2))
    )
    return Pattern("CDLUPSIDEGAP2CROWS", "Upside Gap Two Crows", 12, when(cond, -100))


def _xside_gap_three_methods() -> Pattern:
    cond = (
        color(2).eq(color(1))
        & color(1).eq(-color(0))
        & (o(0) < maximum(c(1), o(1)))
        & (o(0) > minimum(c(1), o(1)))
        & (c(0) < maximum(c(2), o(2)))
        & (c(0) > minimum(c(2), o(2)))
        & ((white(2) & gap_up(1, 2)) | (black(2) & gap_down(1, 2)))
    )
    return Pattern(
        "CDLXSIDEGAP3METHODS",
        "Upside/Downside Gap Three Methods",
        2,
        when(cond, color(2) * 100),
    )
