"""Preview: how a draft would have fired over the bars at hand, before it is saved.

The bars are the daemon's rings (:func:`snapshot`: the last ``n`` closed bars of every symbol,
copied on the Trio thread, since the market writes the rings there) or klines files. The draft
is backtested with the live plan and firing rules (:func:`kernels.backtest.run_backtest`:
edge-triggered, warm-up respected) in a worker thread, and summarised: how many times it
fired, on which symbols, the last few signals with their clause values, and which symbols are
still warming up (bars needed against bars held).
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Collection, Mapping, Sequence

import attrs
import numpy as np
import trio

from kernels.backtest import Fire, run_backtest
from kernels.klines_csv import Klines
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import Program
from kernels.ring import N_FIELDS, RingBuffer
from kernels.timeframes import TIMEFRAME_MS
from vyx.authoring.draft import Draft

#: Bars per symbol and timeframe a preview reads by default (the newest).
PREVIEW_BARS = 1000
#: Most bars per symbol and timeframe a preview may read.
MAX_PREVIEW_BARS = 10_000
#: Signals shown in full (the newest).
PREVIEW_SIGNALS = 5

Bars = Mapping[str, Mapping[str, Klines]]


@attrs.frozen
class PreviewSignal:
    """One signal the draft would have produced, with why."""

    symbol: str
    open_time: int
    price: float
    #: clause label -> ``{"held": bool, "values": {operand: value}}`` (like a live signal's).
    clauses: Mapping[str, Mapping[str, object]]


@attrs.frozen
class Preview:
    """What a draft would have done over the bars given."""

    #: Signals over every symbol (edge-triggered: a symbol starting to match).
    fires: int
    #: Signals per symbol, the busiest first (symbols that never fired left out).
    per_symbol: Mapping[str, int]
    #: The newest signals, oldest first.
    last: tuple[PreviewSignal, ...]
    #: Symbols looked at.
    symbols: int
    #: Bars per symbol held, per timeframe the draft reads (the most any symbol has).
    bars: Mapping[str, int]
    #: Bars per symbol the draft needs before it may fire, per timeframe.
    warmup: Mapping[str, int]
    #: Symbols with fewer bars than :attr:`warmup` on some timeframe: they cannot fire yet.
    warming_up: tuple[str, ...]
    #: Timeframes the draft reads with no bars at all (nothing could be previewed).
    missing: tuple[str, ...] = ()
    #: Time the backtest took.
    elapsed_ms: float = 0.0

    @property
    def warm(self) -> bool:
        """Some symbol has enough history for the draft to fire."""
        return not self.missing and len(self.warming_up) < self.symbols


def snapshot(
    rings: Mapping[str, RingBuffer],
    timeframes: tuple[str, ...],
    n: int = PREVIEW_BARS,
    symbols: Collection[str] | None = None,
) -> dict[str, dict[str, Klines]]:
    """The newest ``n`` closed bars of every symbol (or of ``symbols``) of each of
    ``timeframes`` (copies).

    Call it on the thread that writes the rings (the Trio thread in the daemon)."""
    n = max(1, min(n, MAX_PREVIEW_BARS))
    data: dict[str, dict[str, Klines]] = {}
    for tf in timeframes:
        ring = rings.get(tf)
        if ring is None:
            continue
        per_symbol: dict[str, Klines] = {}
        held = ring.symbols
        for symbol in held if symbols is None else [s for s in symbols if s in held]:
            times, values = ring.window(ring.slot(symbol), n)
            if len(times) == 0:
                continue
            bars = np.empty((len(times), N_BAR_FIELDS))
            bars[:, :N_FIELDS] = values.T
            bars[:, OPEN_TIME] = times
            per_symbol[symbol] = Klines(times.copy(), bars)
        data[tf] = per_symbol
    return data


def _signal(fire: Fire) -> PreviewSignal:
    return PreviewSignal(fire.symbol, fire.open_time, fire.price, fire.clauses)


def preview_bars(
    draft: Draft, data: Bars, *, signals: int = PREVIEW_SIGNALS, cooldown_bars: int = 0
) -> Preview:
    """Backtest ``draft`` over ``data`` (timeframe -> symbol -> klines), its signals at least
    ``cooldown_bars`` apart on a symbol, and summarise (CPU work: call it in a worker thread
    from async code)."""
    started = time.perf_counter()
    needs = dict(draft.warmup)
    timeframes = sorted(needs, key=TIMEFRAME_MS.__getitem__)
    symbols = sorted({s for tf in timeframes for s in data.get(tf, {})})
    held = {tf: max((len(k) for k in data.get(tf, {}).values()), default=0) for tf in timeframes}
    warming = tuple(
        s
        for s in symbols
        if any(len(data[tf][s]) < needs[tf] if s in data.get(tf, {}) else True for tf in needs)
    )
    missing = tuple(tf for tf in timeframes if not data.get(tf))
    fires: Sequence[Fire] = ()
    if not missing:
        program = Program([draft.definition()])
        fires = run_backtest(
            program, {tf: data[tf] for tf in timeframes}, cooldown_bars=cooldown_bars
        )
    counts = collections.Counter(f.symbol for f in fires)
    return Preview(
        fires=len(fires),
        per_symbol=dict(counts.most_common()),
        last=tuple(_signal(f) for f in fires[-signals:]) if signals > 0 else (),
        symbols=len(symbols),
        bars=held,
        warmup=needs,
        warming_up=warming,
        missing=missing,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


async def preview(
    draft: Draft,
    rings: Mapping[str, RingBuffer],
    *,
    bars: int = PREVIEW_BARS,
    signals: int = PREVIEW_SIGNALS,
) -> Preview:
    """Preview ``draft`` over the newest ``bars`` of every symbol in ``rings`` (timeframe ->
    ring). The rings are copied here, on the calling (Trio) thread; the backtest runs in a
    worker thread. Cancellation abandons the thread's result (it finishes in the background)."""
    data = snapshot(rings, draft.timeframes, bars)
    run = functools.partial(preview_bars, draft, data, signals=signals)
    return await trio.to_thread.run_sync(run, abandon_on_cancel=True)
