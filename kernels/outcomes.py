"""Signal outcomes: what happened after a signal, bar by bar, live and over history alike.

A signal at bar ``t`` of a symbol enters at ``close[t]`` in the trader's direction ``d``
(+1 long, -1 short). Over the next :data:`HORIZON` bars of the symbol's own timeframe:

- **forward returns** at each of :data:`HORIZONS`: ``d * (close[t+N] / close[t] - 1)`` (for a
  long trader exactly ``close[t+N] / close[t] - 1``; a short's is its negative);
- **MFE / MAE** (maximum favourable / adverse excursion) over the bars seen, from highs and
  lows: long ``max(high) / entry - 1`` and ``min(low) / entry - 1``; short
  ``-(min(low) / entry - 1)`` and ``-(max(high) / entry - 1)``. MAE is usually negative;
- **first touch** of the target and the stop: the first bar whose range reaches the target
  (long: ``high >= target``; short: ``low <= target``) or the stop (long: ``low <= stop``;
  short: ``high >= stop``). **A bar that reaches both counts as the stop** (the range does not
  say which came first; the pessimistic reading). A signal's own bar is never checked.

The levels are given (the analysis' key levels, when the daemon has them) or
:func:`atr_levels`: ``stop = entry - d * 1.5 * ATR`` and ``target = entry + d * 3 * ATR``,
where ATR is the *simple* mean of the 14 true ranges up to the signal bar (it depends on those
15 bars only, so the daemon's rings and a backtest's whole history give the same bits).

One step rule (:func:`_advance`) serves both ways of computing: :class:`OutcomeTracker`, a
bounded table of open signals stepped one closed bar at a time (O(1) per signal and bar), and
:func:`history_outcomes`, every signal of a symbol's history at once. Both write the same
state row (:data:`COLUMNS`), read back as an :class:`Outcome`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from kernels.jit import entry, inlined_loops

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Bars after the signal at which the forward return is taken.
HORIZONS: tuple[int, ...] = (1, 3, 6, 12, 24)
#: Bars an outcome follows (the longest horizon): then it is complete.
HORIZON = HORIZONS[-1]
#: Bars of the simple ATR the default levels are spaced with (it reads ``ATR_PERIOD + 1`` bars).
ATR_PERIOD = 14
#: Default levels in ATRs from the entry.
STOP_ATR = 1.5
TARGET_ATR = 3.0

#: ``touch`` codes.
NO_TOUCH, TARGET, STOP = 0, 1, 2
TOUCH_NAMES = ("none", "target", "stop")

#: Columns of a state row.
COLUMNS = (
    "entry",
    "direction",
    "stop",
    "target",
    "seen",
    "favourable",
    "adverse",
    "touch",
    "touch_bar",
    *(f"r{h}" for h in HORIZONS),
)
ENTRY, DIRECTION, STOP_LEVEL, TARGET_LEVEL, SEEN, FAV, ADV, TOUCH, TOUCH_BAR, R0 = range(10)
N_COLUMNS = len(COLUMNS)
_HORIZONS = np.asarray(HORIZONS, dtype=np.int64)


def direction_sign(direction: str) -> float:
    """+1.0 for ``"long"``, -1.0 for ``"short"``; anything else is a ValueError."""
    if direction == "long":
        return 1.0
    if direction == "short":
        return -1.0
    raise ValueError(f"direction must be 'long' or 'short', not {direction!r}")


@inlined_loops
def _advance(state, i, horizons, high, low, close):
    """Step state row ``i`` by its next closed bar (a no-op once complete)."""
    n = state[i, SEEN] + 1.0
    if n > horizons[-1]:
        return
    state[i, SEEN] = n
    d = state[i, DIRECTION]
    entry = state[i, ENTRY]
    fav = high if d > 0 else low
    adv = low if d > 0 else high
    if n == 1.0 or (fav - state[i, FAV]) * d > 0:
        state[i, FAV] = fav
    if n == 1.0 or (adv - state[i, ADV]) * d < 0:
        state[i, ADV] = adv
    for k in range(horizons.shape[0]):
        if n == horizons[k]:
            state[i, R0 + k] = d * (close / entry - 1.0)
    stop = state[i, STOP_LEVEL]
    target = state[i, TARGET_LEVEL]
    if state[i, TOUCH] == 0.0 and stop == stop and target == target:
        if (low <= stop) if d > 0 else (high >= stop):
            state[i, TOUCH] = 2.0
            state[i, TOUCH_BAR] = n
        elif (high >= target) if d > 0 else (low <= target):
            state[i, TOUCH] = 1.0
            state[i, TOUCH_BAR] = n


@entry
def advance_nb(state, rows, horizons, high, low, close):
    """Step ``state[rows[j]]`` by the bar ``(high[j], low[j], close[j])`` for every ``j``."""
    for j in range(rows.shape[0]):
        _advance(state, rows[j], horizons, high[j], low[j], close[j])


@entry
def history_nb(state, starts, horizons, high, low, close):
    """Step ``state[j]`` through the bars after ``starts[j]`` of one symbol's series (as many
    of the :data:`HORIZON` as the series holds)."""
    n_bars = close.shape[0]
    for j in range(starts.shape[0]):
        for t in range(starts[j] + 1, min(n_bars, starts[j] + 1 + horizons[-1])):
            _advance(state, j, horizons, high[t], low[t], close[t])


@inlined_loops
def _mean_true_range(high, low, close, t, period):
    if t < period or t >= close.shape[0]:
        return np.nan
    total = 0.0
    for k in range(t - period + 1, t + 1):
        prev = close[k - 1]
        total += max(high[k] - low[k], abs(high[k] - prev), abs(low[k] - prev))
    return total / period


@entry
def mean_true_range_nb(high, low, close, t, period):
    """The mean of the ``period`` true ranges of bars ``t - period + 1 .. t`` (each needs the
    close before it): NaN when the series has fewer bars before ``t``."""
    return _mean_true_range(high, low, close, t, period)


@entry
def start_nb(state, starts, directions, high, low, close, period, stop_atr, target_atr):
    """Start ``state[j]`` for a signal at bar ``starts[j]`` in direction ``directions[j]``
    (+1/-1) with ATR levels (:func:`atr_levels`, the same arithmetic); returns nothing, a row
    without an ATR has NaN levels."""
    for j in range(starts.shape[0]):
        t = starts[j]
        d = directions[j]
        entry = close[t]
        atr = _mean_true_range(high, low, close, t, period)
        for c in range(state.shape[1]):
            state[j, c] = np.nan
        state[j, ENTRY] = entry
        state[j, DIRECTION] = d
        state[j, SEEN] = 0.0
        state[j, TOUCH] = 0.0
        if atr == atr and atr > 0:
            state[j, STOP_LEVEL] = entry - d * stop_atr * atr
            state[j, TARGET_LEVEL] = entry + d * target_atr * atr


@attrs.frozen
class Levels:
    """Where a signal's target and stop are, and where they came from."""

    stop: float
    target: float
    #: ``"analysis"`` (the analyst's key levels), ``"atr"`` or ``"none"`` (no levels: too
    #: little history before the signal for an ATR).
    source: str

    @classmethod
    def none(cls) -> Levels:
        """No levels: nothing is touched."""
        return cls(math.nan, math.nan, "none")

    @classmethod
    def checked(cls, entry: float, direction: str, stop: float, target: float) -> Levels | None:
        """Levels given by someone else (the analysis), if they make sense for the direction
        (long: ``stop < entry < target``; short: ``target < entry < stop``); else None."""
        d = direction_sign(direction)
        values = (entry, stop, target)
        if not all(isinstance(v, float) and math.isfinite(v) for v in values):
            return None
        if (entry - stop) * d > 0 and (target - entry) * d > 0:
            return cls(stop, target, "analysis")
        return None


