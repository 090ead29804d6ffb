"""TA-Lib's two-candle patterns (engulfing, harami, kicking, necks, piercing, ...),
transcribed from TA-Lib's C with the conventions :mod:`kernels.ind.candle_patterns` states."""

from __future__ import annotations

from kernels.ind.candle_code import (
    BODY_DOJI,
    BODY_LONG,
    BODY_SHORT,
    EQUAL,
    SHADOW_VERY_SHORT,
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
    gap_down,
    gap_up,
    h,
    lo,
    lower,
    o,
    penetration,
    select,
    top,
    upper,
    when,
    white,
)


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
        when(cond, color(0) * select(full, 100, 80)),
    )


def _counterattack() -> Pattern:
    cond = (
        color(1).eq(-color(0))
        & (body(1) > avg(BODY_LONG, 1))
        & (body(0) > avg(BODY_LONG, 0))
        & (c(0) <= c(1) + avg(EQUAL, 1))
        & (c(0) >= c(1) - avg(EQUAL, 1))
    )
    return Pattern("CDLCOUNTERATTACK", "Counterattack", 11, when(cond, color(0) * 100))


def _dark_cloud_cover() -> Pattern:
    cond = (
        white(1)
        & (body(1) > avg(BODY_LONG, 1))
        & black(0)
        & (o(0) > h(1))
        & (c(0) > o(1))
        & (c(0) < c(1) - body(1) * penetration())
    )
    return Pattern("CDLDARKCLOUDCOVER", "Dark Cloud Cover", 11, when(cond, -100), penetration=0.5)


def _doji_star() -> Pattern:
    cond = (
        (body(1) > avg(BODY_LONG, 1))
        & (body(0) <= avg(BODY_DOJI, 0))
        & ((white(1) & gap_up(0, 1)) | (black(1) & gap_down(0, 1)))
    )
    return Pattern("CDLDOJISTAR", "Doji Star", 11, when(cond, -color(1) * 100))


def _harami(name: str, title: str, second: X) -> Pattern:
    """Harami (``second``: a short body) and harami cross (a doji)."""
    first = (body(1) > avg(BODY_LONG, 1)) & second
    inside = (top(0) < top(1)) & (bottom(0) > bottom(1))
    touching = (top(0) <= top(1)) & (bottom(0) >= bottom(1))
    out = select(first & inside, -color(1) * 100, when(first & touching, -color(1) * 80))
    return Pattern(name, title, 11, out)


def _homing_pigeon() -> Pattern:
    cond = (
        black(1)
        & black(0)
        & (body(1) > avg(BODY_LONG, 1))
        & (body(0) <= avg(BODY_SHORT, 0))
        & (o(0) < o(1))
        & (c(0) > c(1))
    )
    return Pattern("CDLHOMINGPIGEON", "Homing Pigeon", 11, when(cond, 100))


def _in_neck() -> Pattern:
    cond = (
        black(1)
        & (body(1) > avg(BODY_LONG, 1))
        & white(0)
        & (o(0) < lo(1))
        & (c(0) <= c(1) + avg(EQUAL, 1))
        & (c(0) >= c(1))
    )
    return Pattern("CDLINNECK", "In-Neck Pattern", 11, when(cond, -100))


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
    return Pattern(name, title, 11, when(cond, value * 100))


def _matching_low() -> Pattern:
    cond = black(1) & black(0) & (c(0) <= c(1) + avg(EQUAL, 1)) & (c(0) >= c(1) - avg(EQUAL, 1))
    return Pattern("CDLMATCHINGLOW", "Matching Low", 6, when(cond, 100))


def _on_neck() -> Pattern:
    cond = (
        black(1)
        & (body(1) > avg(BODY_LONG, 1))
        & white(0)
        & (o(0) < lo(1))
        & (c(0) <= lo(1) + avg(EQUAL, 1))
        & (c(0) >= lo(1) - avg(EQUAL, 1))
    )
    return Pattern("CDLONNECK", "On-Neck Pattern", 11, when(cond, -100))


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
    return Pattern("CDLPIERCING", "Piercing Pattern", 11, when(cond, 100))


def _separating_lines() -> Pattern:
    svs = SHADOW_VERY_SHORT
    cond = (
        color(1).eq(-color(0))
        & (o(0) <= o(1) + avg(EQUAL, 1))
        & (o(0) >= o(1) - avg(EQUAL, 1))
        & (body(0) > avg(BODY_LONG, 0))
        & ((white(0) & (lower(0) < avg(svs, 0))) | (black(0) & (upper(0) < avg(svs, 0))))
    )
    return Pattern("CDLSEPARATINGLINES", "Separating Lines", 11, when(cond, color(0) * 100))


def _thrusting() -> Pattern:
    cond = (
        black(1)
        & (body(1) > avg(BODY_LONG, 1))
        & white(0)
        & (o(0) < lo(1))
        & (c(0) > c(1) + avg(EQUAL, 1))
        & (c(0) <= c(1) + body(1) * 0.5)
    )
    return Pattern("CDLTHRUSTING", "Thrusting Pattern", 11, when(cond, -100))
