"""Trader authoring: the preview at the reference size (100 symbols × 1000 bars, the daemon's
rings), the offline draft and the compile check. Run with ``just bench`` (prints a table,
writes ``bench-results/authoring.json``). The issue's bound: a preview under a second.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trio

from benchmarks.workload import klines
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from vyx.authoring import Draft, check_proposal, draft_words, preview, snapshot
from vyx.authoring.draft import Proposal

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"
REPEAT = 7

DRAFTS = {
    "one clause, 5m": "RSI below 30",
    "three clauses, 5m + on(1h)": (
        "RSI below 35 and volume twice its 20-bar average and on the 1h trend up"
    ),
}


def _rings(n_symbols: int, n_bars: int) -> dict[str, RingBuffer]:
    rings = {}
    for seed, tf in enumerate(("5m", "1h"), 1):
        ring = RingBuffer(timeframe_ms(tf), n_bars)
        for symbol, k in klines(n_symbols, n_bars, tf, seed).items():
            slot = ring.add_symbol(symbol)
            for t in range(n_bars):
                ring.append(slot, int(k.open_time[t]), k.bars[t, :8])
        rings[tf] = ring
    return rings


def _median_ms(run: Callable[[], object]) -> float:
    run()  # warm (numba cache, imports)
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    """Measure, print the table, write the JSON results."""
    print("authoring benchmarks...", file=sys.stderr)
    rings = _rings(100, 1000)
    rows: list[tuple[str, float, str]] = []
    for label, words in DRAFTS.items():
        draft = draft_words(words).draft
        assert isinstance(draft, Draft)
        result = trio.run(preview, draft, rings)
        ms = _median_ms(lambda d=draft: trio.run(preview, d, rings))
        rows.append((f"preview, 100 sym × 1000 bars, {label}", ms, f"{result.fires} fires"))
    ms = _median_ms(lambda: snapshot(rings, ("5m", "1h"), 1000))
    rows.append(("  of which: copying the rings (Trio thread)", ms, "5m + 1h"))
    words = DRAFTS["three clauses, 5m + on(1h)"]
    rows.append(
        ("offline draft (phrasebook + compile)", _median_ms(lambda: draft_words(words)), "")
    )
    proposal = Proposal("x", "5m", "rsi(14) < 30 and close > ema(200) and on('1h', adx(14) > 20)")
    rows.append(("check of one filter", _median_ms(lambda: check_proposal(proposal)), ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'ms':>9}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9.2f}  {note}")
    RESULTS.mkdir(exist_ok=True)
    payload = {name: {"ms": value, "note": note} for name, value, note in rows}
    (RESULTS / "authoring.json").write_text(json.dumps(payload, indent=2))
    print(f"\nwritten {RESULTS / 'authoring.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
