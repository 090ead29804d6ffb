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

from kernels.bar_grid import BarGrid, ext_history
from kernels.columns import run_columns, stream_columns
from kernels.fired import U8, scan_values
from kernels.fires import Fire, Fires, TimeframeFires
from kernels.graph import F64, I64, Layout
from kernels.interp import outputs
from kernels.klines_csv import Klines
from kernels.ops import CLOSE
from kernels.program import Program, TraderPlan
from kernels.warmth import Warmth

__all__ = ["Fire", "Fires", "evaluate", "run_backtest"]

ProgressFn = Callable[[int, int], None]

#: Node steps (symbols × bars × nodes) below which a second thread costs more than it saves.
MIN_THREAD_WORK = 200_000


def default_threads() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@attrs.frozen(eq=False)
class _Grids:
    """What stepping every timeframe shares: each timeframe's symbols (their rows), its time
    grid and bars, its layout, and the nodes other timeframes read of it."""

    slot: Mapping[str, Mapping[str, int]]
    grids: Mapping[str, BarGrid]
    layouts: Mapping[str, Layout]
    exported: Mapping[str, list[int]]

    @classmethod
    def of(cls, program: Program, data: Mapping[str, Mapping[str, Klines]]) -> _Grids:
        symbols = sorted({s for per_tf in data.values() for s in per_tf})
        for tf in program.timeframes:
            if tf not in data:
                raise ValueError(f"the traders need {tf} klines; none were given")
        slot = {
            tf: {s: i for i, s in enumerate(s for s in symbols if s in data[tf])}
            for tf in program.timeframes
        }
        grids = {tf: BarGrid.of(data[tf], list(slot[tf])) for tf in program.timeframes}
        exported: dict[str, list[int]] = {tf: [] for tf in program.timeframes}
        for tf in program.timeframes:
            for src_tf, node in program.exts[tf].sources:
                if node not in exported[src_tf]:
                    exported[src_tf].append(node)
        return cls(slot, grids, program.layouts(), exported)


#: ``step(tf, ext, progress)``: step timeframe ``tf`` (other timeframes' values ``ext``) and
#: return the values of its exported nodes at every step, ``float64[n_sym, n_t, n_exported]``.
StepFn = Callable[[str, F64, Callable[[int], None]], F64]


