"""TA-Lib's candlestick patterns, transcribed from TA-Lib's C (``ta_func/ta_CDL*.c``) into the
expressions of :mod:`kernels.ind.candle_code`, one :class:`Pattern` each.

Each reads as its C ``if``: ``k`` is "``k`` candles ago" (TA-Lib's ``i - k``), ``avg(S, k)``
is ``TA_CANDLEAVERAGE(S, <S's total for i - k>, i - k)``. The output expression is TA-Lib's
``outInteger``. Lookbacks are TA-Lib's (``TA_CDL*_Lookback``, a test checks them). The
catalog names each ``cdl_`` + the TA-Lib name in lower case (``CDLENGULFING`` ->
``cdl_engulfing``).
"""

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
    SHADOW_VERY_LONG,
    SHADOW_VERY_SHORT,
    T0,
    T1,
    Pattern,
    X,
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
    hl,
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
    white,
)


def _signal(cond: X, value: object) -> X:
    """``cond ? value : 0``."""
    return select(cond, value, 0)


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
    return Pattern("CDL2CROWS", "Two Crows", 12, _signal(cond, -100))


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
    return Pattern("CDL3BLACKCROWS", "Three Black Crows", 13, _signal(cond, -100))


def _three_inside() -> Pattern:
    cond = (
        (top(1) < top(2))
        & (bottom(1) > bottom(2))
        & ((white(2) & black(0) & (c(0) < o(2))) | (black(2) & white(0) & (c(0) > o(2))))
        & (body(2) > avg(BODY_LONG, 2))
        & (body(1) <= avg(BODY_SHORT, 1))
    )
    return Pattern("CDL3INSIDE", "Three Inside Up/Down", 12, _signal(cond, -color(2) * 100))


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
    return Pattern("CDL3LINESTRIKE", "Three-Line Strike", 8, _signal(cond, color(1) * 100))


def _three_outside() -> Pattern:
    cond = (white(1) & black(2) & (c(1) > o(2)) & (o(1) < c(2)) & (c(0) > c(1))) | (
        black(1) & white(2) & (o(1) > c(2)) & (c(1) < o(2)) & (c(0) < c(1))
    )
    return Pattern("CDL3OUTSIDE", "Three Outside Up/Down", 3, _signal(cond, color(1) * 100))


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
    return Pattern("CDL3STARSINSOUTH", "Three Stars In The South", 12, _signal(cond, 100))


def _engulfing() -> Pattern:
    cond = (
        white(0) & black(1) & (((c(0) >= o(1)) & (o(0) < c(1))) | ((c(0) > o(1)) & (o(0) <= c(1))))
    ) | (
        black(0) & white(1) & (((o(0) >= c(1)) & (c(0) < o(1))) | ((o(0) > c(1)) & (c(0) <= o(1))))
    )
    full = o(0).ne(c(1)) & c(0).ne(o(1))
    return Pattern(
        "CDLENGULFING",
        "Engulfing Pattern",
        2,
        _signal(cond, color(0) * select(full, 100, 80)),
    )


def _hammer() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (lower(0) > avg(SHADOW_LONG, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (minimum(c(0), o(0)) <= lo(1) + avg(NEAR, 1))
    )
    return Pattern("CDLHAMMER", "Hammer", 11, _signal(cond, 100))


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
        select(pattern, result, _signal(reg(T1), res + 100 * select(res > 0, 1, -1))),
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
    return Pattern("CDL3WHITESOLDIERS", "Three Advancing White Soldiers", 12, _signal(cond, 100))


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
        "CDLABANDONEDBABY", "Abandoned Baby", 12, _signal(cond, color(0) * 100), penetration=0.3
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
    return Pattern("CDLADVANCEBLOCK", "Advance Block", 12, _signal(cond, -100))


def _belt_hold() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) > avg(BODY_LONG, 0)) & (
        (white(0) & (lower(0) < avg(svs, 0))) | (black(0) & (upper(0) < avg(svs, 0)))
    )
    return Pattern("CDLBELTHOLD", "Belt-hold", 10, _signal(cond, color(0) * 100))


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
    return Pattern("CDLBREAKAWAY", "Breakaway", 14, _signal(cond, color(0) * 100))


