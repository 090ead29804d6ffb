"""Shared machinery of the indicator parity tests: bar data, graphs over bar fields, the
TA-Lib comparison rule, valid runs around NaN gaps and the streaming-contract check.

Comparison rule (DESIGN §3, "1e-9 relative after warm-up"): ours is NaN exactly where the
reference is NaN, and elsewhere ``|ours - ref| <= 1e-9 * max(|ref|, unit)``. ``unit`` is the
magnitude below which the error is judged absolutely instead of relatively, because a value
near 0 carries the absolute rounding error of the quantities it was computed from:

- oscillators (RSI, stochastics, %R, CCI, MFI, ROC): ``unit = 1`` on their 0..100 scale;
- price-valued outputs (moving averages, MACD, momentum, deviations): ``unit`` is 1e-3 of the
  input's largest absolute price, so a MACD crossing zero on a 1e5 price may differ by 1e-7.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels import ops
from kernels.graph import F64, Graph
from kernels.graph import layout as make_layout
from kernels.group import GroupState
from kernels.klines_csv import load_klines
from kernels.series import make_bars, run_graph
from tests.conftest import shared_data_dir

RTOL = 1e-9

#: Every klines CSV under ../shared/data/binance/klines, relative to that directory.
_DATA = shared_data_dir()
KLINES_FILES: list[str] = (
    sorted(
        str(p.relative_to(_DATA / "binance" / "klines"))
        for p in _DATA.glob("binance/klines/**/*.csv")
    )
    if _DATA is not None
    else ["(shared data missing)"]
)


def klines_path(shared_data: Path, name: str) -> Path:
    """The path of one of :data:`KLINES_FILES`."""
    return shared_data / "binance" / "klines" / name


class Ohlcv(NamedTuple):
    """One symbol's bar fields (open is not needed by any test here)."""

    high: F64
    low: F64
    close: F64
    volume: F64

    @classmethod
    def load(cls, path: Path) -> Ohlcv:
        """The fields of a klines CSV."""
        k = load_klines(path)
        return cls(*(k.field(f) for f in ("high", "low", "close", "volume")))

    def bars(self) -> F64:
        """As the interpreter's ``float64[1, n, 9]`` bars (open time 0, 1, ...)."""
        return make_bars(high=self.high, low=self.low, close=self.close, volume=self.volume)

    def scaled(self, factor: float) -> Ohlcv:
        """Prices times ``factor`` (volume unchanged)."""
        return Ohlcv(self.high * factor, self.low * factor, self.close * factor, self.volume)

    def part(self, run: slice) -> Ohlcv:
        """The bars of ``run``."""
        return Ohlcv(*(f[run] for f in self))

    @property
    def price_unit(self) -> float:
        """``unit`` for price-valued outputs (see :func:`price_unit`)."""
        return price_unit(self.high, self.low, self.close)


def price_unit(*fields: F64) -> float:
    """``unit`` for price-valued outputs: 1e-3 of the largest absolute input price."""
    finite = [float(np.nanmax(np.abs(f))) for f in fields if np.isfinite(f).any()]
    return 1e-3 * max(finite, default=1.0)


class Sources:
    """A graph with the bar-field nodes every indicator test reads."""

    def __init__(self) -> None:
        g = self.graph = Graph()
        self.high = g.src(ops.HIGH)
        self.low = g.src(ops.LOW)
        self.close = g.src(ops.CLOSE)
        self.volume = g.src(ops.VOLUME)
        # hlc3 as the lowering builds it: ((high + low) + close) / 3.
        hl = g.add(ops.ADD, [self.high, self.low])
        self.hlc3 = g.add(ops.DIV, [g.add(ops.ADD, [hl, self.close]), g.const(3.0)])

    def add(self, op: int, inputs: list[int], params: list[float] | None = None) -> int:
        """Shorthand for ``graph.add``."""
        return self.graph.add(op, inputs, params or [])


def run_nodes(graph: Graph, nodes: dict[str, int], bars: F64) -> dict[str, F64]:
    """Every named node's output at every bar of one symbol's ``bars``."""
    out = run_graph(graph, list(nodes.values()), bars)[0]
    return {name: out[:, i] for i, name in enumerate(nodes)}


