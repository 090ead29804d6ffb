"""TA-Lib's one-candle patterns (dojis, hammers, marubozus, lines, tops), transcribed from
TA-Lib's C with the conventions :mod:`kernels.ind.candle_patterns` states."""

from __future__ import annotations

from kernels.ind.candle_code import (
    BODY_DOJI,
    BODY_LONG,
    BODY_SHORT,
    NEAR,
    SHADOW_LONG,
    SHADOW_SHORT,
    SHADOW_VERY_LONG,
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
    hl,
    lo,
    lower,
    maximum,
    minimum,
    o,
    upper,
    when,
    white,
)


def _hammer() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (lower(0) > avg(SHADOW_LONG, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (minimum(c(0), o(0)) <= lo(1) + avg(NEAR, 1))
    )
    return Pattern("CDLHAMMER", "Hammer", 11, when(cond, 100))


def _belt_hold() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) > avg(BODY_LONG, 0)) & (
        (white(0) & (lower(0) < avg(svs, 0))) | (black(0) & (upper(0) < avg(svs, 0)))
    )
    return Pattern("CDLBELTHOLD", "Belt-hold", 10, when(cond, color(0) * 100))


def _closing_marubozu() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) > avg(BODY_LONG, 0)) & (
        (white(0) & (upper(0) < avg(svs, 0))) | (black(0) & (lower(0) < avg(svs, 0)))
    )
    return Pattern("CDLCLOSINGMARUBOZU", "Closing Marubozu", 10, when(cond, color(0) * 100))


def _doji() -> Pattern:
    return Pattern("CDLDOJI", "Doji", 10, when(body(0) <= avg(BODY_DOJI, 0), 100))


def _dragonfly_doji() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) <= avg(BODY_DOJI, 0)) & (upper(0) < avg(svs, 0)) & (lower(0) > avg(svs, 0))
    return Pattern("CDLDRAGONFLYDOJI", "Dragonfly Doji", 10, when(cond, 100))


def _gravestone_doji() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (body(0) <= avg(BODY_DOJI, 0)) & (lower(0) < avg(svs, 0)) & (upper(0) > avg(svs, 0))
    return Pattern("CDLGRAVESTONEDOJI", "Gravestone Doji", 10, when(cond, 100))


def _hanging_man() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (lower(0) > avg(SHADOW_LONG, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (minimum(c(0), o(0)) >= h(1) - avg(NEAR, 1))
    )
    return Pattern("CDLHANGINGMAN", "Hanging Man", 11, when(cond, -100))


def _high_wave() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) > avg(SHADOW_VERY_LONG, 0))
        & (lower(0) > avg(SHADOW_VERY_LONG, 0))
    )
    return Pattern("CDLHIGHWAVE", "High-Wave Candle", 10, when(cond, color(0) * 100))


def _inverted_hammer() -> Pattern:
    cond = (
        gap_down(0, 1)
        & (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) > avg(SHADOW_LONG, 0))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
    )
    return Pattern("CDLINVERTEDHAMMER", "Inverted Hammer", 11, when(cond, 100))


def _long_legged_doji() -> Pattern:
    cond = (body(0) <= avg(BODY_DOJI, 0)) & (
        (lower(0) > avg(SHADOW_LONG, 0)) | (upper(0) > avg(SHADOW_LONG, 0))
    )
    return Pattern("CDLLONGLEGGEDDOJI", "Long Legged Doji", 10, when(cond, 100))


def _long_line() -> Pattern:
    cond = (
        (body(0) > avg(BODY_LONG, 0))
        & (upper(0) < avg(SHADOW_SHORT, 0))
        & (lower(0) < avg(SHADOW_SHORT, 0))
    )
    return Pattern("CDLLONGLINE", "Long Line Candle", 10, when(cond, color(0) * 100))


def _marubozu() -> Pattern:
    cond = (
        (body(0) > avg(BODY_LONG, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
    )
    return Pattern("CDLMARUBOZU", "Marubozu", 10, when(cond, color(0) * 100))


def _rickshaw_man() -> Pattern:
    mid = lo(0) + hl(0) / 2
    cond = (
        (body(0) <= avg(BODY_DOJI, 0))
        & (lower(0) > avg(SHADOW_LONG, 0))
        & (upper(0) > avg(SHADOW_LONG, 0))
        & (minimum(o(0), c(0)) <= mid + avg(NEAR, 0))
        & (maximum(o(0), c(0)) >= mid - avg(NEAR, 0))
    )
    return Pattern("CDLRICKSHAWMAN", "Rickshaw Man", 10, when(cond, 100))


def _shooting_star() -> Pattern:
    cond = (
        gap_up(0, 1)
        & (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) > avg(SHADOW_LONG, 0))
        & (lower(0) < avg(SHADOW_VERY_SHORT, 0))
    )
    return Pattern("CDLSHOOTINGSTAR", "Shooting Star", 11, when(cond, -100))


def _short_line() -> Pattern:
    cond = (
        (body(0) < avg(BODY_SHORT, 0))
        & (upper(0) < avg(SHADOW_SHORT, 0))
        & (lower(0) < avg(SHADOW_SHORT, 0))
    )
    return Pattern("CDLSHORTLINE", "Short Line Candle", 10, when(cond, color(0) * 100))


def _spinning_top() -> Pattern:
    cond = (upper(0) > body(0)) & (lower(0) > body(0)) & (body(0) < avg(BODY_SHORT, 0))
    return Pattern("CDLSPINNINGTOP", "Spinning Top", 10, when(cond, color(0) * 100))


def _takuri() -> Pattern:
    cond = (
        (body(0) <= avg(BODY_DOJI, 0))
        & (upper(0) < avg(SHADOW_VERY_SHORT, 0))
        & (lower(0) > avg(SHADOW_VERY_LONG, 0))
    )
    return Pattern(
        "CDLTAKURI", "Takuri (Dragonfly Doji with very long lower shadow)", 10, when(cond, 100)
    )