def _closing_marubozu() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) > avg(BODY_LONG, 0)) & (
        (white(0) & (upper(0) < avg(svs, 0))) | (black(0) & (lower(0) < avg(svs, 0)))
    )
    return Pattern("CDLCLOSINGMARUBOZU", "Closing Marubozu", 10, _signal(cond, color(0) * 100))


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
    return Pattern("CDLCONCEALBABYSWALL", "Concealing Baby Swallow", 13, _signal(cond, 100))


def _counterattack() -> Pattern:
    cond = (
        color(1).eq(-color(0))
        & (body(1) > avg(BODY_LONG, 1))
        & (body(0) > avg(BODY_LONG, 0))
        & (c(0) <= c(1) + avg(EQUAL, 1))
        & (c(0) >= c(1) - avg(EQUAL, 1))
    )
    return Pattern("CDLCOUNTERATTACK", "Counterattack", 11, _signal(cond, color(0) * 100))


def _dark_cloud_cover() -> Pattern:
    cond = (
        white(1)
        & (body(1) > avg(BODY_LONG, 1))
        & black(0)
        & (o(0) > h(1))
        & (c(0) > o(1))
        & (c(0) < c(1) - body(1) * penetration())
    )
    return Pattern(
        "CDLDARKCLOUDCOVER", "Dark Cloud Cover", 11, _signal(cond, -100), penetration=0.5
    )


def _doji() -> Pattern:
    return Pattern("CDLDOJI", "Doji", 10, _signal(body(0) <= avg(BODY_DOJI, 0), 100))


def _doji_star() -> Pattern:
    cond = (
        (body(1) > avg(BODY_LONG, 1))
        & (body(0) <= avg(BODY_DOJI, 0))
        & ((white(1) & gap_up(0, 1)) | (black(1) & gap_down(0, 1)))
    )
    return Pattern("CDLDOJISTAR", "Doji Star", 11, _signal(cond, -color(1) * 100))


def _dragonfly_doji() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) <= avg(BODY_DOJI, 0)) & (upper(0) < avg(svs, 0)) & (lower(0) > avg(svs, 0))
    return Pattern("CDLDRAGONFLYDOJI", "Dragonfly Doji", 10, _signal(cond, 100))


def _star(name: str, title: str, doji: bool, bullish: bool) -> Pattern:
    """Evening/morning (doji) star: long body, a star gapping away, a body back into the first."""
    middle = (body(1) <= avg(BODY_DOJI, 1)) if doji else (body(1) <= avg(BODY_SHORT, 1))
    pen = penetration()
    if bullish:
        turn = black(2) & white(0) & gap_down(1, 2) & (c(0) > c(2) + body(2) * pen)
    else:
        turn = white(2) & black(0) & gap_up(1, 2) & (c(0) < c(2) - body(2) * pen)
    cond = turn & (body(2) > avg(BODY_LONG, 2)) & middle & (body(0) > avg(BODY_SHORT, 0))
    return Pattern(name, title, 12, _signal(cond, 100 if bullish else -100), penetration=0.3)


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
        _signal(cond, select(gap_up(1, 2), 100, -100)),
    )


def _gravestone_doji() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) <= avg(BODY_DOJI, 0)) & (lower(0) < avg(svs, 0)) & (upper(0) > avg(svs, 0))
    return Pattern("CDLGRAVESTONEDOJI", "Gravestone Doji", 10, _signal(cond, 100))


