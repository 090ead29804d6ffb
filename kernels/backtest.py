"""Backtests: the live plan stepped through history, bar by bar, with the live firing rules.

Timeframes are processed longest first; a trader's ``on("1h", ...)`` reads, at each of its
bars, the 1 h value at the last 1 h bar closed by that bar's close — what the live screener
sees at that instant.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import attrs
import numpy as np
import numpy.typing as npt

from kernels.graph import F64, I64, Layout
from kernels.group import GroupState
from kernels.klines_csv import Klines
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import Program, TraderPlan
from kernels.timeframes import timeframe_ms

#: Bars stepped per interpreter call (bounds the memory of gathered outputs).
CHUNK = 512


@attrs.frozen
class Fire:
    """One signal a trader would have produced.

    The "why it fired" (``matched``, ``clauses``) is read from the gathered outputs when first
    asked for: a backtest over months can fire tens of thousands of times.
    """

    trader_id: str
    symbol: str
    timeframe: str
    open_time: int
    price: float
    _plan: TraderPlan = attrs.field(repr=False, eq=False)
    _row: F64 = attrs.field(repr=False, eq=False)
    _col: Mapping[int, int] = attrs.field(repr=False, eq=False)

    @functools.cached_property
    def clauses(self) -> Mapping[str, Mapping[str, object]]:
        """clause label -> ``{"held": bool, "values": {operand label: value}}``."""
        found: dict[str, dict[str, object]] = {}
        for clause in self._plan.clauses:
            found[clause.label] = {
                "held": bool(self._row[self._col[clause.node]] == 1.0),
                "values": {o.label: _value(self._row[self._col[o.node]]) for o in clause.operands},
            }
        return found

    @functools.cached_property
    def matched(self) -> tuple[str, ...]:
        """Labels of the clauses that held."""
        return tuple(label for label, c in self.clauses.items() if c["held"])


@attrs.frozen
class Series:
    """Values of traders' filters at every bar (``vyx eval``-style output)."""

    open_time: I64
    #: float64[n_sym, n_t, n_out]
    values: F64


def _grid(data: Mapping[str, Klines], symbols: list[str]) -> tuple[I64, F64]:
    times = np.unique(np.concatenate([data[s].open_time for s in symbols]))
    bars = np.full((len(symbols), len(times), N_BAR_FIELDS), np.nan)
    for i, s in enumerate(symbols):
        idx = np.searchsorted(times, data[s].open_time)
        bars[i, idx] = data[s].bars
    bars[np.isnan(bars[:, :, 3]), OPEN_TIME] = np.nan
    return times.astype(np.int64), bars


ProgressFn = Callable[[int, int], None]


@attrs.frozen(eq=False)
class Simulation:
    """Outputs of a plan stepped through history: per timeframe, the time grid, the bars and
    the gathered node outputs ``float64[n_sym, n_t, n_out]`` (columns by node in ``col``)."""

    grids: Mapping[str, tuple[I64, F64]]
    slot: Mapping[str, Mapping[str, int]]
    gathered: Mapping[str, F64]
    col: Mapping[str, Mapping[int, int]]
    layouts: Mapping[str, Layout]


