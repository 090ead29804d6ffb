"""A compiled reader of plain klines CSV text: the common case of :mod:`kernels.klines_csv`.

Klines files are plain decimal numbers (``1760000000000,0.01234000,...``). Each field is read
as an integer mantissa ``m`` (up to 18 digits) and a count of decimals ``d`` (at most 22), and
its value is the double nearest ``m / 10**d``: the same float as Python's ``float`` and numpy's
parsers give.

- ``m`` below 2**53: ``m / 10**d`` is one IEEE division of two exact doubles, hence correctly
  rounded.
- Larger ``m`` (17-18 significant digits): a first quotient is within an ulp or two; the
  remainder ``m - q * 10**d`` is computed exactly enough (an error-free product, Dekker's) to
  tell which double is nearest, stepping ``q`` one ulp at a time; exactly halfway, the even
  one. A remainder within a hair (1e-9) of half an ulp that cannot be told from halfway (a
  decimal all but halfway between two small doubles) is not decided: the file goes to the
  careful reader.

Anything else (an exponent, more digits, spaces, a header in the middle, a row with another
number of fields, a character that is not part of a number) makes the reader give up on the
file (-1), and the caller reads it with its careful reader, which handles (or names) every
case.
"""

from __future__ import annotations

import math

import numpy as np
from numba import int64, uint64

from kernels.jit import entry, inlined_loops

#: Exact powers of ten as doubles (10**0 .. 10**22).
POWERS = np.array([10.0**k for k in range(23)])
#: Mantissas from here on are not exact doubles.
_EXACT = 1 << 53
#: Mantissas from here on would overflow with one more digit (18 digits are always read).
_DIGITS_MAX = (1 << 63) // 10 - 1
#: Veltkamp's splitter for doubles (2**27 + 1).
_SPLIT = 134217729.0
_COMMA, _NEWLINE, _RETURN, _MINUS, _DOT, _ZERO = 44, 10, 13, 45, 46, 48
#: The largest mantissa read: :data:`_DIGITS_MAX` followed by any digit.
_MANTISSA_MAX = np.uint64(_DIGITS_MAX * 10 + 9)
#: Eight ASCII digits in a word (SWAR, as simdjson and fast_float read them): each byte's
#: high nibble is 3 (:data:`_HIGH`, :data:`_ASCII`) and adding 6 leaves it so (at most 9);
#: then pairs, quads and the eight combined by three multiplications.
_HIGH, _ASCII = np.uint64(0xF0F0F0F0F0F0F0F0), np.uint64(0x3030303030303030)
_SIX, _LOW = np.uint64(0x0606060606060606), np.uint64(0x0F0F0F0F0F0F0F0F)
_MUL1, _SHIFT1 = np.uint64(10 * 256 + 1), np.uint64(8)
_PAIRS, _MUL2, _SHIFT2 = np.uint64(0x00FF00FF00FF00FF), np.uint64(100 * 65536 + 1), np.uint64(16)
_QUADS, _SHIFT3 = np.uint64(0x0000FFFF0000FFFF), np.uint64(32)
_MUL3 = np.uint64(10000 * (1 << 32) + 1)
_E8, _TEN_U, _ZERO_U, _NINE_U = np.uint64(10**8), np.uint64(10), np.uint64(_ZERO), np.uint64(9)
#: 10**k as uint64 (k < 20).
_POWERS_U = np.array([10**k for k in range(20)], dtype=np.uint64)


@inlined_loops
def _two_product(a, b):
    """``a * b`` as a double and its exact rounding error (Dekker)."""
    p = a * b
    c = _SPLIT * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLIT * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@inlined_loops
def _decimal(mantissa, decimals, powers):
    """The double nearest ``mantissa / 10**decimals`` (NaN: too close to call)."""
    p = powers[decimals]
    if mantissa < _EXACT:
        return mantissa / p
    # m = m_hi + m_lo, both exact doubles; q within an ulp or two of m / p.
    m_hi = float((mantissa >> 11) << 11)
    m_lo = float(mantissa & 2047)
    q = (m_hi + m_lo) / p
    for _ in range(4):
        hi, lo = _two_product(q, p)
        rest = ((m_hi - hi) - lo) + m_lo  # m - q * p, to within 2**-38
        e = math.frexp(q)[1]
        up = math.ldexp(1.0, e - 53)  # q + up is the next double
        down = up * 0.5 if math.frexp(q)[0] == 0.5 else up  # q - down the one before
        half_up, half_down = up * p * 0.5, down * p * 0.5
        if abs(rest - half_up) < 1e-9 or abs(rest + half_down) < 1e-9:
            # Halfway, or too close to tell. The true remainder is a multiple of 2**(e - 54)
            # (as is every double between q - down and q + up, times the integer p): from
            # 2**-30 on, a remainder this close to halfway is exactly halfway: to even.
            if e - 54 < -30:
                return math.nan
            other = q + up if rest > 0.0 else q - down
            return q if (q / up) % 2.0 == 0.0 else other
        if rest > half_up:
            q += up
        elif rest < -half_down:
            q -= down
        else:
            return q
    return math.nan