def _step_timeframes(
    program: Program, g: _Grids, step: StepFn, progress: ProgressFn | None
) -> None:
    """``step`` every timeframe, longest first, each seeing the exported values of those
    before it; ``progress(done, total)`` counts bars of every timeframe."""
    total = sum(len(g.grids[tf].times) for tf in program.timeframes)
    done = 0
    history: dict[str, F64] = {}
    for tf in program.timeframes:
        ext = ext_history(program, tf, g.grids, g.slot, history, g.exported)
        n_sym, n_t = g.grids[tf].n_symbols, len(g.grids[tf].times)

        def report(done_sym: int, before: int = done, n_sym: int = n_sym, n_t: int = n_t) -> None:
            if progress is not None:
                progress(before + n_t * done_sym // max(n_sym, 1), total)

        history[tf] = step(tf, ext, report)
        done += n_t
    if progress is not None:
        progress(total, total)


def _columns(program: Program, tf: str, exported: list[int]) -> tuple[I64, list[Explained]]:
    """Output columns of ``tf`` (:func:`kernels.interp.outputs`): first the nodes other
    timeframes read, then every trader's root in trader id order (one column each, for
    :func:`kernels.fired.scan`), then each trader's clauses and operands gated by its root
    (they are read only where it matched). Returns them, and per trader (id order) the
    columns its explanation reads."""
    plans = sorted((p for p in program.traders.values() if p.timeframe == tf), key=lambda p: p.id)
    nodes: list[int] = list(exported)
    col = {node: i for i, node in enumerate(nodes)}
    roots = [len(nodes) + i for i in range(len(plans))]
    nodes.extend(p.root for p in plans)
    for plan, root in zip(plans, roots, strict=True):
        col.setdefault(plan.root, root)
    gates = [-1] * len(nodes)
    explained = []
    for plan, root in zip(plans, roots, strict=True):
        mine = {**col, plan.root: root}
        wanted: list[int] = []
        for clause in plan.clauses:
            for node in (clause.node, *(o.node for o in clause.operands)):
                if node not in mine:
                    mine[node] = len(nodes)
                    nodes.append(node)
                    gates.append(root)
                wanted.append(node)
        read = list(dict.fromkeys(wanted))
        explained.append(Explained([mine[n] for n in read], {n: i for i, n in enumerate(read)}))
    return outputs(nodes, gates), explained


@attrs.frozen
class Explained:
    """The output columns a trader's explanation reads, and each node's place among them."""

    columns: list[int]
    local: dict[int, int]


def _threads(threads: int | None, work: int) -> int:
    return 1 if work < MIN_THREAD_WORK else (threads or default_threads())


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
    goes; ``threads`` defaults to the CPUs this process may use.

    Each timeframe is stepped in column mode (:func:`kernels.columns.stream_columns`) and
    each group of symbols scanned for its fires as soon as it is stepped (the live firing
    rules, :func:`kernels.fired.scan`), keeping only the fires' explanation values: the
    outputs at every bar are never held."""
    g = _Grids.of(program, data)
    warm = Warmth(program, g.grids, g.slot, g.layouts)
    parts = []

    def step(tf: str, ext: F64, report: Callable[[int], None]) -> F64:
        grid = g.grids[tf]
        shape = (grid.n_symbols, len(grid.times))
        outs, explained = _columns(program, tf, g.exported[tf])
        traders = sorted((p for p in program.traders.values() if p.timeframe == tf), key=_id)
        cooldown = [p.definition.cooldown_or(cooldown_bars) for p in traders]
        collect = _Collector.of(tf, traders, explained, len(g.exported[tf]), shape, warm)
        collect.cooldown = np.asarray(cooldown, dtype=np.int64)
        lay = g.layouts[tf]
        work = shape[0] * shape[1] * lay.n_nodes
        stream_columns(
            lay,
            grid.rows,
            shape,
            ext,
            outs,
            collect,
            threads=_threads(threads, work),
            progress=report,
        )
        parts.append(collect.fires(g))
        return collect.history

    _step_timeframes(program, g, step, progress)
    return Fires(parts)


def _id(plan: TraderPlan) -> str:
    return plan.id


def evaluate(
    program: Program,
    trader_id: str,
    data: Mapping[str, Mapping[str, Klines]],
    *,
    threads: int | None = None,
) -> dict[str, tuple[I64, F64]]:
    """Values of trader ``trader_id``'s whole expression at every bar of its timeframe, per
    symbol: ``(open_times, values)`` with NaN where the symbol is still warming up."""
    g = _Grids.of(program, data)
    plan = program.traders[trader_id]
    tf = plan.timeframe
    root: list[F64] = []

    def step(step_tf: str, ext: F64, report: Callable[[int], None]) -> F64:
        bars = g.grids[step_tf].stacked()
        exported = g.exported[step_tf]
        nodes = [*exported, *([plan.root] if step_tf == tf else [])]
        lay = g.layouts[step_tf]
        work = bars.shape[0] * bars.shape[1] * lay.n_nodes
        out = run_columns(
            lay, bars, ext, outputs(nodes), threads=_threads(threads, work), progress=report
        )
        if step_tf == tf:
            root.append(out[:, :, len(exported)])
        return out[:, :, : len(exported)]

    _step_timeframes(program, g, step, None)
    times, present = g.grids[tf].times, g.grids[tf].present
    warm = Warmth(program, g.grids, g.slot, g.layouts).of(trader_id)
    values = np.where(warm, root[0], np.nan)
    return {s: (times[present[i]], values[i, present[i]]) for s, i in g.slot[tf].items()}


@attrs.define(eq=False)
class _Collector:
    """The sink of a timeframe's column run (:func:`kernels.columns.stream_columns`): per
    group of symbols, the exported values kept, the fires found (:func:`kernels.fired.scan`)
    and each fire's explanation values taken; called from several threads at once."""

    timeframe: str
    traders: list[TraderPlan]
    explained: list[Explained]
    #: Per trader (rows padded with column 0): the columns its explanation reads.
    columns: I64
    history: F64
    counts: I64
    need: I64
    others: U8 | None
    #: Per trader: its cooldown in bars.
    cooldown: I64 = attrs.field(factory=lambda: np.zeros(0, dtype=np.int64))
    found: list[tuple[I64, I64, I64, F64, F64]] = attrs.field(factory=list)

    @classmethod
    def of(
        cls,
        tf: str,
        traders: list[TraderPlan],
        explained: list[Explained],
        n_exported: int,
        shape: tuple[int, int],
        warmth: Warmth,
    ) -> _Collector:
        counts = warmth.counts[tf]
        need = np.asarray([warmth.own(p.id) for p in traders], dtype=np.int64)
        lacking = [warmth.others(p.id) for p in traders]
        others = None
        if any(ok is not None for ok in lacking):
            others = np.ones((*counts.shape, len(traders)), dtype=np.uint8)
            for i, ok in enumerate(lacking):
                if ok is not None:
                    others[:, :, i] = ok
        width = max([1, *(len(e.columns) for e in explained)])
        columns = np.zeros((max(1, len(traders)), width), dtype=np.int64)
        for i, e in enumerate(explained):
            columns[i, : len(e.columns)] = e.columns
        history = np.empty((*shape, n_exported))
        return cls(tf, traders, explained, columns, history, counts, need, others)

    def __call__(self, lo: int, hi: int, out: F64, bars: F64) -> None:
        n_exported = self.history.shape[2]
        if n_exported:
            self.history[lo:hi] = out[:, :, :n_exported]
        if not self.traders:
            return
        others = None if self.others is None else self.others[lo:hi]
        counts = self.counts[lo:hi]
        fired, values = scan_values(
            out, n_exported, counts, self.need, others, self.cooldown, self.columns
        )
        if len(fired):
            s, t = fired[:, 0], fired[:, 1]
            price = bars[s, t, CLOSE]
            self.found.append((s + lo, t, fired[:, 2], values, price))

    def fires(self, g: _Grids) -> TimeframeFires:
        """Every fire found, ordered by step, trader id and symbol (symbols are in name
        order), as :class:`~kernels.fires.Fires` wants them."""
        tf = self.timeframe
        found = self.found
        symbol = _joined([f[0] for f in found])
        step = _joined([f[1] for f in found])
        trader = _joined([f[2] for f in found])
        values = (
            np.concatenate([f[3] for f in found]) if found else np.zeros((0, self.columns.shape[1]))
        )
        price = np.concatenate([f[4] for f in found]) if found else np.zeros(0)
        order = _order((step * len(self.traders) + trader) * len(self.counts) + symbol)
        names = {i: s for s, i in g.slot[tf].items()}
        # The values stay where they were found: each fire points at its row.
        return TimeframeFires(
            tf,
            self.traders,
            [names[i] for i in range(len(names))],
            g.grids[tf].times,
            price,
            values,
            [e.local for e in self.explained],
            trader[order],
            symbol[order],
            step[order],
            order,
        )


def _order(key: I64) -> I64:
    """``np.argsort(key)`` of unique keys: with each key's index in its low digits, a plain
    sort of the keys (no indirection, cheaper) when they fit in 62 bits."""
    n = len(key)
    if n == 0 or int(key.max()) >= (1 << 62) // n:
        return np.argsort(key)
    order: I64 = np.sort(key * n + np.arange(n)) % n
    return order


def _joined(arrays: list[I64]) -> I64:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
