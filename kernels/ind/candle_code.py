"""The candlestick patterns' little language: expressions over the last few candles, compiled
to the bytecode :mod:`kernels.ind.candles` interprets.

TA-Lib's 61 pattern recognizers are each a boolean formula over the open, high, low and close of
a few consecutive candles and *candle averages* (TA-Lib's ``TA_CANDLEAVERAGE``: a setting's
factor times the mean of a range — real body, high-low or shadows — over the candles before
one of the pattern's candles). Written here as expressions (:mod:`kernels.ind.candle_patterns`)
and interpreted by one small kernel, they cost one family's compile time, not 61 kernels'.

An expression is a tree of :class:`X` built with Python operators (``<``, ``&``, ``|``, ``~``,
``+``...; ``eq``/``ne`` for equality) from the candle accessors below; :func:`assemble` turns a
pattern into postfix instructions ``(op, a, b)``. Comparisons give 1.0 or 0.0 (false when an
operand is NaN, as in C). ``&``, ``|`` and :func:`select` short-circuit, as C's ``&&``, ``||``
and ``?:`` do: most bars fail a pattern's first test, and skip the rest (jumps are relative,
so code composes by concatenation).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

# Instructions: (opcode, a, b).
(
    I_CONST,
    I_FIELD,
    I_BODY,
    I_UPPER,
    I_LOWER,
    I_RANGE,
    I_COLOR,
    I_TOP,
    I_BOTTOM,
    I_AVG,
    I_AVG_SELF,
    I_PARAM,
    I_ADD,
    I_SUB,
    I_MUL,
    I_DIV,
    I_NEG,
    I_LT,
    I_LE,
    I_GT,
    I_GE,
    I_EQ,
    I_NE,
    I_NOT,
    I_MAX,
    I_MIN,
    I_REG,
    I_SET,
    I_INDEX,
    I_FIELD_AT,
    I_AND_JUMP,
    I_OR_JUMP,
    I_JUMP_ZERO,
    I_JUMP,
) = range(34)

#: Fields of a candle (``I_FIELD``'s ``a``): the kernel's inputs, in order.
OPEN, HIGH, LOW, CLOSE = 0, 1, 2, 3

#: Range types of TA-Lib's candle settings.
REAL_BODY, HIGH_LOW, SHADOWS = 0, 1, 2

#: TA-Lib's candle settings (``TA_CandleDefaultSettings``): (range type, period, factor).
SETTINGS: tuple[tuple[int, int, float], ...] = (
    (REAL_BODY, 10, 1.0),  # BodyLong
    (REAL_BODY, 10, 3.0),  # BodyVeryLong
    (REAL_BODY, 10, 1.0),  # BodyShort
    (HIGH_LOW, 10, 0.1),  # BodyDoji
    (REAL_BODY, 0, 1.0),  # ShadowLong
    (REAL_BODY, 0, 2.0),  # ShadowVeryLong
    (SHADOWS, 10, 1.0),  # ShadowShort
    (HIGH_LOW, 10, 0.1),  # ShadowVeryShort
    (HIGH_LOW, 5, 0.2),  # Near
    (HIGH_LOW, 5, 0.6),  # Far
    (HIGH_LOW, 5, 0.05),  # Equal
)
(
    BODY_LONG,
    BODY_VERY_LONG,
    BODY_SHORT,
    BODY_DOJI,
    SHADOW_LONG,
    SHADOW_VERY_LONG,
    SHADOW_SHORT,
    SHADOW_VERY_SHORT,
    NEAR,
    FAR,
    EQUAL,
) = range(11)

#: Registers: the output, values kept from bar to bar (the Hikkakes' pattern bar or
#: countdown, result, high and low) and temporaries (a pattern's ``lets``).
OUT, R0, R1, R2, R3, T0, T1 = range(7)


@attrs.frozen(eq=False)
class X:
    """An expression: its postfix instructions; ``avg`` parts are resolved by :func:`assemble`."""

    code: tuple[tuple[int, int, int], ...]
    consts: tuple[float, ...] = ()

    def _bin(self, op: int, other: object, swap: bool = False) -> X:
        a, b = (lift(other), self) if swap else (self, lift(other))
        return X((*_shift(a, 0), *_shift(b, len(a.consts)), (op, 0, 0)), a.consts + b.consts)

    def __add__(self, other: object) -> X:
        return self._bin(I_ADD, other)

    def __radd__(self, other: object) -> X:
        return self._bin(I_ADD, other, swap=True)

    def __sub__(self, other: object) -> X:
        return self._bin(I_SUB, other)

    def __rsub__(self, other: object) -> X:
        return self._bin(I_SUB, other, swap=True)

    def __mul__(self, other: object) -> X:
        return self._bin(I_MUL, other)

    def __rmul__(self, other: object) -> X:
        return self._bin(I_MUL, other, swap=True)

    def __truediv__(self, other: object) -> X:
        return self._bin(I_DIV, other)

    def __neg__(self) -> X:
        return X((*self.code, (I_NEG, 0, 0)), self.consts)

    def __lt__(self, other: object) -> X:
        return self._bin(I_LT, other)

    def __le__(self, other: object) -> X:
        return self._bin(I_LE, other)

    def __gt__(self, other: object) -> X:
        return self._bin(I_GT, other)

    def __ge__(self, other: object) -> X:
        return self._bin(I_GE, other)

    def eq(self, other: object) -> X:
        """``self == other``."""
        return self._bin(I_EQ, other)

    def ne(self, other: object) -> X:
        """``self != other``."""
        return self._bin(I_NE, other)

    def _jump(self, op: int, other: object) -> X:
        b = lift(other)
        code = (*self.code, (op, len(b.code), 0), *_shift(b, len(self.consts)))
        return X(code, self.consts + b.consts)

    def __and__(self, other: object) -> X:
        return self._jump(I_AND_JUMP, other)

    def __or__(self, other: object) -> X:
        return self._jump(I_OR_JUMP, other)

    def __invert__(self) -> X:
        return X((*self.code, (I_NOT, 0, 0)), self.consts)


def _shift(x: X, by: int) -> tuple[tuple[int, int, int], ...]:
    """``x``'s code with its constant indices moved by ``by``."""
    return tuple((op, a + by, b) if op == I_CONST else (op, a, b) for op, a, b in x.code)


