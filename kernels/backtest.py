"""Backtests and ``vyx eval``: the live plan stepped through history, with the live firing rules.

The plan runs in column mode (:mod:`kernels.columns`): the live interpreter, a block of bars per
node at a time, symbols split across threads; the outputs are bit for bit those of the live
screener. Timeframes are processed longest first; a trader's ``on("1h", ...)`` reads, at each
of its bars, the 1 h value at the last 1 h bar closed by that bar's close — what the live
screener sees at that instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import attrs
import numpy as np
import numpy.typing as npt

from kernels.columns import run_columns
from kernels.fired import scan
from kernels.fires import Fire, Fires, TimeframeFires
from kernels.graph import F64, I64, Layout
from kernels.interp import outputs
from kernels.klines_csv import Klines
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import Program, TraderPlan
from kernels.timeframes import timeframe_ms

__all__ = ["Fire", "Fires", "Simulation", "evaluate", "run_backtest", "simulate"]

B = npt.NDArray[np.bool_]
ProgressFn = Callable[[int, int], None]

#: Node steps (symbols × bars × nodes) below which a second thread costs more than it saves.
MIN_THREAD_WORK = 200_000


def default_threads() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _grid(data: Mapping[str, Klines], symbols: list[str]) -> tuple[I64, F64]:
    """Every open time any symbol has, and each symbol's bars on that grid (NaN where it has
    none: the interpreter steps nothing there)."""
    first = data[symbols[0]].open_time if symbols else np.zeros(0, dtype=np.int64)
    if all(np.array_equal(data[s].open_time, first) for s in symbols[1:]):
        times = first
        bars = np.stack([data[s].bars for s in symbols]) if symbols else np.empty((0, 0, 9))
    else:
        times = np.unique(np.concatenate([data[s].open_time for s in symbols]))
        bars = np.full((len(symbols), len(times), N_BAR_FIELDS), np.nan)
        for i, s in enumerate(symbols):
            bars[i, np.searchsorted(times, data[s].open_time)] = data[s].bars
    bars[np.isnan(bars[:, :, 3]), OPEN_TIME] = np.nan
    return times.astype(np.int64), bars


@attrs.frozen(eq=False)
class Simulation:
    """Outputs of a plan stepped through history: per timeframe, the time grid, the bars and
    the gathered node outputs ``float64[n_sym, n_t, n_out]``. ``col`` maps, per timeframe,
    the nodes gathered at every step (those other timeframes read, and every trader's whole
    filter) to their column; ``trader_col`` maps, per trader, every node of its explanation
    too: a trader's clause and operand columns hold values only where its filter matched."""

    grids: Mapping[str, tuple[I64, F64]]
    slot: Mapping[str, Mapping[str, int]]
    gathered: Mapping[str, F64]
    col: Mapping[str, Mapping[int, int]]
    trader_col: Mapping[str, Mapping[int, int]]
    layouts: Mapping[str, Layout]


def _columns(
    program: Program, tf: str, exported: list[int]
) -> tuple[I64, dict[int, int], dict[str, dict[int, int]]]:
    """Output columns of ``tf`` (:func:`kernels.interp.outputs`): first the nodes other
    timeframes read, then every trader's root in trader id order (one column each, for
    :func:`kernels.fired.scan`), then each trader's clauses and operands gated by its root.
    Returns them, the ungated columns by node and each trader's columns by node."""
    plans = sorted((p for p in program.traders.values() if p.timeframe == tf), key=lambda p: p.id)
    nodes: list[int] = list(dict.fromkeys(exported))
    col = {node: i for i, node in enumerate(nodes)}
    roots = [len(nodes) + i for i in range(len(plans))]
    nodes.extend(p.root for p in plans)
    for plan, root in zip(plans, roots, strict=True):
        col.setdefault(plan.root, root)
    gates = [-1] * len(nodes)
    trader_col: dict[str, dict[int, int]] = {}
    for plan, root in zip(plans, roots, strict=True):
        mine = {**col, plan.root: root}
        for clause in plan.clauses:
            for node in (clause.node, *(o.node for o in clause.operands)):
                if node not in mine:
                    mine[node] = len(nodes)
                    nodes.append(node)
                    gates.append(root)
        trader_col[plan.id] = mine
    return outputs(nodes, gates), col, trader_col


def _threads(threads: int | None, work: int) -> int:
    return 1 if work < MIN_THREAD_WORK else (threads or default_threads())