def mismatch(ours: F64, ref: F64, unit: float) -> str | None:
    """Why ``ours`` fails the comparison rule against ``ref`` (None when it passes)."""
    if ours.shape != ref.shape:
        return f"shape {ours.shape} != {ref.shape}"
    nan_o, nan_r = np.isnan(ours), np.isnan(ref)
    if not np.array_equal(nan_o, nan_r):
        i = int(np.argmax(nan_o != nan_r))
        return f"NaN pattern differs first at bar {i}: ours {ours[i]!r}, reference {ref[i]!r}"
    a, b = ours[~nan_r], ref[~nan_r]
    bad = np.abs(a - b) > RTOL * np.maximum(np.abs(b), unit)
    if bad.any():
        j = int(np.flatnonzero(~nan_r)[np.argmax(bad)])
        return f"value differs at bar {j}: ours {ours[j]!r}, reference {ref[j]!r}"
    return None


def assert_parity(name: str, ours: F64, ref: F64, unit: float) -> None:
    """Assert the comparison rule (module docstring) for indicator ``name``."""
    why = mismatch(ours, ref, unit)
    assert why is None, f"{name}: {why}"


def max_rel_error(ours: F64, ref: F64) -> float:
    """Largest relative error where both are finite (0 when nothing to compare)."""
    m = ~np.isnan(ref) & ~np.isnan(ours)
    if not m.any():
        return 0.0
    den = np.maximum(np.abs(ref[m]), np.finfo(float).tiny)
    return float(np.max(np.abs(ours[m] - ref[m]) / den))


def valid_runs(*fields: F64) -> Iterator[slice]:
    """Maximal runs of bars where every field is a number."""
    ok = np.ones(len(fields[0]), dtype=bool)
    for f in fields:
        ok &= ~np.isnan(f)
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        yield slice(int(start), int(stop))


# --- Hypothesis bar data -----------------------------------------------------------------