def lift(v: object) -> X:
    """A number as a constant expression."""
    if isinstance(v, X):
        return v
    if isinstance(v, int | float):
        return X(((I_CONST, 0, 0),), (float(v),))
    raise TypeError(f"not an expression: {v!r}")


def _leaf(op: int, a: int = 0, b: int = 0) -> X:
    return X(((op, a, b),))


def o(k: int) -> X:
    """The open of the candle ``k`` bars ago."""
    return _leaf(I_FIELD, OPEN, k)


def h(k: int) -> X:
    """The high ``k`` bars ago."""
    return _leaf(I_FIELD, HIGH, k)


def lo(k: int) -> X:
    """The low ``k`` bars ago."""
    return _leaf(I_FIELD, LOW, k)


def c(k: int) -> X:
    """The close ``k`` bars ago."""
    return _leaf(I_FIELD, CLOSE, k)


def body(k: int) -> X:
    """TA_REALBODY: ``|close - open|``."""
    return _leaf(I_BODY, k)


def upper(k: int) -> X:
    """TA_UPPERSHADOW: ``high - max(close, open)``."""
    return _leaf(I_UPPER, k)


def lower(k: int) -> X:
    """TA_LOWERSHADOW: ``min(close, open) - low``."""
    return _leaf(I_LOWER, k)


def hl(k: int) -> X:
    """TA_HIGHLOWRANGE: ``high - low``."""
    return _leaf(I_RANGE, k)


def color(k: int) -> X:
    """TA_CANDLECOLOR: 1 when ``close >= open`` (white), else -1 (black)."""
    return _leaf(I_COLOR, k)


def white(k: int) -> X:
    """``color(k) == 1``."""
    return color(k).eq(1)


def black(k: int) -> X:
    """``color(k) == -1``."""
    return color(k).eq(-1)


def top(k: int) -> X:
    """``max(close, open)``."""
    return _leaf(I_TOP, k)


def bottom(k: int) -> X:
    """``min(close, open)``."""
    return _leaf(I_BOTTOM, k)


def avg(setting: int, k: int) -> X:
    """TA_CANDLEAVERAGE of ``setting`` for the candle ``k`` bars ago: its factor times the
    mean range over the ``period`` candles before it (its own range when ``period`` is 0),
    halved for shadows. Resolved by :func:`assemble` (``b`` is -1 - k until then)."""
    return _leaf(I_AVG, setting, -1 - k)


def penetration() -> X:
    """The pattern's penetration parameter."""
    return _leaf(I_PARAM)


def reg(r: int) -> X:
    """A register's value from the previous bar (:data:`R0` .. :data:`R3`)."""
    return _leaf(I_REG, r)


def index() -> X:
    """The bar's index in its run (TA-Lib's ``i`` when the run is the whole input)."""
    return _leaf(I_INDEX)


def field_at(field: int, at: X) -> X:
    """``field`` of the candle whose run index is ``at`` (at most the ring's depth back)."""
    return X((*at.code, (I_FIELD_AT, field, 0)), at.consts)


