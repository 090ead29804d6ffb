"""Opcodes of the plan interpreter and what each needs (state, input history, warm-up).

An :class:`OpSpec` is the Python-side contract of one numba kernel: how many float64 state slots
it keeps per symbol, how many past values of each input it reads (its inputs' ring depths), how
many bars after its inputs are valid it needs before its output is valid and stable, what one
step costs, and the reference implementation its tests compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

# Opcodes are plain ints so the numba interpreter can switch on them.
CONST, SRC, EXT, LAG = 0, 1, 2, 3
ADD, SUB, MUL, DIV, NEG, ABS, MIN, MAX = 4, 5, 6, 7, 8, 9, 10, 11
LT, LE, GT, GE, EQ, NE = 12, 13, 14, 15, 16, 17
AND, OR, NOT = 18, 19, 20
CROSS_ABOVE, CROSS_BELOW, RISING, FALLING = 21, 22, 23, 24
SMA, EMA, WMA, RMA, SUM = 30, 31, 32, 33, 34
STDDEV, HIGHEST, LOWEST = 35, 36, 37
RSI, MACDLINE, STOCHK, ROC, WILLR, CCI, MFI = 40, 41, 42, 43, 44, 45, 46
TRANGE, PLUS_DI, MINUS_DI, ADX, SUPERTREND, OBV, VWAP_SESSION = 50, 51, 52, 53, 54, 55, 56
PVI, NVI, VWAP_SESSION_SD = 57, 58, 59
DIVERGENCE, VOLUME_NODES = 60, 61
CANDLE = 62

#: Bar field indices for SRC (the ring's FIELDS, then the open time in ms as float64).
OPEN, HIGH, LOW, CLOSE, VOLUME, QUOTE_VOLUME, TRADES, TAKER_BUY_VOLUME, OPEN_TIME = range(9)
N_BAR_FIELDS = 9

Params = Sequence[float]


@attrs.frozen
class OpSpec:
    """What the planner needs to know about one opcode."""

    name: str
    #: Number of inputs (node ids) the op reads.
    arity: int
    #: float64 state slots per symbol.
    state: Callable[[Params], int]
    #: Ring depth the op needs of each input (1 = only the current value).
    depths: Callable[[Params], tuple[int, ...]]
    #: Bars after its inputs become valid until its own output is valid and stable.
    warmup: Callable[[Params], int]
    #: Reference implementation the tests compare against.
    reference: str
    #: Work of one step for one symbol, in simple node steps (an ``add`` is 1, ~4 ns through
    #: the interpreter), an upper bound measured with ``benchmarks.bench_kernels``: kernels
    #: that scan their window every bar cost in proportion to its length.
    cost: Callable[[Params], int] = attrs.field(default=lambda _p: 1)


def _zero(_: Params) -> int:
    return 0


def _cur(n: int) -> Callable[[Params], tuple[int, ...]]:
    return lambda _p: (1,) * n


def _fixed(name: str, arity: int, reference: str, *, state: int = 0) -> OpSpec:
    return OpSpec(name, arity, lambda _p: state, _cur(arity), _zero, reference)


def _period(p: Params, i: int = 0) -> int:
    return int(p[i])


def fixed_cost(units: int) -> Callable[[Params], int]:
    """The cost of a kernel doing the same work every step."""
    return lambda _p: units


def scan_cost(per_bar: float) -> Callable[[Params], int]:
    """The cost of a kernel reading ``per_bar`` × its period (``params[0]``) values a step."""
    return lambda p: 2 + int(per_bar * _period(p))


#: Every opcode's spec; families register theirs in :mod:`kernels.ind`.
SPECS: dict[int, OpSpec] = {
    CONST: _fixed("const", 0, "literal"),
    SRC: _fixed("src", 0, "bar field"),
    # Gathering the value from the other timeframe's state costs more than the step itself.
    EXT: attrs.evolve(
        _fixed("ext", 0, "value of another timeframe's node at its last closed bar"),
        cost=fixed_cost(4),
    ),
    LAG: OpSpec(
        "lag", 1, _zero, lambda p: (_period(p) + 1,), lambda p: _period(p), "x[n]: n bars ago"
    ),
    ADD: _fixed("add", 2, "a + b"),
    SUB: _fixed("sub", 2, "a - b"),
    MUL: _fixed("mul", 2, "a * b"),
    DIV: _fixed("div", 2, "a / b (NaN when b == 0)"),
    NEG: _fixed("neg", 1, "-a"),
    ABS: _fixed("abs", 1, "abs(a)"),
    MIN: _fixed("min", 2, "min(a, b)"),
    MAX: _fixed("max", 2, "max(a, b)"),
    LT: _fixed("lt", 2, "a < b"),
    LE: _fixed("le", 2, "a <= b"),
    GT: _fixed("gt", 2, "a > b"),
    GE: _fixed("ge", 2, "a >= b"),
    EQ: _fixed("eq", 2, "a == b"),
    NE: _fixed("ne", 2, "a != b"),
    AND: _fixed("and", 2, "a and b"),
    OR: _fixed("or", 2, "a or b"),
    NOT: _fixed("not", 1, "not a"),
    CROSS_ABOVE: OpSpec(
        "crosses_above", 2, _zero, lambda _p: (2, 2), lambda _p: 1, "TradingView ta.crossover"
    ),
    CROSS_BELOW: OpSpec(
        "crosses_below", 2, _zero, lambda _p: (2, 2), lambda _p: 1, "TradingView ta.crossunder"
    ),
    # Both compare with up to ``length`` past values (all of them when the input is monotone).
    RISING: OpSpec(
        "rising",
        1,
        _zero,
        lambda p: (_period(p) + 1,),
        lambda p: _period(p),
        "TradingView ta.rising",
        scan_cost(0.5),
    ),
    FALLING: OpSpec(
        "falling",
        1,
        _zero,
        lambda p: (_period(p) + 1,),
        lambda p: _period(p),
        "TradingView ta.falling",
        scan_cost(0.5),
    ),
}


def spec(op: int) -> OpSpec:
    """The spec of ``op`` (after every family registered)."""
    return SPECS[op]
