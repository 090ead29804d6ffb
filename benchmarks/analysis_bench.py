"""Analyzer throughput and cost against the fake generateContent endpoint.

    uv run python benchmarks/analysis_bench.py [--signals 600] [--latency 3]

Prints:

- **sustained analyses/minute** at the configured limits (``AnalyzerConfig`` defaults: 4
  concurrent calls, 60 requests/minute) with the fake answering after ``--latency`` seconds, in
  virtual time (Trio's MockClock with autojump: the limits are what is measured, not this
  machine), against the bound ``min(rpm, concurrency x 60 / latency)``; a slow API (15 s) too;
- **CPU per analysis** in real time with an instant fake and no rate limit (indicators with the
  Vyx kernels, prompt, google-genai request/response, validation, row): the ceiling of one core;
- **tokens per analysis**: prompt tokens as the fake counts them (the analyzer's digit-aware
  estimate: Gemini's tokenizer splits numbers into single digits) and as chars/4, the answer's
  tokens, and the reservation the budget charges before each call;
- **submit() cost** in microseconds (what the screener pays per signal).

Needs ``../shared/data`` (real BTCUSDT candles and the Gemini captures).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from typing import Any

import trio
import trio.testing

from kernels.klines_csv import load_klines
from tests.conftest import shared_data_dir
from tests.vyx.analysis.conftest import MemoryStore, Signals, config
from tests.vyx.analysis.fake_gemini import FakeGemini
from vyx.analysis import AnalyzerOptions, AnalyzerStatistics, ConcurrentAnalyzer, run_analyzer
from vyx.analysis.prompt import SYSTEM_INSTRUCTION, build_inputs, estimate_tokens, render_prompt


async def _run(
    fake: FakeGemini, signals: Signals, n: int, cfg_overrides: dict[str, Any]
) -> tuple[float, ConcurrentAnalyzer, AnalyzerStatistics]:
    """Submit ``n`` signals at once and return the seconds from the first request to the last
    answer (Trio clock), the analyzer and its final statistics."""
    store = MemoryStore()
    done = trio.Event()
    messages: list[dict[str, Any]] = []

    def broadcast(message: dict[str, Any]) -> None:
        messages.append(message)
        if len(messages) == n:
            done.set()

    async with trio.open_nursery() as nursery:
        analyzer: ConcurrentAnalyzer = await nursery.start(
            partial(
                run_analyzer,
                config(**cfg_overrides),
                store,
                broadcast,
                options=AnalyzerOptions(queue_size=n),
                http=fake.client(),
            )
        )
        for i in range(n):
            analyzer.submit(*signals.make(i))
        await done.wait()
        elapsed = trio.current_time() - fake.starts[0]
        stats = analyzer.statistics()
        nursery.cancel_scope.cancel()
    return elapsed, analyzer, stats


def sustained(signals: Signals, n: int, latency: float, **limits: Any) -> None:
    shared = shared_data_dir()
    assert shared is not None
    fake = FakeGemini(shared, api_key="bench-key")
    fake.latency_s = latency
    clock = trio.testing.MockClock(autojump_threshold=0)
    elapsed, analyzer, stats = trio.run(_run, fake, signals, n, limits, clock=clock)
    cfg = analyzer.cfg
    bound = min(cfg.requests_per_minute, cfg.max_concurrency * 60 / latency)
    print(
        f"  latency {latency:>4.1f}s, {cfg.max_concurrency} concurrent, "
        f"{cfg.requests_per_minute} rpm: {n / (elapsed / 60):6.1f} analyses/min sustained "
        f"(bound {bound:.1f}); max in flight at the fake {fake.max_in_flight}; "
        f"p95 queue wait {stats.queue_wait_ms_p95 / 1000:.0f}s"  # type: ignore[operator]
    )


def cpu_ceiling(signals: Signals, n: int) -> None:
    shared = shared_data_dir()
    assert shared is not None
    fake = FakeGemini(shared, api_key="bench-key")
    overrides = {"requests_per_minute": 10**6, "max_concurrency": 1}
    trio.run(_run, fake, signals, 4, overrides)  # warm-up: numba, SDK imports
    fake = FakeGemini(shared, api_key="bench-key")
    started = time.perf_counter()
    trio.run(_run, fake, signals, n, overrides)
    per = (time.perf_counter() - started) / n
    t0 = time.perf_counter()
    for i in range(n):
        sig, ctx = signals.make(i)
        render_prompt(build_inputs(sig, ctx))
    inputs_ms = (time.perf_counter() - t0) / n * 1000
    print(
        f"  {per * 1000:.1f} ms CPU per analysis, of which {inputs_ms:.1f} ms indicators + "
        f"levels + prompt: at most {60 / per:,.0f} analyses/min on one core"
    )


def tokens(signals: Signals) -> None:
    prompt_est, prompt_chars, reserved = [], [], []
    opts = AnalyzerOptions()
    for i in range(0, 1600, 100):
        sig, ctx = signals.make(i)
        text = SYSTEM_INSTRUCTION + render_prompt(build_inputs(sig, ctx), opts.prompt_candles)
        prompt_est.append(estimate_tokens(text))
        prompt_chars.append(len(text) / 4)
        reserved.append(prompt_est[-1] + opts.generation.max_output_tokens)
    shared = shared_data_dir()
    assert shared is not None
    answer = estimate_tokens(json.dumps(FakeGemini(shared).verdict))
    print(
        f"  prompt ({opts.prompt_candles} candles + 17 indicators + levels + clauses): "
        f"{statistics.mean(prompt_est):,.0f} tokens digit-aware "
        f"({statistics.mean(prompt_chars):,.0f} by chars/4); answer ~{answer} tokens "
        f"(the fake's verdict; real ones ~250-500); thinking off; reserved per call "
        f"{statistics.mean(reserved):,.0f}"
    )
    per_analysis = statistics.mean(prompt_est) + answer
    print(
        f"  => ~{per_analysis:,.0f} tokens per analysis: 1M tokens/day covers "
        f"~{1_000_000 / per_analysis:,.0f} analyses"
    )


def submit_cost(signals: Signals) -> None:
    pairs = [signals.make(i) for i in range(2000)]

    async def main() -> float:
        shared = shared_data_dir()
        assert shared is not None
        fake = FakeGemini(shared, api_key="bench-key")
        fake.default = "hang"
        async with trio.open_nursery() as nursery:
            analyzer: ConcurrentAnalyzer = await nursery.start(
                partial(
                    run_analyzer,
                    config(),
                    MemoryStore(),
                    lambda _m: None,
                    options=AnalyzerOptions(queue_size=len(pairs)),
                    http=fake.client(),
                )
            )
            t0 = time.perf_counter()
            for sig, ctx in pairs:
                analyzer.submit(sig, ctx)
            per = (time.perf_counter() - t0) / len(pairs)
            nursery.cancel_scope.cancel()
        return per

    per = trio.run(main)
    print(f"  submit(): {per * 1e6:.1f} us per signal into a queue of {len(pairs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signals", type=int, default=600)
    parser.add_argument("--latency", type=float, default=3.0)
    args = parser.parse_args()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("needs ../shared/data (set VYX_SHARED_DATA)")
    klines = load_klines(shared / "binance/klines/spot_1h/BTCUSDT-1h-2025-06-01_2025-09-30.csv")
    signals = Signals(klines)
    print("sustained throughput at the configured limits (virtual time):")
    sustained(signals, args.signals, args.latency)
    sustained(signals, args.signals, 15.0)
    sustained(signals, args.signals, args.latency, requests_per_minute=15)
    print("CPU ceiling (real time, instant fake, no rate limit):")
    cpu_ceiling(signals, 100)
    print("tokens per analysis:")
    tokens(signals)
    print("screener side:")
    submit_cost(signals)


if __name__ == "__main__":
    main()