def _hanging_man() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (lower(0) > avg(SHADOW_LONG, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (minimum(c(0), o(0)) >= h(1) - avg(NEAR, 1))
    )
    return Pattern("CDLHANGINGMAN", "Hanging Man", 11, _signal(cond, -100))


def _harami(name: str, title: str, second: X) -> Pattern:
    """Harami (``second``: a short body) and harami cross (a doji)."""
    first = (body(1) > avg(BODY_LONG, 1)) & second
    inside = (top(0) < top(1)) & (bottom(0) > bottom(1))
    touching = (top(0) <= top(1)) & (bottom(0) >= bottom(1))
    out = select(first & inside, -color(1) * 100, _signal(first & touching, -color(1) * 80))
    return Pattern(name, title, 11, out)


def _high_wave() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) > avg(SHADOW_VERY_LONG, 0))
        & (lower(0) > avg(SHADOW_VERY_LONG, 0))
    )
    return Pattern("CDLHIGHWAVE", "High-Wave Candle", 10, _signal(cond, color(0) * 100))


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
        select(pattern, result, _signal(reg(T1), res + 100 * select(res > 0, 1, -1))),
        sets=(
            (R0, select(pattern, 3, select(reg(T1), 0, maximum(count - 1, 0)))),
            (R1, select(pattern, result, res)),
            (R2, select(pattern, h(1), reg(R2))),
            (R3, select(pattern, lo(1), reg(R3))),
        ),
        pre=3,
        lets=((T0, found), (T1, confirmed)),
    )


def _homing_pigeon() -> Pattern:
    cond = (
        black(1)
        & black(0)
        & (body(1) > avg(BODY_LONG, 1))
        & (body(0) <= avg(BODY_SHORT, 0))
        & (o(0) < o(1))
        & (c(0) > c(1))
    )
    return Pattern("CDLHOMINGPIGEON", "Homing Pigeon", 11, _signal(cond, 100))


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
    return Pattern("CDLIDENTICAL3CROWS", "Identical Three Crows", 12, _signal(cond, -100))


def _in_neck() -> Pattern:
    cond = (
        black(1)
        & (body(1) > avg(BODY_LONG, 1))
        & white(0)
        & (o(0) < lo(1))
        & (c(0) <= c(1) + avg(EQUAL, 1))
        & (c(0) >= c(1))
    )
    return Pattern("CDLINNECK", "In-Neck Pattern", 11, _signal(cond, -100))


def _inverted_hammer() -> Pattern:
    cond = (
        gap_down(0, 1)
        & (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) > avg(SHADOW_LONG, 0))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
    )
    return Pattern("CDLINVERTEDHAMMER", "Inverted Hammer", 11, _signal(cond, 100))


def _kicking(name: str, title: str, by_length: bool) -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (
        color(1).eq(-color(0))
        & (body(1) > avg(BODY_LONG, 1))
        & (upper(1) < avg(svs, 1))
        & (lower(1) < avg(svs, 1))
        & (body(0) > avg(BODY_LONG, 0))
        & (upper(0) < avg(svs, 0))
        & (lower(0) < avg(svs, 0))
        & ((black(1) & candle_gap_up(0, 1)) | (white(1) & candle_gap_down(0, 1)))
    )
    value = select(body(0) > body(1), color(0), color(1)) if by_length else color(0)
    return Pattern(name, title, 11, _signal(cond, value * 100))


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
    return Pattern("CDLLADDERBOTTOM", "Ladder Bottom", 14, _signal(cond, 100))


def _long_legged_doji() -> Pattern:
    cond = (body(0) <= avg(BODY_DOJI, 0)) & (
        (lower(0) > avg(SHADOW_LONG, 0)) | (upper(0) > avg(SHADOW_LONG, 0))
    )
    return Pattern("CDLLONGLEGGEDDOJI", "Long Legged Doji", 10, _signal(cond, 100))


def _long_line() -> Pattern:
    cond = (
        (body(0) > avg(BODY_LONG, 0))
        & (upper(0) < avg(SHADOW_SHORT, 0))
        & (lower(0) < avg(SHADOW_SHORT, 0))
    )
    return Pattern("CDLLONGLINE", "Long Line Candle", 10, _signal(cond, color(0) * 100))