def simulate(
    program: Program,
    data: Mapping[str, Mapping[str, Klines]],
    *,
    progress: ProgressFn | None = None,
    threads: int | None = None,
) -> Simulation:
    """Step ``program`` through ``data`` (timeframe -> symbol -> klines) from the first bar,
    longest timeframe first, gathering every trader's root, clause and operand nodes.
    ``progress(done, total)`` counts bars of every timeframe; ``threads`` defaults to the
    CPUs this process may use."""
    layouts = program.layouts()
    symbols = sorted({s for per_tf in data.values() for s in per_tf})
    for tf in program.timeframes:
        if tf not in data:
            raise ValueError(f"the traders need {tf} klines; none were given")
    slot = {
        tf: {s: i for i, s in enumerate(s for s in symbols if s in data[tf])}
        for tf in program.timeframes
    }
    grids = {tf: _grid(data[tf], list(slot[tf])) for tf in program.timeframes}
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
    trader_col: dict[str, dict[int, int]] = {}
    for tf in program.timeframes:
        times, bars = grids[tf]
        outs, col_by_tf[tf], cols = _columns(program, tf, exported[tf])
        trader_col.update(cols)
        ext = _ext_history(program, tf, times, grids, slot, history, exported)
        n_sym, n_t = bars.shape[0], bars.shape[1]

        def report(done_sym: int, before: int = done, n_sym: int = n_sym, n_t: int = n_t) -> None:
            if progress is not None:
                progress(before + n_t * done_sym // max(n_sym, 1), total)

        gathered = run_columns(
            layouts[tf],
            bars,
            ext,
            outs,
            threads=_threads(threads, n_sym * n_t * layouts[tf].n_nodes),
            progress=report,
        )
        done += n_t
        history[tf] = gathered[:, :, : len(exported[tf])]
        gathered_by_tf[tf] = gathered
    if progress is not None:
        progress(total, total)
    return Simulation(grids, slot, gathered_by_tf, col_by_tf, trader_col, layouts)


def run_backtest(
    program: Program,
    data: Mapping[str, Mapping[str, Klines]],
    *,
    cooldown_bars: int = 0,
    progress: ProgressFn | None = None,
    threads: int | None = None,
) -> Fires:
    """Every signal ``program``'s traders would have fired over ``data`` (timeframe ->
    symbol -> klines), in time order, each trader at least its own cooldown apart on a
    symbol (:attr:`~kernels.program.TraderDef.cooldown`; ``cooldown_bars`` for a trader
    without one, as the live executor's default). ``progress(done, total)`` is called as it
    goes."""
    sim = simulate(program, data, progress=progress, threads=threads)
    warm = _Warmth(program, sim)
    parts = []
    for tf in program.timeframes:
        traders = [p for p in program.traders.values() if p.timeframe == tf]
        parts.append(_fires(tf, traders, sim, warm, cooldown_bars))
    return Fires(parts)


def evaluate(
    program: Program,
    trader_id: str,
    data: Mapping[str, Mapping[str, Klines]],
    *,
    threads: int | None = None,
) -> dict[str, tuple[I64, F64]]:
    """Values of trader ``trader_id``'s whole expression at every bar of its timeframe, per
    symbol: ``(open_times, values)`` with NaN where the symbol is still warming up."""
    sim = simulate(program, data, threads=threads)
    plan = program.traders[trader_id]
    tf = plan.timeframe
    times, bars = sim.grids[tf]
    warm = _Warmth(program, sim).of(trader_id)
    values = np.where(warm, sim.gathered[tf][:, :, sim.col[tf][plan.root]], np.nan)
    present = _present(bars)
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
    """Other timeframes' values as each bar of ``tf`` sees them (at the last bar of theirs
    closed by the bar's close)."""
    sources = program.exts[tf].sources
    n_sym = len(slot[tf])
    ext = np.full((n_sym, len(times), max(1, len(sources))), np.nan)
    close = times + timeframe_ms(tf)
    for k, (src_tf, node) in enumerate(sources):
        src_times = grids[src_tf][0]
        idx = np.searchsorted(src_times + timeframe_ms(src_tf), close, side="right") - 1
        mine, theirs = _common(slot[tf], slot[src_tf])
        values = history[src_tf][:, :, exported[src_tf].index(node)][theirs]
        seen = values[:, np.maximum(idx, 0)]
        seen[:, idx < 0] = np.nan
        if len(mine) == n_sym:  # every symbol (in order): a plain slice, not a scatter
            ext[:, :, k] = seen
        else:
            ext[mine, :, k] = seen
    return ext


def _common(a: Mapping[str, int], b: Mapping[str, int]) -> tuple[I64, I64]:
    """Rows in ``a`` and in ``b`` of the symbols both have."""
    both = [s for s in a if s in b]
    return (
        np.asarray([a[s] for s in both], dtype=np.int64),
        np.asarray([b[s] for s in both], dtype=np.int64),
    )


def _present(bars: F64) -> B:
    present: B = ~np.isnan(bars[:, :, OPEN_TIME])
    return present


class _Warmth:
    """Per symbol and bar, whether a trader has enough history on every timeframe it reads."""

    def __init__(self, program: Program, sim: Simulation) -> None:
        self.program = program
        self.sim = sim
        #: Per timeframe: has each symbol a bar at each step, and bars stepped up to it.
        self.present = {tf: _present(bars) for tf, (_, bars) in sim.grids.items()}
        self.counts = {tf: np.cumsum(p, axis=1, dtype=np.int64) for tf, p in self.present.items()}

    def own(self, trader_id: str) -> int:
        """Bars of its own timeframe the trader needs."""
        return self.program.warmup(trader_id, self.sim.layouts)[
            self.program.traders[trader_id].timeframe
        ]

    def others(self, trader_id: str) -> B | None:
        """Per symbol and step: enough history on the other timeframes it reads (None when
        it reads none)."""
        sim = self.sim
        needs = self.program.warmup(trader_id, sim.layouts)
        tf = self.program.traders[trader_id].timeframe
        if len(needs) == 1:
            return None
        times = sim.grids[tf][0]
        ok: B = np.ones(self.counts[tf].shape, dtype=bool)
        close = times + timeframe_ms(tf)
        for src_tf, need in needs.items():
            if src_tf == tf:
                continue
            src_times = sim.grids[src_tf][0]
            idx = np.searchsorted(src_times + timeframe_ms(src_tf), close, side="right") - 1
            mine, theirs = _common(sim.slot[tf], sim.slot[src_tf])
            lacking = np.ones(ok.shape[0], dtype=bool)
            lacking[mine] = False
            ok[lacking] = False
            counts = np.where(idx >= 0, self.counts[src_tf][theirs][:, np.maximum(idx, 0)], 0)
            ok[mine] &= counts >= need
        return ok

    def of(self, trader_id: str) -> B:
        """Per symbol and step of the trader's timeframe: warm enough to fire."""
        tf = self.program.traders[trader_id].timeframe
        ok: B = self.counts[tf] >= self.own(trader_id)
        others = self.others(trader_id)
        return ok if others is None else ok & others


def _fires(
    tf: str,
    traders: list[TraderPlan],
    sim: Simulation,
    warmth: _Warmth,
    cooldown_bars: int,
) -> TimeframeFires:
    """Every trader of ``tf``'s fires (:func:`kernels.fired.scan`), ordered by step, trader
    id and symbol (symbols are in name order), as :class:`~kernels.fires.Fires` wants them."""
    traders = sorted(traders, key=lambda p: p.id)
    times, bars = sim.grids[tf]
    counts = warmth.counts[tf]
    need = np.asarray([warmth.own(p.id) for p in traders], dtype=np.int64)
    cooldown = np.asarray([p.definition.cooldown_or(cooldown_bars) for p in traders], np.int64)
    others = None
    if any(len(sim.layouts) > 1 and warmth.others(p.id) is not None for p in traders):
        others = np.ones((*counts.shape, len(traders)), dtype=np.uint8)
        for i, plan in enumerate(traders):
            ok = warmth.others(plan.id)
            if ok is not None:
                others[:, :, i] = ok
    first = sim.trader_col[traders[0].id][traders[0].root] if traders else 0
    symbol, step, trader = scan(sim.gathered[tf], first, counts, need, others, cooldown).T
    # Into (step, trader id, symbol name) order: one integer key per fire.
    order = np.argsort((step * len(traders) + trader) * len(counts) + symbol, kind="stable")
    names = {i: s for s, i in sim.slot[tf].items()}
    return TimeframeFires(
        tf,
        traders,
        [names[i] for i in range(len(names))],
        times,
        bars,
        sim.gathered[tf],
        [sim.trader_col[p.id] for p in traders],
        trader[order],
        symbol[order],
        step[order],
    )