def atr_levels(high: F64, low: F64, close: F64, t: int, direction: str) -> Levels:
    """The default levels of a signal at bar ``t`` (module docstring); ``Levels.none()`` with
    fewer than ``ATR_PERIOD`` bars before ``t``."""
    return levels_from_atr(
        float(mean_true_range_nb(high, low, close, t, ATR_PERIOD)),
        float(close[t]),
        direction,
    )


def levels_from_atr(atr: float, entry: float, direction: str) -> Levels:
    """The default levels around ``entry`` (the signal bar's close) for an ``atr``
    (module docstring); ``Levels.none()`` when it is not a positive number."""
    if not math.isfinite(atr) or atr <= 0:
        return Levels.none()
    d = direction_sign(direction)
    return Levels(entry - d * STOP_ATR * atr, entry + d * TARGET_ATR * atr, "atr")


def _opt(v: float) -> float | None:
    return None if v != v else v


@attrs.frozen
class Outcome:
    """A signal's outcome so far (complete after :data:`HORIZON` bars)."""

    direction: str
    entry: float
    stop: float | None
    target: float | None
    levels: str
    #: Bars seen after the signal bar (0 .. HORIZON).
    bars: int
    #: Forward return at each of :data:`HORIZONS` (None until that bar closed).
    returns: tuple[float | None, ...]
    mfe: float | None
    mae: float | None
    #: ``"target"``, ``"stop"`` or ``"none"`` (neither yet).
    touch: str
    #: Bar (1 .. HORIZON) of the first touch, None without one.
    touch_bar: int | None

    @property
    def complete(self) -> bool:
        """Every horizon's bar has closed."""
        return self.bars >= HORIZON

    @property
    def trade_return(self) -> float | None:
        """The return of a trade taken at the signal: out at the level touched first, else
        at the last horizon's close; None while neither happened."""
        d = direction_sign(self.direction)
        if self.touch == "target" and self.target is not None:
            return d * (self.target / self.entry - 1.0)
        if self.touch == "stop" and self.stop is not None:
            return d * (self.stop / self.entry - 1.0)
        return self.returns[-1] if self.complete else None

    @classmethod
    def from_state(cls, row: F64, levels: str) -> Outcome:
        """Read a state row (:data:`COLUMNS`)."""
        v: list[float] = row.tolist()
        d, entry, seen, touch = v[DIRECTION], v[ENTRY], int(v[SEEN]), int(v[TOUCH])
        mfe = d * (v[FAV] / entry - 1.0) if seen else math.nan
        mae = d * (v[ADV] / entry - 1.0) if seen else math.nan
        return cls(
            "long" if d > 0 else "short",
            entry,
            _opt(v[STOP_LEVEL]),
            _opt(v[TARGET_LEVEL]),
            levels,
            seen,
            tuple([None if r != r else r for r in v[R0 : R0 + len(HORIZONS)]]),
            _opt(mfe),
            _opt(mae),
            TOUCH_NAMES[touch],
            int(v[TOUCH_BAR]) if touch else None,
        )

    @classmethod
    def from_states(cls, block: F64, levels: Sequence[str]) -> list[Outcome]:
        """:meth:`from_state` of each row of ``block`` (with its ``levels`` source), the
        excursions computed for all rows at once (the same arithmetic, so the same bits)."""
        mfe_, mae_ = excursions(block)
        mfe, mae = mfe_.tolist(), mae_.tolist()
        found = []
        n = len(HORIZONS)
        for v, fav, adv, source in zip(block.tolist(), mfe, mae, levels, strict=True):
            touch = int(v[TOUCH])
            found.append(
                cls(
                    "long" if v[DIRECTION] > 0 else "short",
                    v[ENTRY],
                    _opt(v[STOP_LEVEL]),
                    _opt(v[TARGET_LEVEL]),
                    source,
                    int(v[SEEN]),
                    tuple([None if r != r else r for r in v[R0 : R0 + n]]),
                    _opt(fav),
                    _opt(adv),
                    TOUCH_NAMES[touch],
                    int(v[TOUCH_BAR]) if touch else None,
                )
            )
        return found

    def to_json(self) -> dict[str, object]:
        """JSON-ready (``returns`` keyed by horizon: ``{"1": ..., "24": ...}``)."""
        return {
            "direction": self.direction,
            "entry": self.entry,
            "stop": self.stop,
            "target": self.target,
            "levels": self.levels,
            "bars": self.bars,
            "complete": self.complete,
            "returns": {str(h): r for h, r in zip(HORIZONS, self.returns, strict=True)},
            "mfe": self.mfe,
            "mae": self.mae,
            "touch": self.touch,
            "touchBar": self.touch_bar,
            "tradeReturn": self.trade_return,
        }