def _marubozu() -> Pattern:
    cond = (
        (body(0) > avg(BODY_LONG, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
    )
    return Pattern("CDLMARUBOZU", "Marubozu", 10, _signal(cond, color(0) * 100))


def _matching_low() -> Pattern:
    cond = black(1) & black(0) & (c(0) <= c(1) + avg(EQUAL, 1)) & (c(0) >= c(1) - avg(EQUAL, 1))
    return Pattern("CDLMATCHINGLOW", "Matching Low", 6, _signal(cond, 100))


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
    return Pattern("CDLMATHOLD", "Mat Hold", 14, _signal(cond, 100), penetration=0.5)


def _on_neck() -> Pattern:
    cond = (
        black(1)
        & (body(1) > avg(BODY_LONG, 1))
        & white(0)
        & (o(0) < lo(1))
        & (c(0) <= lo(1) + avg(EQUAL, 1))
        & (c(0) >= lo(1) - avg(EQUAL, 1))
    )
    return Pattern("CDLONNECK", "On-Neck Pattern", 11, _signal(cond, -100))


def _piercing() -> Pattern:
    cond = (
        black(1)
        & (body(1) > avg(BODY_LONG, 1))
        & white(0)
        & (body(0) > avg(BODY_LONG, 0))
        & (o(0) < lo(1))
        & (c(0) < o(1))
        & (c(0) > c(1) + body(1) * 0.5)
    )
    return Pattern("CDLPIERCING", "Piercing Pattern", 11, _signal(cond, 100))


def _rickshaw_man() -> Pattern:
    mid = lo(0) + hl(0) / 2
    cond = (
        (body(0) <= avg(BODY_DOJI, 0))
        & (lower(0) > avg(SHADOW_LONG, 0))
        & (upper(0) > avg(SHADOW_LONG, 0))
        & (minimum(o(0), c(0)) <= mid + avg(NEAR, 0))
        & (maximum(o(0), c(0)) >= mid - avg(NEAR, 0))
    )
    return Pattern("CDLRICKSHAWMAN", "Rickshaw Man", 10, _signal(cond, 100))


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
    return Pattern(
        "CDLRISEFALL3METHODS", "Rising/Falling Three Methods", 14, _signal(cond, 100 * k)
    )


def _separating_lines() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (
        color(1).eq(-color(0))
        & (o(0) <= o(1) + avg(EQUAL, 1))
        & (o(0) >= o(1) - avg(EQUAL, 1))
        & (body(0) > avg(BODY_LONG, 0))
        & ((white(0) & (lower(0) < avg(svs, 0))) | (black(0) & (upper(0) < avg(svs, 0))))
    )
    return Pattern("CDLSEPARATINGLINES", "Separating Lines", 11, _signal(cond, color(0) * 100))


def _shooting_star() -> Pattern:
    cond = (
        gap_up(0, 1)
        & (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) > avg(SHADOW_LONG, 0))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
    )
    return Pattern("CDLSHOOTINGSTAR", "Shooting Star", 11, _signal(cond, -100))


def _short_line() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) < avg(SHADOW_SHORT, 0))
        & (lower(0) < avg(SHADOW_SHORT, 0))
    )
    return Pattern("CDLSHORTLINE", "Short Line Candle", 10, _signal(cond, color(0) * 100))


def _spinning_top() -> Pattern:
    cond = (upper(0) > body(0)) & (lower(0) > body(0)) & (body(0) < avg(BODY_SHORT, 0))
    return Pattern("CDLSPINNINGTOP", "Spinning Top", 10, _signal(cond, color(0) * 100))


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
    return Pattern("CDLSTALLEDPATTERN", "Stalled Pattern", 12, _signal(cond, -100))


def _stick_sandwich() -> Pattern:
    cond = (
        black(2)
        & white(1)
        & black(0)
        & (lo(1) > c(2))
        & (c(0) <= c(2) + avg(EQUAL, 2))
        & (c(0) >= c(2) - avg(EQUAL, 2))
    )
    return Pattern("CDLSTICKSANDWICH", "Stick Sandwich", 7, _signal(cond, 100))