@inlined_loops
def _digits(text, pos, n):
    """The decimal digits from ``pos`` on, eight at a time while eight bytes are digits
    (one load, SWAR), then one at a time: their value (``uint64``, wrapping past 20 digits)
    and the position after them."""
    value = uint64(0)
    while pos + 8 <= n:
        word = uint64(0)
        for k in range(8):  # LLVM makes these one 8-byte load
            word |= uint64(text[uint64(pos + k)]) << uint64(8 * k)
        if (word & _HIGH) != _ASCII or ((word + _SIX) & _HIGH) != _ASCII:
            break
        word = ((word & _LOW) * _MUL1) >> _SHIFT1
        word = ((word & _PAIRS) * _MUL2) >> _SHIFT2
        word = ((word & _QUADS) * _MUL3) >> _SHIFT3
        value = value * _E8 + word
        pos += 8
    while pos < n:
        d = uint64(text[uint64(pos)]) - _ZERO_U
        if d > _NINE_U:
            break
        value = value * _TEN_U + d
        pos += 1
    return value, pos


@inlined_loops
def _number(text, pos, n):
    """The unsigned decimal number at ``pos``: its mantissa (-1: not a plain number, or more
    than :data:`_DIGITS_MAX` times ten), its decimals (at most 22) and the position after it."""
    mantissa, end = _digits(text, pos, n)
    digits = end - pos
    decimals = 0
    if end < n and text[end] == _DOT:
        frac, after = _digits(text, end + 1, n)
        decimals = after - end - 1
        digits += decimals
        mantissa = mantissa * _POWERS_U[decimals] + frac if decimals < 20 else mantissa
        end = after
    if digits == 0 or decimals > 22:
        return -1, 0, end
    if digits > 19:
        # Leading zeros, or too many digits: one at a time, as the limit says.
        return _slow_number(text, pos, n)
    if mantissa > _MANTISSA_MAX:
        return -1, 0, end
    return int64(mantissa), decimals, end


@inlined_loops
def _slow_number(text, pos, n):
    """:func:`_number`, a digit at a time (the mantissa checked before each one)."""
    mantissa = 0
    digits = 0
    decimals = -1  # -1: no decimal point yet
    while pos < n:
        ch = text[pos]
        if _ZERO <= ch <= _ZERO + 9:
            if mantissa > _DIGITS_MAX:
                return -1, 0, pos
            mantissa = mantissa * 10 + (ch - _ZERO)
            digits += 1
            if decimals >= 0:
                decimals += 1
        elif ch == _DOT and decimals < 0:
            decimals = 0
        else:
            break
        pos += 1
    if digits == 0 or decimals > 22:
        return -1, 0, pos
    return mantissa, max(decimals, 0), pos


@entry
def parse_nb(text, start, columns, powers, out):
    """Read rows of ``len(columns)`` comma-separated numbers from ``text[start:]`` (uint8),
    field ``j`` of row ``i`` into ``out[i, columns[j]]`` (``columns[j]`` < 0: not kept); lines
    end with ``\\n`` or ``\\r\\n``, empty lines are skipped. Returns the rows read, or -1
    when the text is not plain numbers in that shape (or has more rows than ``out``)."""
    n = text.shape[0]
    width = columns.shape[0]
    pos = start
    row = 0
    while pos < n:
        if text[pos] == _NEWLINE:
            pos += 1
            continue
        if text[pos] == _RETURN and pos + 1 < n and text[pos + 1] == _NEWLINE:
            pos += 2
            continue
        if row >= out.shape[0]:
            return -1
        for j in range(width):
            negative = text[pos] == _MINUS if pos < n else False
            if negative:
                pos += 1
            mantissa, decimals, end = _number(text, pos, n)
            if mantissa < 0:
                return -1
            pos = end
            value = _decimal(mantissa, decimals, powers)
            if math.isnan(value):
                return -1
            if negative:
                value = -value
            # The field's end: a comma between fields, the line's end after the last.
            end = text[pos] if pos < n else _NEWLINE
            if j < width - 1:
                if end != _COMMA:
                    return -1
            elif end == _RETURN:
                if pos + 1 >= n or text[pos + 1] != _NEWLINE:
                    return -1
            elif end != _NEWLINE:
                return -1
            pos += 1
            if columns[j] >= 0:
                out[row, columns[j]] = value
        row += 1
    return row
