"""Compile the kernels up front, with progress (the CLI), and fill numba's on-disk cache with
every kernel the daemon runs (the Docker image runs ``python -m kernels.warmup``).

:func:`prepare_kernels` loads the kernels, compiling them first on a machine that has never run
them (in parallel processes, :mod:`kernels.precompile`) with a progress line on stderr.

``python -m kernels.warmup`` compiles them so, then builds one trader per catalog
function (every indicator with its defaults, every helper, arithmetic, comparisons, boolean
logic, lags, ``on()`` and ticker fields), checks the plans use **every opcode** of
:mod:`kernels.ops`, and runs them through the same :class:`~kernels.executor.Executor` paths
the daemon uses: ``set_traders`` (history warm-up through
:func:`~kernels.replay.replay_nb`), a committed screen at candle close
(:meth:`~kernels.step_job.StepJob.run`) and an intrabar screen of the forming bar: numba
compiles per argument *types*, so this checks no other signature would compile at run time.

Run it with the environment of the machine that will load the cache: ``NUMBA_CPU_NAME=generic``
(so the cached code does not depend on the build host's CPU) and the same ``NUMBA_CACHE_DIR``.
Exit status 0 and one summary line; 1 with the reason when an opcode is not covered.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import TextIO

import attrs
import numpy as np

from kernels import ops
from kernels.executor import Executor
from kernels.lang.catalog import FUNCTIONS
from kernels.precompile import CompileReport, ensure_compiled, is_cached
from kernels.program import TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms

#: Symbols, bars and timeframes of the synthetic run: enough history to warm every default.
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
BARS = 400
TIMEFRAMES = ("5m", "1h")

#: Helpers and operators the catalog's indicator loop does not reach.
EXTRA_FILTERS = (
    "crosses_above(close, sma(close, 10)) or crosses_below(close, ema(close, 10))",
    "rising(close, 2) or falling(close, 3)",
    "abs(close - open) > min(high, low) * 0 or max(high, low) / 2 >= -close",
    "close[1] <= open and not (volume == 0) and change(close) != 0",
    'on("1h", close > ema(close, 20)) and price > 0 and change_24h > -100',
    "quote_volume_24h > 0 and true and close < open",
    "divergence(close, ema(close, 5), 20, 3) != 0",
)


@attrs.frozen
class WarmReport:
    """What one warm-up did."""

    #: Traders compiled (one per catalog entry plus :data:`EXTRA_FILTERS`).
    traders: int
    #: Distinct opcodes in the compiled plans.
    opcodes: frozenset[int]
    #: Screens run (committed and forming).
    screens: int
    #: Wall time, seconds.
    seconds: float


def all_opcodes() -> frozenset[int]:
    """Every opcode :mod:`kernels.ops` defines (its upper-case int constants below 100)."""
    return frozenset(
        v
        for k, v in vars(ops).items()
        if k.isupper() and isinstance(v, int) and not isinstance(v, bool) and k not in _FIELDS
    )


_FIELDS = frozenset(
    {"OPEN", "HIGH", "LOW", "CLOSE", "VOLUME", "QUOTE_VOLUME", "TRADES", "TAKER_BUY_VOLUME"}
    | {"OPEN_TIME", "N_BAR_FIELDS"}
)


def filters() -> Iterator[str]:
    """One filter per catalog indicator (each output field compared), then the extras."""
    for name, spec in FUNCTIONS.items():
        if spec.category == "helper":
            continue
        if any(inp.default is None for inp in spec.inputs):
            continue
        if spec.result == "bool":
            yield f"{name}()"
        elif spec.outputs is None:
            yield f"{name}() > 0"
        else:
            yield " or ".join(f"{name}().{field} > 0" for field in spec.outputs)
    yield from EXTRA_FILTERS


def _bars(rng: np.random.Generator) -> np.ndarray:
    """``BARS`` synthetic bars (the ring's 8 fields) of a random walk."""
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, BARS)))
    opens = np.concatenate(([close[0]], close[:-1]))
    volume = rng.uniform(10, 1000, BARS)
    return np.column_stack(
        [
            opens,
            np.maximum(opens, close) * 1.002,
            np.minimum(opens, close) * 0.998,
            close,
            volume,
            volume * close,
            np.full(BARS, 100.0),
            volume / 2,
        ]
    )


def prepare_kernels(stream: TextIO | None = None, *, cached: bool | None = None) -> CompileReport:
    """Load the kernels; on a machine that never ran them, compile them first, showing
    progress on ``stream`` (stderr): one line updated in place on a terminal. ``cached``:
    what :func:`~kernels.precompile.is_cached` just said, if the caller asked."""
    out = sys.stderr if stream is None else stream
    if is_cached() if cached is None else cached:
        return ensure_compiled(cached=True)
    tty = out.isatty()
    started = time.perf_counter()
    out.write("compiling the kernels (first run on this machine; cached for next time)\n")

    def progress(done: int, total: int, what: str) -> None:
        line = f"  {done}/{total} {what} ({time.perf_counter() - started:.1f} s)"
        out.write(f"\r{line:<60}" if tty else f"{line}\n")
        out.flush()

    report = ensure_compiled(progress, cached=False)
    if tty:
        out.write("\n")
    return report


def warm() -> WarmReport:
    """Compile (or load from the cache) every kernel signature the daemon calls.

    Raises ``RuntimeError`` when a trader does not compile or an opcode is not exercised (a new
    opcode needs a filter here, or the image would compile it at run time)."""
    started = time.perf_counter()
    ensure_compiled()
    rng = np.random.default_rng(7)
    rings = {tf: RingBuffer(timeframe_ms(tf), 1000, SYMBOLS) for tf in TIMEFRAMES}
    data = {(tf, s): _bars(rng) for tf in TIMEFRAMES for s in SYMBOLS}
    # History up to the last two bars, then the traders (warmed from history) ...
    for (tf, symbol), bars in data.items():
        slot, step = rings[tf].slot(symbol), timeframe_ms(tf)
        for i in range(BARS - 2):
            rings[tf].append(slot, i * step, bars[i])
    defs = [TraderDef(f"warm{i}", text, "5m") for i, text in enumerate(filters())]
    executor = Executor(rings)
    errors = executor.set_traders(defs)
    if errors:
        trader, error = next(iter(errors.items()))
        raise RuntimeError(f"warm-up trader does not compile: {trader}: {error}")
    used = frozenset(int(o) for lay in executor.layouts.values() for o in lay.op)
    missing = all_opcodes() - used
    if missing:
        raise RuntimeError(f"warm-up plans miss opcodes {sorted(missing)}: add a filter")
    # ... then a candle close (committed screen) and a forming bar (intrabar screen).
    for (tf, symbol), bars in data.items():
        slot, step = rings[tf].slot(symbol), timeframe_ms(tf)
        rings[tf].append(slot, (BARS - 2) * step, bars[BARS - 2])
        rings[tf].set_forming(slot, (BARS - 1) * step, bars[BARS - 1])
    screens = 0
    for tf in TIMEFRAMES:
        if executor.advance(tf).symbols_stepped:
            screens += 1
        if executor.peek(tf).symbols_stepped:
            screens += 1
    return WarmReport(len(defs), used, screens, time.perf_counter() - started)


def main() -> int:
    """Console entry point: warm, print one line, exit 0 (1 with the reason on failure)."""
    try:
        report = warm()
    except RuntimeError as exc:
        print(f"warm_cache: {exc}", file=sys.stderr)
        return 1
    print(
        f"warm_cache: {report.traders} traders, {len(report.opcodes)} opcodes, "
        f"{report.screens} screens in {report.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