def _takuri() -> Pattern:
    cond = (
        (body(0) <= avg(BODY_DOJI, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (lower(0) > avg(SHADOW_VERY_LONG, 0))
    )
    return Pattern(
        "CDLTAKURI", "Takuri (Dragonfly Doji with very long lower shadow)", 10, _signal(cond, 100)
    )


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
    return Pattern("CDLTASUKIGAP", "Tasuki Gap", 7, _signal(cond, color(1) * 100))


def _thrusting() -> Pattern:
    cond = (
        black(1)
        & (body(1) > avg(BODY_LONG, 1))
        & white(0)
        & (o(0) < lo(1))
        & (c(0) > c(1) + avg(EQUAL, 1))
        & (c(0) <= c(1) + body(1) * 0.5)
    )
    return Pattern("CDLTHRUSTING", "Thrusting Pattern", 11, _signal(cond, -100))


def _tristar() -> Pattern:
    doji = avg(BODY_DOJI, 2)  # all three against the first doji's average, as in TA-Lib
    three = (body(2) <= doji) & (body(1) <= doji) & (body(0) <= doji)
    bearish = three & gap_up(1, 2) & (maximum(o(0), c(0)) < maximum(o(1), c(1)))
    bullish = three & gap_down(1, 2) & (minimum(o(0), c(0)) > minimum(o(1), c(1)))
    return Pattern(
        "CDLTRISTAR", "Tristar Pattern", 12, select(bullish, 100, _signal(bearish, -100))
    )


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
    return Pattern("CDLUNIQUE3RIVER", "Unique 3 River", 12, _signal(cond, 100))


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
    return Pattern("CDLUPSIDEGAP2CROWS", "Upside Gap Two Crows", 12, _signal(cond, -100))


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
        _signal(cond, color(2) * 100),
    )


#: Every pattern, in TA-Lib's alphabetical order; a node's parameter is its index here.
PATTERNS: tuple[Pattern, ...] = (
    _two_crows(),
    _three_black_crows(),
    _three_inside(),
    _three_line_strike(),
    _three_outside(),
    _three_stars_in_south(),
    _three_white_soldiers(),
    _abandoned_baby(),
    _advance_block(),
    _belt_hold(),
    _breakaway(),
    _closing_marubozu(),
    _conceal_baby_swallow(),
    _counterattack(),
    _dark_cloud_cover(),
    _doji(),
    _doji_star(),
    _dragonfly_doji(),
    _engulfing(),
    _star("CDLEVENINGDOJISTAR", "Evening Doji Star", doji=True, bullish=False),
    _star("CDLEVENINGSTAR", "Evening Star", doji=False, bullish=False),
    _gap_side_side_white(),
    _gravestone_doji(),
    _hammer(),
    _hanging_man(),
    _harami("CDLHARAMI", "Harami Pattern", body(0) <= avg(BODY_SHORT, 0)),
    _harami("CDLHARAMICROSS", "Harami Cross Pattern", body(0) <= avg(BODY_DOJI, 0)),
    _high_wave(),
    _hikkake(),
    _hikkake_mod(),
    _homing_pigeon(),
    _identical_three_crows(),
    _in_neck(),
    _inverted_hammer(),
    _kicking("CDLKICKING", "Kicking", by_length=False),
    _kicking(
        "CDLKICKINGBYLENGTH",
        "Kicking - bull/bear determined by the longer marubozu",
        by_length=True,
    ),
    _ladder_bottom(),
    _long_legged_doji(),
    _long_line(),
    _marubozu(),
    _matching_low(),
    _mat_hold(),
    _star("CDLMORNINGDOJISTAR", "Morning Doji Star", doji=True, bullish=True),
    _star("CDLMORNINGSTAR", "Morning Star", doji=False, bullish=True),
    _on_neck(),
    _piercing(),
    _rickshaw_man(),
    _rise_fall_three_methods(),
    _separating_lines(),
    _shooting_star(),
    _short_line(),
    _spinning_top(),
    _stalled_pattern(),
    _stick_sandwich(),
    _takuri(),
    _tasuki_gap(),
    _thrusting(),
    _tristar(),
    _unique_three_river(),
    _upside_gap_two_crows(),
    _xside_gap_three_methods(),
)