def select(cond: X, a: object, b: object) -> X:
    """``cond ? a : b`` (only the side taken is computed)."""
    x, y = lift(a), lift(b)
    n1, n2 = len(cond.consts), len(cond.consts) + len(x.consts)
    code = (
        *_shift(cond, 0),
        (I_JUMP_ZERO, len(x.code) + 1, 0),
        *_shift(x, n1),
        (I_JUMP, len(y.code), 0),
        *_shift(y, n2),
    )
    return X(code, cond.consts + x.consts + y.consts)


def when(cond: X, value: object) -> X:
    """``cond ? value : 0``: a pattern's output."""
    return select(cond, value, 0)


def maximum(a: object, b: object) -> X:
    """``max(a, b)``."""
    return lift(a)._bin(I_MAX, b)


def minimum(a: object, b: object) -> X:
    """``min(a, b)``."""
    return lift(a)._bin(I_MIN, b)


def gap_up(k: int, j: int) -> X:
    """TA_REALBODYGAPUP(k, j): the real body ``k`` bars ago above the one ``j`` bars ago."""
    return bottom(k) > top(j)


def gap_down(k: int, j: int) -> X:
    """TA_REALBODYGAPDOWN(k, j)."""
    return top(k) < bottom(j)


def candle_gap_up(k: int, j: int) -> X:
    """TA_CANDLEGAPUP(k, j): the low ``k`` bars ago above the high ``j`` bars ago."""
    return lo(k) > h(j)


def candle_gap_down(k: int, j: int) -> X:
    """TA_CANDLEGAPDOWN(k, j)."""
    return h(k) < lo(j)


@attrs.frozen
class Pattern:
    """One TA-Lib pattern: its name, what it computes and its lookback.

    ``out`` is the output (TA-Lib's ``outInteger``); ``sets`` are registers it updates from
    their previous values; it runs from ``pre`` bars before ``lookback`` on (for registers),
    its output counts from ``lookback`` on; its running totals start ``pre`` bars before
    ``lookback`` too (TA-Lib rolls them through that scan). ``penetration`` is its parameter's
    default (None: it has none).
    """

    name: str
    title: str
    lookback: int
    out: X
    sets: tuple[tuple[int, X], ...] = ()
    pre: int = 0
    penetration: float | None = None
    #: Temporaries computed first (``(T0, x)``), read with ``reg(T0)``.
    lets: tuple[tuple[int, X], ...] = ()


@attrs.frozen
class Assembled:
    """A pattern as the kernel's tables hold it."""

    code: tuple[tuple[int, int, int], ...]
    consts: tuple[float, ...]
    #: Running totals: (range type, period, candle offset), each a state slot.
    totals: tuple[tuple[int, int, int], ...]
    #: Deepest the stack gets.
    depth: int


_PUSHES = {I_CONST, I_FIELD, I_BODY, I_UPPER, I_LOWER, I_RANGE, I_COLOR, I_TOP, I_BOTTOM}
_PUSHES |= {I_AVG, I_AVG_SELF, I_PARAM, I_REG, I_INDEX}
_UNARY = {I_NEG, I_NOT, I_FIELD_AT}


def assemble(p: Pattern) -> Assembled:
    """The instructions of ``p``: its ``lets`` computed and stored, then its ``sets`` and
    ``out`` computed from the registers' previous values and stored (``I_SET``), with each
    candle average given its total's slot (or ``I_AVG_SELF`` for a setting of period 0)."""
    exprs = [(OUT, p.out), *p.sets]
    code: list[tuple[int, int, int]] = []
    consts: list[float] = []
    totals: list[tuple[int, int, int]] = []
    for r, x in (*p.lets, *exprs):
        for op, a, b in _shift(x, len(consts)):
            if op == I_AVG:
                rtype, period, _factor = SETTINGS[a]
                k = -1 - b
                if period == 0:
                    code.append((I_AVG_SELF, a, k))
                    continue
                key = (rtype, period, k)
                if key not in totals:
                    totals.append(key)
                code.append((I_AVG, a, totals.index(key)))
                continue
            code.append((op, a, b))
        consts.extend(x.consts)
        if r >= T0:
            code.append((I_SET, r, 0))
    code.extend((I_SET, r, 0) for r, _ in reversed(exprs))
    return Assembled(tuple(code), tuple(consts), tuple(totals), _depth(code))


def _depth(code: Sequence[tuple[int, int, int]]) -> int:
    """The stack depth ``code`` reaches. A jump counts as the pop where the code falls
    through: ``&``/``|`` keep the value they jump with where the second operand's would be,
    and a ``select``'s first branch leaves its value where the second's would be."""
    sp = deepest = 0
    for op, _a, _b in code:
        if op in _PUSHES:
            sp += 1
        elif op not in _UNARY:
            sp -= 1
        deepest = max(deepest, sp)
    if sp != 0:
        raise ValueError("unbalanced candle pattern code")
    return deepest
