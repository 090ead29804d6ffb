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

from kernels.bar_grid import BarGrid, ExtRows, ext_rows
from kernels.columns import Firing, Found, run_columns, stream_columns
from kernels.fires import Fire, Fires, TimeframeFires
from kernels.firing import FIRE_COOLDOWN, FIRE_NEED, FIRE_NODES, FIRE_ROOT
from kernels.graph import F64, I64, Layout
from kernels.interp import outputs
from kernels.klines_csv import Klines
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
StepFn = Callable[[str, ExtRows, Callable[[int], None]], F64]


def _step_timeframes(
    program: Program, g: _Grids, step: StepFn, progress: ProgressFn | None
) -> None:
    """``step`` every timeframe, longest first, each seeing the exported values of those
    before it; ``progress(done, total)`` counts bars of every timeframe."""
    total = sum(len(g.grids[tf].times) for tf in program.timeframes)
    done = 0
    history: dict[str, F64] = {}
    for tf in program.timeframes:
        ext = ext_rows(program, tf, g.grids, g.slot, history, g.exported)
        n_sym, n_t = g.grids[tf].n_symbols, len(g.grids[tf].times)

        def report(done_sym: int, before: int = done, n_sym: int = n_sym, n_t: int = n_t) -> None:
            if progress is not None:
                progress(before + n_t * done_sym // max(n_sym, 1), total)

        history[tf] = step(tf, ext, report)
        done += n_t
    if progress is not None:
        progress(total, total)


def _explained(plan: TraderPlan) -> Explained:
    """The nodes ``plan``'s explanation reads (its clauses and their operands)."""
    wanted = [
        node
        for clause in plan.clauses
        for node in (clause.node, *(o.node for o in clause.operands))
    ]
    read = list(dict.fromkeys(wanted))
    return Explained(read, {n: i for i, n in enumerate(read)})


@attrs.frozen
class Explained:
    """The nodes a trader's explanation reads, and each one's place among them (its column
    in the fires' values)."""

    nodes: list[int]
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

    Each timeframe is stepped in column mode (:func:`kernels.columns.stream_columns`), the
    interpreter applying the live firing rules after each block of bars it steps (*Fires* in
    :mod:`kernels.interp`) and keeping only the fires and their explanation values: the
    filters' values at every bar are never gathered."""
    g = _Grids.of(program, data)
    warm = Warmth(program, g.grids, g.slot, g.layouts)
    parts = []

    def step(tf: str, ext: ExtRows, report: Callable[[int], None]) -> F64:
        grid = g.grids[tf]
        traders = sorted((p for p in program.traders.values() if p.timeframe == tf), key=_id)
        explained = [_explained(p) for p in traders]
        # Only the values other timeframes read are kept, written in place.
        history = np.empty((grid.n_symbols, len(grid.times), len(g.exported[tf])))
        lay = g.layouts[tf]
        found = stream_columns(
            lay,
            grid.rows,
            (ext.rows, ext.width),
            outputs(g.exported[tf]),
            history,
            firing=_firing(traders, explained, cooldown_bars, warm),
            threads=_threads(threads, history.shape[0] * history.shape[1] * lay.n_nodes),
            progress=report,
        )
        parts.append(_fires(tf, traders, explained, found, g))
        return history

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

    def step(step_tf: str, ext_values: ExtRows, report: Callable[[int], None]) -> F64:
        bars, ext = g.grids[step_tf].stacked(), ext_values.stacked()
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


def _firing(
    traders: list[TraderPlan], explained: list[Explained], cooldown_bars: int, warmth: Warmth
) -> Firing | None:
    """What the interpreter needs to take ``traders``' fires (:class:`~kernels.columns.Firing`):
    per trader its root, the bars it needs, its cooldown and the nodes its explanation reads
    (rows padded with its root), and from which step each symbol has the history it needs on
    the other timeframes."""
    if not traders:
        return None
    width = max([1, *(len(e.nodes) for e in explained)])
    spec = np.zeros((len(traders), FIRE_NODES + width), dtype=np.int64)
    for i, (plan, e) in enumerate(zip(traders, explained, strict=True)):
        spec[i, FIRE_ROOT] = plan.root
        spec[i, FIRE_NEED] = warmth.own(plan.id)
        spec[i, FIRE_COOLDOWN] = plan.definition.cooldown_or(cooldown_bars)
        spec[i, FIRE_NODES:] = plan.root
        spec[i, FIRE_NODES : FIRE_NODES + len(e.nodes)] = e.nodes
    firsts = [warmth.ready(p.id) for p in traders]
    ready = None
    if any(first is not None for first in firsts):
        tf = traders[0].timeframe
        ready = np.zeros((warmth.grids[tf].n_symbols, len(traders)), dtype=np.int64)
        for i, first in enumerate(firsts):
            if first is not None:
                ready[:, i] = first
    return Firing(spec, ready)


def _fires(
    tf: str,
    traders: list[TraderPlan],
    explained: list[Explained],
    found: list[Found],
    g: _Grids,
) -> TimeframeFires:
    """The fires each thread found, ordered by step, trader id and symbol (symbols are in
    name order), as :class:`~kernels.fires.Fires` wants them."""
    width = max([1, *(len(e.nodes) for e in explained)]) + 1
    rows, values, where = _joined(found, width)
    symbol, step, trader = rows[:, 0], rows[:, 1], rows[:, 2]
    key = step * len(traders)
    key += trader
    key *= g.grids[tf].n_symbols
    key += symbol
    order = _order(key)
    names = {i: s for s, i in g.slot[tf].items()}
    # The values stay where they were found: each fire points at its row.
    return TimeframeFires(
        tf,
        traders,
        [names[i] for i in range(len(names))],
        g.grids[tf].times,
        values[:, -1],
        values,
        [e.local for e in explained],
        trader[order],
        symbol[order],
        step[order],
        order if where is None else where[order],
    )


def _order(key: I64) -> I64:
    """``np.argsort(key)`` of unique non-negative keys (``key`` is used up): with each key's
    index in its low bits, a plain sort of the keys in place (no indirection, cheaper) when
    they fit in 62 bits (bits, not digits: a mask takes the indices back, not a remainder)."""
    n = len(key)
    bits = max(1, (n - 1).bit_length())
    if n == 0 or int(key.max()) >= 1 << max(0, 62 - bits):
        return np.argsort(key)
    key <<= bits
    key |= np.arange(n)
    key.sort()
    key &= (1 << bits) - 1
    return key


def _joined(found: list[Found], width: int) -> tuple[I64, F64, I64 | None]:
    """The threads' fires end to end (one thread's as they are) and their values: in the
    threads' shared buffer when every thread's are there (each fire's row of it the third
    item; None: the fires' own order), else joined."""
    if len(found) == 1:
        return found[0].fired, found[0].values, None
    if not found:
        return np.zeros((0, 3), dtype=np.int64), np.zeros((0, width)), None
    fired = np.concatenate([f.fired for f in found])
    shared = found[0].shared
    if shared is not None and all(f.shared is shared for f in found):
        where = np.concatenate([f.at + np.arange(len(f.fired)) for f in found])
        return fired, shared, where
    return fired, np.concatenate([f.values for f in found]), None