def _symbol_ranges(n_sym: int, threads: int) -> list[tuple[int, int]]:
    n = max(1, min(threads, n_sym // 8))
    bounds = np.linspace(0, n_sym, n + 1).astype(int).tolist()
    return list(itertools.pairwise(bounds))


def _step(
    state: GroupState, gathered: F64, out_nodes: I64, a: int, bars: F64, ext: F64, lo: int, hi: int
) -> None:
    """Step symbols ``lo..hi-1`` through a chunk of bars starting at bar ``a``."""
    gathered[lo:hi, a : a + bars.shape[1]] = state.run(
        bars[lo:hi], lo=lo, hi=hi, ext=ext[lo:hi], out_nodes=out_nodes
    )


def simulate(
    program: Program,
    data: Mapping[str, Mapping[str, Klines]],
    *,
    progress: ProgressFn | None = None,
    threads: int = min(2, os.cpu_count() or 1),
) -> Simulation:
    """Step ``program`` through ``data`` (timeframe -> symbol -> klines) from the first bar,
    longest timeframe first, gathering every trader's root, clause and operand nodes."""
    layouts = program.layouts()
    symbols = sorted({s for per_tf in data.values() for s in per_tf})
    for tf in program.timeframes:
        if tf not in data:
            raise ValueError(f"the traders need {tf} klines; none were given")
    grids = {
        tf: _grid(data[tf], [s for s in symbols if s in data[tf]]) for tf in program.timeframes
    }
    slot = {tf: {s: i for i, s in enumerate(s for s in symbols if s in data[tf])} for tf in grids}
    total = sum(len(grids[tf][0]) for tf in program.timeframes)
    done = 0
    # Nodes other timeframes read, per source timeframe.
    exported: dict[str, list[int]] = {tf: [] for tf in program.timeframes}
    for tf in program.timeframes:
        for src_tf, node in program.exts[tf].sources:
            if node not in exported[src_tf]:
                exported[src_tf].append(node)
    history: dict[str, F64] = {}
    gathered_by_tf: dict[str, F64] = {}
    col_by_tf: dict[str, dict[int, int]] = {}
    for tf in program.timeframes:
        times, bars = grids[tf]
        outs: list[int] = list(exported[tf])
        for plan in program.traders.values():
            if plan.timeframe != tf:
                continue
            outs.append(plan.root)
            for clause in plan.clauses:
                outs.append(clause.node)
                outs.extend(o.node for o in clause.operands)
        col_by_tf[tf] = {node: i for i, node in reversed(list(enumerate(outs)))}
        ext = _ext_history(program, tf, times, grids, slot, history, exported)
        state = GroupState(layouts[tf], bars.shape[0], ext.shape[2])
        out_nodes = np.asarray(outs, dtype=np.int64)
        n_sym, n_t = bars.shape[0], bars.shape[1]
        gathered = np.empty((n_sym, n_t, len(outs)))
        # Symbols are independent: halves of them step in parallel threads (the interpreter
        # releases the GIL).
        ranges = _symbol_ranges(n_sym, threads)
        for a in range(0, n_t, CHUNK):
            b = min(n_t, a + CHUNK)
            step = functools.partial(
                _step,
                state,
                gathered,
                out_nodes,
                a,
                np.ascontiguousarray(bars[:, a:b]),
                np.ascontiguousarray(ext[:, a:b]),
            )
            if len(ranges) == 1:
                step(*ranges[0])
            else:
                with ThreadPoolExecutor(len(ranges)) as pool:
                    list(pool.map(step, *zip(*ranges, strict=True)))
            done += b - a
            if progress is not None:
                progress(done, total)
        history[tf] = gathered[:, :, : len(exported[tf])]
        gathered_by_tf[tf] = gathered
    return Simulation(grids, slot, gathered_by_tf, col_by_tf, layouts)


def run_backtest(
    program: Program,
    data: Mapping[str, Mapping[str, Klines]],
    *,
    cooldown_bars: int = 0,
    progress: ProgressFn | None = None,
) -> list[Fire]:
    """Every signal ``program``'s traders would have fired over ``data`` (timeframe ->
    symbol -> klines), in time order. ``progress(done, total)`` is called per chunk."""
    sim = simulate(program, data, progress=progress)
    fired: list[Fire] = []
    for tf in program.timeframes:
        times, bars = sim.grids[tf]
        traders = [p for p in program.traders.values() if p.timeframe == tf]
        fired.extend(
            _fires(
                program,
                tf,
                traders,
                times,
                bars,
                sim.gathered[tf],
                sim.col[tf],
                sim.slot,
                cooldown_bars,
                sim.grids,
                sim.layouts,
            )
        )
    fired.sort(key=lambda f: (f.open_time, f.trader_id, f.symbol))
    return fired


def evaluate(
    program: Program,
    trader_id: str,
    data: Mapping[str, Mapping[str, Klines]],
) -> dict[str, tuple[I64, F64]]:
    """Values of trader ``trader_id``'s whole expression at every bar of its timeframe, per
    symbol: ``(open_times, values)`` with NaN where the symbol is still warming up."""
    sim = simulate(program, data)
    plan = program.traders[trader_id]
    tf = plan.timeframe
    times, _ = sim.grids[tf]
    warm = _warm(program, trader_id, tf, times, sim.grids, sim.slot, sim.layouts)
    values = np.where(warm, sim.gathered[tf][:, :, sim.col[tf][plan.root]], np.nan)
    present = _present(sim.grids[tf][1])
    return {s: (times[present[i]], values[i, present[i]]) for s, i in sim.slot[tf].items()}


def _ext_history(
    program: Program,
    tf: str,
    times: I64,
    grids: Mapping[str, tuple[I64, F64]],
    slot: Mapping[str, Mapping[str, int]],
    history: Mapping[str, F64],
    exported: Mapping[str, list[int]],
) -> F64:
    sources = program.exts[tf].sources
    n_sym = len(slot[tf])
    ext = np.full((n_sym, len(times), max(1, len(sources))), np.nan)
    close = times + timeframe_ms(tf)
    for k, (src_tf, node) in enumerate(sources):
        src_times = grids[src_tf][0]
        idx = np.searchsorted(src_times + timeframe_ms(src_tf), close, side="right") - 1
        col = exported[src_tf].index(node)
        for sym, i in slot[tf].items():
            j = slot[src_tf].get(sym)
            if j is None:
                continue
            vals = history[src_tf][j, :, col]
            ok = idx >= 0
            ext[i, ok, k] = vals[idx[ok]]
    return ext


def _present(bars: F64) -> npt.NDArray[np.bool_]:
    present: npt.NDArray[np.bool_] = ~np.isnan(bars[:, :, OPEN_TIME])
    return present


def _warm(
    program: Program,
    trader_id: str,
    tf: str,
    times: I64,
    grids: Mapping[str, tuple[I64, F64]],
    slot: Mapping[str, Mapping[str, int]],
    layouts: Mapping[str, Layout],
) -> npt.NDArray[np.bool_]:
    """Per symbol and bar: has the trader enough history on every timeframe it reads?"""
    needs = program.warmup(trader_id, layouts)
    bars = grids[tf][1]
    ok = np.cumsum(_present(bars), axis=1) >= needs[tf]
    close = times + timeframe_ms(tf)
    for src_tf, need in needs.items():
        if src_tf == tf:
            continue
        src_times, src_bars = grids[src_tf]
        idx = np.searchsorted(src_times + timeframe_ms(src_tf), close, side="right") - 1
        src_count = np.cumsum(_present(src_bars), axis=1)
        for sym, i in slot[tf].items():
            j = slot[src_tf].get(sym)
            if j is None:
                ok[i] = False
                continue
            counts = np.where(idx >= 0, src_count[j, np.maximum(idx, 0)], 0)
            ok[i] &= counts >= need
    return ok


def _fires(
    program: Program,
    tf: str,
    traders: list[TraderPlan],
    times: I64,
    bars: F64,
    gathered: F64,
    col: Mapping[int, int],
    slot: Mapping[str, Mapping[str, int]],
    cooldown_bars: int,
    grids: Mapping[str, tuple[I64, F64]],
    layouts: Mapping[str, Layout],
) -> list[Fire]:
    present = _present(bars)
    symbols = {i: s for s, i in slot[tf].items()}
    # Index of each symbol's previous present bar (gaps in its history are skipped over).
    steps = np.arange(present.shape[1])
    last_present = np.maximum.accumulate(np.where(present, steps, -1), axis=1)
    prev_index = np.full_like(last_present, -1)
    prev_index[:, 1:] = last_present[:, :-1]
    rows = np.arange(present.shape[0])[:, None]
    bar_index = np.cumsum(present, axis=1) - 1
    result: list[Fire] = []
    for plan in traders:
        warm = _warm(program, plan.id, tf, times, grids, slot, layouts)
        match = (gathered[:, :, col[plan.root]] == 1.0) & warm & present
        previous = np.where(prev_index >= 0, match[rows, np.maximum(prev_index, 0)], False)
        syms, ts = np.nonzero(match & ~previous)
        if cooldown_bars > 0:
            keep = np.ones(len(syms), dtype=bool)
            last: dict[int, int] = {}
            for k, (i, t) in enumerate(zip(syms.tolist(), ts.tolist(), strict=True)):
                n = int(bar_index[i, t])
                if i in last and n - last[i] < cooldown_bars:
                    keep[k] = False
                else:
                    last[i] = n
            syms, ts = syms[keep], ts[keep]
        price = bars[syms, ts, 3].tolist()
        opened = times[ts].tolist()
        for k, (i, t) in enumerate(zip(syms.tolist(), ts.tolist(), strict=True)):
            result.append(
                Fire(plan.id, symbols[i], tf, opened[k], price[k], plan, gathered[i, t], col)
            )
    return result


def _value(v: float) -> float | None:
    return None if np.isnan(v) else float(v)
