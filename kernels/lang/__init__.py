"""The Vyx filter language: a small, strict expression language for screening filters.

A trader's filter is one expression, parsed by a hand-written tokenizer and parser that accept
this grammar and nothing else (no Python is ever parsed, evaluated or imported)::

    rsi(14) < 30                                  # comments run to the end of the line
    and crosses_above(close, ema(close, 50))
    and volume > 2 * sma(volume, 20)
    and on("1h", close > ema(close, 200))
    and change_24h > 3

Grammar (EBNF; whitespace and newlines are insignificant, ``#`` starts a comment)::

    filter     = or_expr ;
    or_expr    = and_expr { "or" and_expr } ;
    and_expr   = not_expr { "and" not_expr } ;
    not_expr   = "not" not_expr | comparison ;
    comparison = sum { ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) sum } ;
    sum        = term { ( "+" | "-" ) term } ;
    term       = unary { ( "*" | "/" ) unary } ;
    unary      = "-" unary | postfix ;
    postfix    = atom { "[" integer "]" } ;
    atom       = number | "true" | "false" | name
               | name "(" [ argument { "," argument } [ "," ] ] ")" [ "." name ]
               | "on" "(" string "," or_expr ")"
               | "(" or_expr ")" ;
    argument   = [ name "=" ] or_expr ;
    number     = digits [ "." [ digits ] ] [ exponent ] | "." digits [ exponent ] ;
    exponent   = ( "e" | "E" ) [ "+" | "-" ] digits ;
    integer    = digits ;                       (* 0 ..= 1000 *)
    name       = letter { letter | digit | "_" } ;
    string     = '"' { character } '"' | "'" { character } "'" ;

Semantics:

- **Types.** ``number`` and ``bool`` series; literals are constants. ``+ - * /``, unary ``-`` and
  comparisons take numbers; ``and or not`` take bools; the whole filter is a bool.
  Comparisons chain like Python's: ``30 < rsi(14) < 70`` is ``30 < rsi(14) and rsi(14) < 70``.
- **Series:** ``open high low close volume quote_volume trades taker_buy_volume hl2 hlc3
  ohlc4`` (on the trader's timeframe, or the ``on()`` timeframe around them).
- **Ticker fields:** ``price change_24h quote_volume_24h``, the Binance 24 h ticker's figures
  as of the evaluated bar's close, derived from the candles of the evaluated timeframe (``price``
  is the close, ``change_24h`` the percent change from the open 24 h earlier,
  ``quote_volume_24h`` the quote volume of the last 24 h), so a backtest computes exactly what
  the live screen does. They cannot be looked back on (``price[1]``) nor fed to a function
  that needs past values (``sma(price, 5)``); ``abs``, ``min`` and ``max`` accept them.
- **Lookback:** ``x[n]`` is the value of ``x`` ``n`` bars ago: ``n`` is an integer literal,
  0 to 1000 (``x[a][b]`` is ``x[a + b]``, within the same limit). Constants have no lookback.
- **Calls:** ``f(inputs..., params...)`` with positional arguments first, then
  ``name=value``. Series inputs take any number expression (``sma(rsi(14), 5)``); indicators
  give every input a default and take them all or none, and when the first argument is a number
  literal every input takes its default (``rsi(14)`` is ``rsi(close, 14)``). Parameters are
  number literals (a leading ``-`` allowed) of their kind (whole numbers for periods) and within
  their range.
- **Fields:** multi-output indicators need one, right after the call:
  ``macd(12, 26, 9).hist``, ``bbands(20, 2).lower``; other calls have none.
- **Timeframes:** ``on("1h", expr)`` evaluates ``expr`` on the last closed bar of another
  timeframe, at least as long as the trader's own (``1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d
  1w``); ``on`` does not nest. Strings exist only as its first argument.
- **Clauses:** each operand of the top-level ``and`` is a named clause, labelled with its
  canonical text; a signal reports which clauses held and their operand values.

Functions (``name(inputs; params) -> fields``; defaults after ``=``; TA-Lib names and defaults
where TA-Lib has the indicator):

- moving averages ``sma ema wma dema tema trima (src=close; timeperiod=30)``, ``rma`` (alias
  ``wilder``, timeperiod=14), ``hma`` (9), ``vwma`` (20, volume-weighted);
- oscillators ``rsi(src=close; timeperiod=14)``, ``stoch(high, low, close; fastk_period=5,
  slowk_period=3, slowd_period=3) -> slowk, slowd``, ``stochf(high, low, close; fastk_period=5,
  fastd_period=3) -> fastk, fastd``, ``stochrsi(src=close; timeperiod=14, fastk_period=5,
  fastd_period=3) -> fastk, fastd``, ``macd(src=close; fastperiod=12, slowperiod=26,
  signalperiod=9) -> macd, signal, hist`` (``macdsignal``/``macdhist`` accepted too),
  ``cci mfi willr adx plus_di minus_di (high, low, close[, volume]; timeperiod=14)``,
  ``roc mom (src=close; timeperiod=10)``;
- volatility ``bbands(src=close; timeperiod=5, nbdev=2.0) -> upper, middle, lower`` (one
  ``nbdev`` for both bands: TA-Lib's ``nbdevup``/``nbdevdn`` are not accepted), ``atr natr
  (high, low, close; timeperiod=14)``, ``trange(high, low, close)``, ``stddev`` (alias ``stdev``;
  src=close; timeperiod=5, nbdev=1.0), ``zscore(src=close; timeperiod=20)``,
  ``keltner(high, low, close; timeperiod=20, multiplier=2.0, atr_period=10) -> upper, middle,
  lower``, ``donchian(high, low; timeperiod=20) -> upper, middle, lower``,
  ``supertrend(high, low, close; factor=3.0, atr_period=10) -> value, direction``;
- volume ``obv(src=close, volume=volume)``, ``vwap(high, low, close, volume; timeperiod=0)``
  (0: VWAP since 00:00 UTC; n: rolling n-bar VWAP), ``vwap_bands(high, low, close, volume;
  multiplier=1.0) -> upper, middle, lower`` (session VWAP ± volume-weighted deviations),
  ``pvi nvi (src=close, volume=volume)`` (positive/negative volume index from 1.0);
- structure (window functions: they read the last ``lookback`` bars every bar)
  ``divergence(a, b; lookback=30, min_sep=5)`` and ``rsi_divergence(src=close; timeperiod=14,
  lookback=30, min_sep=5)`` (+1 regular bullish, -1 regular bearish, 0 none; ``min_sep`` less
  than ``lookback``), ``hvn_near(high, low, close, volume; tolerance_pct=0.5, lookback=50,
  bins=20)`` (bool), ``hvn_above hvn_below (high, low, close, volume; lookback=50, bins=20)``
  (percent distance of the close to the nearest high-volume node above/below it, NaN: none);
- candlestick patterns, TA-Lib's 61 under TA-Lib's names (``CDLENGULFING`` is
  ``cdl_engulfing``; inputs open, high, low, close; streaming, from running sums):
  cdl_2crows cdl_3blackcrows cdl_3inside cdl_3linestrike cdl_3outside cdl_3starsinsouth
  cdl_3whitesoldiers cdl_abandonedbaby cdl_advanceblock cdl_belthold cdl_breakaway
  cdl_closingmarubozu cdl_concealbabyswall cdl_counterattack cdl_darkcloudcover cdl_doji
  cdl_dojistar cdl_dragonflydoji cdl_engulfing cdl_eveningdojistar cdl_eveningstar
  cdl_gapsidesidewhite cdl_gravestonedoji cdl_hammer cdl_hangingman cdl_harami cdl_haramicross
  cdl_highwave cdl_hikkake cdl_hikkakemod cdl_homingpigeon cdl_identical3crows cdl_inneck
  cdl_invertedhammer cdl_kicking cdl_kickingbylength cdl_ladderbottom cdl_longleggeddoji
  cdl_longline cdl_marubozu cdl_matchinglow cdl_mathold cdl_morningdojistar cdl_morningstar
  cdl_onneck cdl_piercing cdl_rickshawman cdl_risefall3methods cdl_separatinglines
  cdl_shootingstar cdl_shortline cdl_spinningtop cdl_stalledpattern cdl_sticksandwich cdl_takuri
  cdl_tasukigap cdl_thrusting cdl_tristar cdl_unique3river cdl_upsidegap2crows
  cdl_xsidegap3methods
  (TA-Lib's value on the bar that completes the pattern: 100 or -100, some 80 or 200, else
  0; ``abandonedbaby eveningdojistar eveningstar morningdojistar morningstar`` take
  ``penetration=0.3``, ``darkcloudcover mathold`` ``penetration=0.5``);
- windows ``highest(src=high; timeperiod=30)``, ``lowest(src=low; timeperiod=30)``,
  ``sum(src=close; timeperiod=30)``;
- helpers ``crosses_above(a, b)``, ``crosses_below(a, b)``, ``rising(src; length=1)``,
  ``falling(src; length=1)`` (bool), ``abs(x)``, ``min(a, b)``, ``max(a, b)``,
  ``change(src=close; length=1)``.

Parameter ranges, references and one-line docs are in :data:`kernels.lang.catalog.FUNCTIONS`.

Budget (:class:`Budget`, defaults :data:`BUDGET`; over budget is a :class:`CompileError` at the
offending position naming the limit and its value, e.g. ``1:5: filter too deeply nested (depth
65 > 64)``)::

    limit                         one filter     all of a user's traders   checked by
    text (characters)             4096           -                         check()
    nesting depth                 64             -                         check()
    plan nodes                    160            4096                      Program
    work per bar and symbol       160            8192                      Program
    width (floats per symbol)     6144           32768                     Program
    warm-up (bars per timeframe)  4000           -                         Program

- *Nesting depth*: each call, operator, lookback or parenthesis nests one level (``a + b + c``
  is 3 deep; ``and``/``or`` and comparison chains are flat). Deeper text is refused where it
  goes too deep, before any recursive pass runs (at most :data:`~.budget.DEPTH_CEILING`).
- *Plan nodes*, *work* and *width* are measured on the lowered plan
  (:mod:`kernels.footprint`): work in simple node steps (:attr:`kernels.ops.OpSpec.cost`; window
  scans cost their period), width as each node's state plus its ring of past values. A filter is
  measured alone, then with the traders before it (:class:`kernels.program.Program`).
- *Warm-up*: :data:`MAX_WARMUP` (4000) bars fit a ring of :data:`MAX_RING` (5000, the daemon's
  cap) with its margin.
- ``check(..., timeframes=...)``: the timeframes streamed; an ``on()`` of another one, or a trader
  on another one, is an error naming those streamed.

Errors: :func:`check` raises one :class:`CompileError` carrying every problem found, each with
its line:column span and what was expected; ``CompileError.format(source)`` renders them with a
caret under the offending text. Names the language does not know get "did you mean" hints. A
report is bounded whatever the input: at most 20 diagnostics (then ``and N more``), each with at
most ~100 characters of its line around the caret and a clipped message.

Public API: :func:`check` -> :class:`CheckedFilter` (typed AST in :mod:`kernels.lang.ast`,
clauses, timeframes, normalized text), :class:`Budget`, :func:`to_source` (canonical printer),
:mod:`.catalog`.
"""

from kernels.lang.ast import Expr
from kernels.lang.budget import BUDGET, MAX_RING, MAX_WARMUP, Budget
from kernels.lang.checker import CheckedFilter, Clause, check
from kernels.lang.errors import CompileError, Diagnostic, Span
from kernels.lang.printer import to_source

__all__ = [
    "BUDGET",
    "MAX_RING",
    "MAX_WARMUP",
    "Budget",
    "CheckedFilter",
    "Clause",
    "CompileError",
    "Diagnostic",
    "Expr",
    "Span",
    "check",
    "to_source",
]
