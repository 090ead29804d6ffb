"""TA-Lib's candlestick patterns, transcribed from TA-Lib's C (``ta_func/ta_CDL*.c``) into the
expressions of :mod:`kernels.ind.candle_code`, one :class:`Pattern` each.

Each reads as its C ``if``: ``k`` is "``k`` candles ago" (TA-Lib's ``i - k``), ``avg(S, k)``
is ``TA_CANDLEAVERAGE(S, <S's total for i - k>, i - k)``. The output expression is TA-Lib's
``outInteger``. Lookbacks are TA-Lib's (``TA_CDL*_Lookback``, a test checks them). The
catalog names each ``cdl_`` + the TA-Lib name in lower case (``CDLENGULFING`` ->
``cdl_engulfing``).

The one-candle patterns are in :mod:`kernels.ind.candle_single`, the two-candle ones in
:mod:`kernels.ind.candle_double`, those of four and five candles in
:mod:`kernels.ind.candle_multi`; the three-candle ones in
:mod:`kernels.ind.candle_triple`; the table of all 61 is here.
"""

from __future__ import annotations

from kernels.ind.candle_code import BODY_DOJI, BODY_SHORT, Pattern, avg, body
from kernels.ind.candle_double import (
    _counterattack,
    _dark_cloud_cover,
    _doji_star,
    _engulfing,
    _harami,
    _homing_pigeon,
    _in_neck,
    _kicking,
    _matching_low,
    _on_neck,
    _piercing,
    _separating_lines,
    _thrusting,
)
from kernels.ind.candle_multi import (
    _breakaway,
    _conceal_baby_swallow,
    _ladder_bottom,
    _mat_hold,
    _rise_fall_three_methods,
    _three_line_strike,
)
from kernels.ind.candle_single import (
    _belt_hold,
    _closing_marubozu,
    _doji,
    _dragonfly_doji,
    _gravestone_doji,
    _hammer,
    _hanging_man,
    _high_wave,
    _inverted_hammer,
    _long_legged_doji,
    _long_line,
    _marubozu,
    _rickshaw_man,
    _shooting_star,
    _short_line,
    _spinning_top,
    _takuri,
)
from kernels.ind.candle_triple import (
    _abandoned_baby,
    _advance_block,
    _gap_side_side_white,
    _hikkake,
    _hikkake_mod,
    _identical_three_crows,
    _stalled_pattern,
    _star,
    _stick_sandwich,
    _tasuki_gap,
    _three_black_crows,
    _three_inside,
    _three_outside,
    _three_stars_in_south,
    _three_white_soldiers,
    _tristar,
    _two_crows,
    _unique_three_river,
    _upside_gap_two_crows,
    _xside_gap_three_methods,
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