def excursions(block: F64) -> tuple[F64, F64]:
    """Per state row of ``block``: the MFE and MAE of its :class:`Outcome` (NaN before its
    first bar), computed for all rows at once."""
    d, entry_, seen = block[:, DIRECTION], block[:, ENTRY], block[:, SEEN]
    with np.errstate(divide="ignore", invalid="ignore"):
        mfe: F64 = np.where(seen > 0, d * (block[:, FAV] / entry_ - 1.0), np.nan)
        mae: F64 = np.where(seen > 0, d * (block[:, ADV] / entry_ - 1.0), np.nan)
    return mfe, mae


def trade_returns(block: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Per state row of ``block``: its :class:`Outcome`'s :attr:`~Outcome.trade_return` (the
    same arithmetic, so the same bits) and whether it has one (False where that is None; a
    trade return that is NaN is one)."""
    d = np.where(block[:, DIRECTION] > 0, 1.0, -1.0)
    entry_, touch = block[:, ENTRY], block[:, TOUCH]
    stop, target = block[:, STOP_LEVEL], block[:, TARGET_LEVEL]
    at_target = (touch == TARGET) & (target == target)
    at_stop = ~at_target & (touch == STOP) & (stop == stop)
    last = block[:, R0 + len(HORIZONS) - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        found: F64 = np.where(
            at_target,
            d * (target / entry_ - 1.0),
            np.where(at_stop, d * (stop / entry_ - 1.0), last),
        )
    known = at_target | at_stop | ((block[:, SEEN] >= HORIZON) & (last == last))
    return found, known


def new_state(n: int) -> F64:
    """``n`` empty state rows."""
    return np.full((n, N_COLUMNS), np.nan)


def _start(state: F64, i: int, entry: float, d: float, levels: Levels) -> None:
    state[i] = np.nan
    state[i, ENTRY] = entry
    state[i, DIRECTION] = d
    state[i, STOP_LEVEL] = levels.stop
    state[i, TARGET_LEVEL] = levels.target
    state[i, SEEN] = 0.0
    state[i, TOUCH] = 0.0


def history_outcomes(
    high: F64, low: F64, close: F64, starts: I64, directions: Sequence[str]
) -> list[Outcome]:
    """The outcome of a signal at each bar ``starts[j]`` of one symbol's series (in the
    direction ``directions[j]``, ATR levels), from the bars after it that the series holds."""
    state = new_state(len(starts))
    starts = starts.astype(np.int64)
    signs = np.asarray([direction_sign(d) for d in directions], dtype=np.float64)
    start_nb(state, starts, signs, high, low, close, ATR_PERIOD, STOP_ATR, TARGET_ATR)
    history_nb(state, starts, _HORIZONS, high, low, close)
    sources = np.where(np.isnan(state[:, STOP_LEVEL]), "none", "atr").tolist()
    return [Outcome.from_state(state[j], sources[j]) for j in range(len(starts))]


class TrackerFull(Exception):
    """Every row of an :class:`OutcomeTracker` is taken."""


class OutcomeTracker:
    """Open signals' outcomes, stepped one closed bar at a time: at most ``capacity`` rows
    (its memory is fixed: ``capacity * N_COLUMNS`` floats)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.state = new_state(capacity)
        self._levels: list[str] = ["none"] * capacity
        self._free = list(range(capacity - 1, -1, -1))

    def __len__(self) -> int:
        return self.capacity - len(self._free)

    def open(self, entry: float, direction: str, levels: Levels) -> int:
        """A row for a new signal entering at ``entry``; raises :class:`TrackerFull`."""
        if not self._free:
            raise TrackerFull(f"{self.capacity} signals are followed already")
        row = self._free.pop()
        _start(self.state, row, entry, direction_sign(direction), levels)
        self._levels[row] = levels.source
        return row

    def open_many(
        self, entries: F64, signs: F64, stops: F64, targets: F64, sources: Sequence[str]
    ) -> list[int]:
        """:meth:`open` for each signal given (``signs``: +1 long, -1 short; NaN levels: none)
        while rows are free, in one write of the state: the rows :meth:`open` would give them
        one by one; fewer than given when the tracker is full."""
        n = min(len(entries), len(self._free))
        if n == 0:
            return []
        rows = self._free[-n:][::-1]
        del self._free[-n:]
        block = np.full((n, N_COLUMNS), np.nan)
        block[:, ENTRY] = entries[:n]
        block[:, DIRECTION] = signs[:n]
        block[:, STOP_LEVEL] = stops[:n]
        block[:, TARGET_LEVEL] = targets[:n]
        block[:, SEEN] = 0.0
        block[:, TOUCH] = 0.0
        self.state[rows] = block
        for row, source in zip(rows, sources, strict=False):
            self._levels[row] = source
        return rows

    def restart(self, row: int, levels: Levels) -> None:
        """Start ``row`` over with other levels (its bars are then stepped again)."""
        entry, d = float(self.state[row, ENTRY]), float(self.state[row, DIRECTION])
        _start(self.state, row, entry, d, levels)
        self._levels[row] = levels.source

    def seen(self, row: int) -> int:
        """Bars ``row`` has been stepped by."""
        return int(self.state[row, SEEN])

    def progress(self, rows: I64) -> tuple[I64, I64]:
        """Per row of ``rows``: bars stepped by, and what it touched first (a
        :data:`TOUCH_NAMES` index)."""
        seen: I64 = self.state[rows, SEEN].astype(np.int64)
        touch: I64 = self.state[rows, TOUCH].astype(np.int64)
        return seen, touch

    def advance(self, rows: I64, high: F64, low: F64, close: F64) -> None:
        """Step each of ``rows`` (distinct) by its next closed bar."""
        advance_nb(self.state, rows, _HORIZONS, high, low, close)

    def outcome(self, row: int) -> Outcome:
        """``row``'s outcome so far."""
        return Outcome.from_state(self.state[row], self._levels[row])

    def outcomes(self, rows: I64) -> list[Outcome]:
        """:meth:`outcome` of each of ``rows``, read at once."""
        return Outcome.from_states(*self.read(rows))

    def read(self, rows: I64) -> tuple[F64, list[str]]:
        """A copy of the state rows ``rows`` and the source of each one's levels (what
        :meth:`outcomes` reads them from)."""
        levels = self._levels
        return self.state[rows], [levels[r] for r in rows.tolist()]

    def release(self, rows: int | list[int]) -> None:
        """Free ``rows`` (their signals are complete or gone; the next :meth:`open` takes the
        last one freed first)."""
        self.state[rows] = np.nan
        if isinstance(rows, int):
            self._free.append(rows)
        else:
            self._free.extend(rows)
