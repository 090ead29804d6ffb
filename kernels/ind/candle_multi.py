"""TA-Lib's patterns of four and five candles (breakaway, ladder bottom, mat hold, rising and
falling three methods, ...), transcribed from TA-Lib's C with the conventions
:mod:`kernels.ind.candle_patterns` states."""

from __future__ import annotations

from kernels.ind.candle_code import (
    BODY_LONG,
    BODY_SHORT,
    NEAR,
    SHADOW_VERY_SHORT,
    Pattern,
    avg,
    black,
    body,
    c,
    color,
    gap_down,
    gap_up,
    h,
    lo,
    lower,
    maximum,
    minimum,
    o,
    penetration,
    upper,
    when,
    white,
)


def _three_line_strike() -> Pattern:
    cond = (
        color(3).eq(color(2))
        & color(2).eq(color(1))
        & color(0).eq(-color(1))
        & (o(2) >= minimum(o(3), c(3)) - avg(NEAR, 3))
        & (o(2) <= maximum(o(3), c(3)) + avg(NEAR, 3))
        & (o(1) >= minimum(o(2), c(2)) - avg(NEAR, 2))
        & (o(1) <= maximum(o(2), c(2)) + avg(NEAR, 2))
        & (
            (white(1) & (c(1) > c(2)) & (c(2) > c(3)) & (o(0) > c(1)) & (c(0) < o(3)))
            | (black(1) & (c(1) < c(2)) & (c(2) < c(3)) & (o(0) < c(1)) & (c(0) > o(3)))
        )
    )
    return Pattern("CDL3LINESTRIKE", "Three-Line Strike", 8, when(cond, color(1) * 100))


def _breakaway() -> Pattern:
    cond = (
        color(4).eq(color(3))
        & color(3).eq(color(1))
        & color(1).eq(-color(0))
        & (body(4) > avg(BODY_LONG, 4))
        & (
            (
                black(4)
                & gap_down(3, 4)
                & (h(2) < h(3))
                & (lo(2) < lo(3))
                & (h(1) < h(2))
                & (lo(1) < lo(2))
                & (c(0) > o(3))
                & (c(0) < c(4))
            )
            | (
                white(4)
                & gap_up(3, 4)
                & (h(2) > h(3))
                & (lo(2) > lo(3))
                & (h(1) > h(2))
                & (lo(1) > lo(2))
                & (c(0) < o(3))
                & (c(0) > c(4))
            )
        )
    )
    return Pattern("CDLBREAKAWAY", "Breakaway", 14, when(cond, color(0) * 100))


def _conceal_baby_swallow() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (
        black(3)
        & black(2)
        & black(1)
        & black(0)
        & (lower(3) < avg(svs, 3))
        & (upper(3) < avg(svs, 3))
        & (lower(2) < avg(svs, 2))
        & (upper(2) < avg(svs, 2))
        & gap_down(1, 2)
        & (upper(1) > avg(svs, 1))
        & (h(1) > c(2))
        & (h(0) > h(1))
        & (lo(0) < lo(1))
    )
    return Pattern("CDLCONCEALBABYSWALL", "Concealing Baby Swallow", 13, when(cond, 100))


def _ladder_bottom() -> Pattern:
    cond = (
        black(4)
        & black(3)
        & black(2)
        & (o(4) > o(3))
        & (o(3) > o(2))
        & (c(4) > c(3))
        & (c(3) > c(2))
        & black(1)
        & (upper(1) > avg(SHADOW_VERY_SHORT, 1))
        & white(0)
        & (o(0) > o(1))
        & (c(0) > h(1))
    )
    return Pattern("CDLLADDERBOTTOM", "Ladder Bottom", 14, when(cond, 100))


def _mat_hold() -> Pattern:
    pen = penetration()
    cond = (
        white(4)
        & black(3)
        & white(0)
        & gap_up(3, 4)
        & (minimum(o(2), c(2)) < c(4))
        & (minimum(o(1), c(1)) < c(4))
        & (minimum(o(2), c(2)) > c(4) - body(4) * pen)
        & (minimum(o(1), c(1)) > c(4) - body(4) * pen)
        & (maximum(c(2), o(2)) < o(3))
        & (maximum(c(1), o(1)) < maximum(c(2), o(2)))
        & (o(0) > c(1))
        & (c(0) > maximum(maximum(h(3), h(2)), h(1)))
        & (body(4) > avg(BODY_LONG, 4))
        & (body(3) < avg(BODY_SHORT, 3))
        & (body(2) < avg(BODY_SHORT, 2))
        & (body(1) < avg(BODY_SHORT, 1))
    )
    return Pattern("CDLMATHOLD", "Mat Hold", 14, when(cond, 100), penetration=0.5)


def _rise_fall_three_methods() -> Pattern:
    k = color(4)
    cond = (
        color(4).eq(-color(3))
        & color(3).eq(color(2))
        & color(2).eq(color(1))
        & color(1).eq(-color(0))
        & (minimum(o(3), c(3)) < h(4))
        & (maximum(o(3), c(3)) > lo(4))
        & (minimum(o(2), c(2)) < h(4))
        & (maximum(o(2), c(2)) > lo(4))
        & (minimum(o(1), c(1)) < h(4))
        & (maximum(o(1), c(1)) > lo(4))
        & (c(2) * k < c(3) * k)
        & (c(1) * k < c(2) * k)
        & (o(0) * k > c(1) * k)
        & (c(0) * k > c(4) * k)
        & (body(4) > avg(BODY_LONG, 4))
        & (body(3) < avg(BODY_SHORT, 3))
        & (body(2) < avg(BODY_SHORT, 2))
        & (body(1) < avg(BODY_SHORT, 1))
        & (body(0) > avg(BODY_LONG, 0))
    )
    return Pattern("CDLRISEFALL3METHODS", "Rising/Falling Three Methods", 14, when(cond, 100 * k))