@st.composite
def ohlcv(draw: st.DrawFn, min_size: int = 1, max_size: int = 160) -> Ohlcv:
    """(high, low, close, volume): random walks, tick-rounded walks (ties, flat windows),
    constant series and series of a few repeated values; volume sometimes 0."""
    n = draw(st.integers(min_size, max_size))
    kind = draw(st.sampled_from(["walk", "ticks", "constant", "levels"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = draw(st.sampled_from([1.0, 0.37, 97.5, 61_234.5]))
    if kind == "constant":
        close = np.full(n, base)
        high, low = close.copy(), close.copy()
    else:
        if kind == "levels":
            close = base * rng.choice([0.99, 1.0, 1.01], size=n)
        else:
            close = base * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
        spread = base * np.abs(rng.normal(0.0, 0.005, (2, n)))
        high, low = close + spread[0], close - spread[1]
        if kind in ("ticks", "levels"):
            tick = base * 0.002
            high, low, close = (np.round(x / tick) * tick for x in (high, low, close))
    volume = np.round(rng.lognormal(3.0, 1.0, n), 3)
    if draw(st.booleans()):
        volume[rng.random(n) < 0.2] = 0.0
    return Ohlcv(high, low, close, volume)


Fields = TypeVar("Fields", bound=tuple[F64, ...])


def with_gaps(draw: st.DrawFn, fields: Fields) -> Fields:
    """A copy of ``fields`` (e.g. an :class:`Ohlcv`) with a few bars, and short stretches,
    NaN in every field."""
    copies = [f.copy() for f in fields]
    n = len(copies[0])
    for _ in range(draw(st.integers(1, 4)) if n else 0):
        at = draw(st.integers(0, n - 1))
        width = draw(st.integers(1, 3))
        for f in copies:
            f[at : at + width] = np.nan
    return type(fields)(*copies) if isinstance(fields, Ohlcv) else type(fields)(copies)  # type: ignore[return-value]


# --- streaming contract ------------------------------------------------------------------


def check_forming_then_closed(
    graph: Graph, nodes: list[int], bars: F64, at: int, forming: F64
) -> None:
    """Step ``bars[:, :at]`` committed, peek ``forming`` (a bar at position ``at``) without
    committing, then commit ``bars[:, at:]``: outputs and memory equal a direct run."""
    lay = make_layout(graph)
    out_nodes = np.asarray(nodes, dtype=np.int64)
    direct = GroupState(lay, 1)
    want = direct.run(bars, out_nodes=out_nodes)
    state = GroupState(lay, 1)
    if at:  # (GroupState.run cannot step zero bars)
        state.run(bars[:, :at], out_nodes=out_nodes)
    before = state.mem.copy()
    state.run(forming[:, None, :].copy(), out_nodes=out_nodes, commit=False)
    assert np.array_equal(state.mem, before, equal_nan=True), "a peek changed committed state"
    got = state.run(bars[:, at:], out_nodes=out_nodes)
    assert np.array_equal(got, want[:, at:], equal_nan=True)
    assert np.array_equal(state.mem, direct.mem, equal_nan=True)


#: A reference implementation over (high, low, close, volume).
Reference = Callable[[F64, F64, F64, F64], F64]


def forming_bar(bars: F64, at: int, rng: np.random.Generator) -> F64:
    """A forming version of bar ``at``: the closed bar's fields jittered (same open time)."""
    bar = bars[:, at, :].copy()
    bar[:, : ops.OPEN_TIME] *= 1.0 + rng.normal(0.0, 0.01, bar[:, : ops.OPEN_TIME].shape)
    return bar


# --- indicator tables and the checks every family runs -----------------------------------


@attrs.frozen
class Indicator:
    """One reference output and the graph that reproduces it, for a parameter set ``p``."""

    name: str
    build: Callable[[Sources, Any], int]
    ref: Callable[[Ohlcv, Any], F64]
    #: "osc": unit 1 on a 0..100 scale; "price": in the input's price units.
    kind: str = "osc"
    #: Valid runs between NaN gaps equal the reference on the run alone (not for x[n]:
    #: the lag reaches back across a gap).
    gap_ok: bool = True
    #: Ours on prices * s equals the reference on the prices (price-valued ones divided by s).
    scale_ok: bool = True

    def unit(self, bars: Ohlcv) -> float:
        """The comparison's absolute floor (see the module docstring)."""
        return bars.price_unit if self.kind == "price" else 1.0


def build_all(table: Sequence[Indicator], p: object) -> tuple[Sources, dict[str, int]]:
    """One graph with every indicator of ``table`` for parameters ``p``."""
    s = Sources()
    return s, {ind.name: ind.build(s, p) for ind in table}


def check_equal(table: Sequence[Indicator], b: Ohlcv, p: object) -> None:
    """Every indicator of ``table`` on ``b`` equals its reference."""
    s, nodes = build_all(table, p)
    ours = run_nodes(s.graph, nodes, b.bars())
    for ind in table:
        assert_parity(ind.name, ours[ind.name], ind.ref(b, p), ind.unit(b))


def check_gaps(table: Sequence[Indicator], b: Ohlcv, p: object) -> None:
    """On bars with NaN gaps, each valid run equals the reference on that run alone and a
    gap bar is NaN."""
    gapped = [ind for ind in table if ind.gap_ok]
    s, nodes = build_all(gapped, p)
    ours = run_nodes(s.graph, nodes, b.bars())
    for run in valid_runs(*b):
        part = b.part(run)
        for ind in gapped:
            assert_parity(ind.name, ours[ind.name][run], ind.ref(part, p), ind.unit(part))
    for ind in gapped:
        assert np.isnan(ours[ind.name][np.isnan(b.close)]).all(), ind.name


def check_scaled(table: Sequence[Indicator], b: Ohlcv, p: object, scale: float) -> None:
    """Ours on prices * ``scale`` against the reference on the prices."""
    scaled = [ind for ind in table if ind.scale_ok]
    s, nodes = build_all(scaled, p)
    ours = run_nodes(s.graph, nodes, b.scaled(scale).bars())
    for ind in scaled:
        got = ours[ind.name] / scale if ind.kind == "price" else ours[ind.name]
        assert_parity(f"{ind.name} x{scale:g}", got, ind.ref(b, p), ind.unit(b))


def check_streaming(table: Sequence[Indicator], b: Ohlcv, p: object, at: int) -> None:
    """Peek a forming bar at ``at``, then commit the closed bars: as if stepped directly."""
    bars = b.bars()
    s, nodes = build_all(table, p)
    forming = forming_bar(bars, at, np.random.default_rng(at))
    check_forming_then_closed(s.graph, list(nodes.values()), bars, at, forming)


def check_depths(build: Callable[[Sources], dict[int, int]], specs: dict[int, Any]) -> None:
    """Rings exactly as deep as the specs declare give the outputs very deep rings give, on
    bars with NaN gaps; ``build`` adds one node of every opcode of ``specs``."""
    rng = np.random.default_rng(7)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    b = Ohlcv(c * 1.004, c * 0.996, c, rng.lognormal(3, 1, 300))
    for f in b:
        f[[50, 51, 140, 233]] = np.nan
    exact, deep = Sources(), Sources()
    nodes = build(exact)
    build(deep)
    assert set(nodes) == set(specs), "add the new opcode to the depth test"
    for j in range(len(deep.graph)):
        deep.graph.pinned_depth[j] = 512
    named = {specs[op].name: node for op, node in nodes.items()}
    want = run_nodes(deep.graph, named, b.bars())
    got = run_nodes(exact.graph, named, b.bars())
    for name in named:
        assert not np.isnan(got[name]).all(), name
        assert np.array_equal(got[name], want[name], equal_nan=True), name


def check_klines(table: Sequence[Indicator], b: Ohlcv, params: Sequence[object]) -> dict[str, F64]:
    """Every indicator for every parameter set in one graph and one run over ``b``: equal to
    its reference, and the planner's warm-up never ends before the reference's first value.
    Returns our outputs by ``"i:name"`` (``i`` indexing ``params``)."""
    s = Sources()
    nodes = {(i, ind): ind.build(s, p) for i, p in enumerate(params) for ind in table}
    ours = run_nodes(s.graph, {f"{i}:{ind.name}": n for (i, ind), n in nodes.items()}, b.bars())
    warm = make_layout(s.graph).warm
    for (i, ind), node in nodes.items():
        ref = ind.ref(b, params[i])
        assert_parity(f"{ind.name} {params[i]}", ours[f"{i}:{ind.name}"], ref, ind.unit(b))
        assert int(warm[node]) >= int(np.argmax(~np.isnan(ref))), ind.name
    return ours


#: Hypothesis settings of the suites: fixed examples (derandomized) so runs are repeatable.
SETTINGS = settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def parity_suite(
    table: Sequence[Indicator],
    params: st.SearchStrategy[Any],
    klines_params: Sequence[Any],
    specs: dict[int, Any],
    one_of_each: Callable[[Sources], dict[int, int]],
    *,
    bit_exact: tuple[str, ...] = (),
    klines_extra: Callable[[Ohlcv, dict[str, F64]], None] | None = None,
) -> type:
    """A test class running every family check on ``table``: real klines with each of
    ``klines_params`` (the first is the defaults; the names in ``bit_exact`` must match to the
    last bit, ``klines_extra`` checks more on the outputs), Hypothesis bars with parameters
    from ``params`` (random, constant, gapped, rescaled, peeked-then-committed) and the ring
    depths declared in ``specs`` (``one_of_each`` adds one node per opcode). A fresh class per
    call: Hypothesis wants its own test functions for each suite."""

    class Suite:
        @pytest.mark.parametrize("name", KLINES_FILES)
        def test_real_klines_equal_references(self, shared_data: Path, name: str) -> None:
            b = Ohlcv.load(klines_path(shared_data, name))
            ours = check_klines(table, b, klines_params)
            for i, p in enumerate(klines_params):
                for ind in table:
                    if ind.name in bit_exact:
                        err = max_rel_error(ours[f"{i}:{ind.name}"], ind.ref(b, p))
                        assert err == 0.0, f"{ind.name} {p} is not bit-exact"
            if klines_extra is not None:
                klines_extra(b, ours)

        @SETTINGS
        @given(b=ohlcv(), p=params)
        def test_random_bars_equal_references(self, b: Ohlcv, p: Any) -> None:
            check_equal(table, b, p)

        @SETTINGS
        @given(n=st.integers(1, 60), value=st.sampled_from([1e-8, 0.5, 3.0, 7.3e5]), p=params)
        def test_constant_series(self, n: int, value: float, p: Any) -> None:
            x = np.full(n, value)
            check_equal(table, Ohlcv(x, x, x, np.full(n, 10.0)), p)

        def test_series_shorter_than_lookback_is_all_nan(self) -> None:
            x = np.linspace(1.0, 2.0, 4)  # shorter than every lookback of the defaults
            s, nodes = build_all(table, klines_params[0])
            ours = run_nodes(s.graph, nodes, Ohlcv(x + 0.1, x - 0.1, x, x).bars())
            for name, values in ours.items():
                assert np.isnan(values).all(), name

        @SETTINGS
        @given(clean=ohlcv(), p=params, data=st.data())
        def test_nan_gaps_restart_warm_up(self, clean: Ohlcv, p: Any, data: st.DataObject) -> None:
            check_gaps(table, with_gaps(data.draw, clean), p)

        @SETTINGS
        @given(b=ohlcv(min_size=40), scale=st.sampled_from([1e-8, 1e-5, 3e-3, 1e3, 1e6]), p=params)
        def test_scale_invariance(self, b: Ohlcv, scale: float, p: Any) -> None:
            check_scaled(table, b, p, scale)

        @SETTINGS
        @given(b=ohlcv(), p=params, data=st.data())
        def test_forming_bar_then_closed_bar(self, b: Ohlcv, p: Any, data: st.DataObject) -> None:
            check_streaming(table, b, p, data.draw(st.integers(0, len(b.close) - 1)))

        def test_declared_input_depths_suffice(self) -> None:
            check_depths(one_of_each, specs)

    return Suite
