"""The client against the simulated exchange over real sockets, with injected faults.

The invariant: for every (symbol, timeframe), ring history is contiguous and equals, bar for
bar, what the exchange produced (``truth``), whether the client was connected or not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from kernels.ring import FIELDS, RingBuffer
from kernels.timeframes import timeframe_ms
from vyx.exchange import ExchangeConfig, ExchangeHandle, run_exchange
from vyx.market.closes import BarClosed, MarketEvent
from vyx.market.connection import StreamConfig
from vyx.market.rest import RestConfig
from vyx.market.service import MarketConfig, MarketHandle, run_market
from vyx.market.statistics import MarketStatistics
from vyx.market.universe import UniverseConfig
from vyx.retry import Backoff

START_MS = 1_700_000_000_000 // 3_600_000 * 3_600_000
TFS = ("1m", "5m")
SCALE = 1e8


def _config(ex: ExchangeHandle) -> MarketConfig:
    return MarketConfig(
        rest=RestConfig(base_url=ex.rest_url),
        stream=StreamConfig(
            ws_url=ex.ws_url, stale_after_s=10, backoff=Backoff(initial=2.0, maximum=15.0)
        ),
        universe=UniverseConfig(count=4),
        warmup={"1m": 60, "5m": 30},
        close_grace_s=0.5,
    )


def _assert_matches_truth(
    ex: ExchangeHandle, handle: MarketHandle, rings: dict[str, RingBuffer]
) -> None:
    now = ex.clock.now_ms()
    for tf, ring in rings.items():
        length = timeframe_ms(tf)
        for symbol in handle.symbols:
            times, values = ring.window(ring.slot(symbol))
            assert len(times) > 0
            first, last = int(times[0]), int(times[-1])
            assert now - (last + length) < 3 * length, "the client fell behind"
            truth = ex.truth.closed(symbol, tf, since_ms=first, until_ms=last + length)
            assert times.tolist() == [k.open_time for k in truth], (symbol, tf)
            for i, k in enumerate(truth):
                expected = [getattr(k, name) / SCALE for name in FIELDS if name != "trades"]
                got = [values[j, i] for j, name in enumerate(FIELDS) if name != "trades"]
                assert got == expected
                assert values[FIELDS.index("trades"), i] == k.trades


async def _run(
    faults: Callable[[ExchangeHandle, MarketHandle], Awaitable[None]], run_s: float
) -> tuple[MarketStatistics, list[MarketEvent]]:
    rings = {tf: RingBuffer(timeframe_ms(tf), 500) for tf in TFS}
    events: list[MarketEvent] = []
    send, recv = trio.open_memory_channel[MarketEvent](64)

    async def consume() -> None:
        async for event in recv:
            events.append(event)

    async with trio.open_nursery() as nursery:
        ex: ExchangeHandle = await nursery.start(
            run_exchange,
            ExchangeConfig(symbols=4, start_ms=START_MS, speed=60.0, timeframes=TFS, decoys=False),
        )
        nursery.start_soon(consume)
        handle: MarketHandle = await nursery.start(
            lambda task_status: run_market(_config(ex), rings, send, task_status=task_status)
        )
        await faults(ex, handle)
        await trio.sleep(run_s)
        ex.faults.clear()
        await trio.sleep(60)  # a quiet minute to catch up
        _assert_matches_truth(ex, handle, rings)
        stats = handle.statistics()
        nursery.cancel_scope.cancel()
    return stats, events


def _run_sync(
    faults: Callable[[ExchangeHandle, MarketHandle], Awaitable[None]], run_s: float
) -> tuple[MarketStatistics, list[MarketEvent]]:
    clock = trio.testing.MockClock(autojump_threshold=0.002)
    return trio.run(_run, faults, run_s, clock=clock)


FAULTS = st.lists(
    st.tuples(
        st.floats(0, 60),
        st.sampled_from(["drop", "stall", "malformed", "shutdown", "rest503", "rest429"]),
        st.floats(1, 40),
    ),
    max_size=5,
)


@pytest.mark.slow
@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(plan=FAULTS)
@example(plan=[(10.0, "malformed", 1.0), (10.0, "drop", 1.0)])
@example(plan=[(10.0, "malformed", 1.0)])
def test_gap_invariant_under_random_faults(plan: list[tuple[float, str, float]]) -> None:
    async def inject(ex: ExchangeHandle, handle: MarketHandle) -> None:
        start = trio.current_time()
        for at, kind, length in sorted(plan):
            await trio.sleep_until(start + at)
            if kind == "drop":
                ex.faults.drop_connections()
            elif kind == "stall":
                ex.faults.stall(length)
            elif kind == "malformed":
                ex.faults.send_malformed(3)
            elif kind == "shutdown":
                ex.faults.server_shutdown(close_after=2.0)
            elif kind == "rest503":
                ex.faults.fail_rest(2, 503)
            else:
                ex.faults.fail_rest(1, 429, retry_after=3)

    stats, events = _run_sync(inject, run_s=70)
    closes = [
        (e.timeframe, s, e.open_time) for e in events if isinstance(e, BarClosed) for s in e.symbols
    ]
    assert len(closes) == len(set(closes))
    if any(kind == "malformed" and _reaches_the_client(plan, at) for at, kind, _ in plan):
        assert stats.malformed_frames >= 1


def _reaches_the_client(plan: list[tuple[float, str, float]], at: float) -> bool:
    """Malformed frames injected at ``at`` surely reach the client: it is connected by then and
    no drop, shutdown or stall near ``at`` loses the connection they were queued on (a stall
    longer than the client's watchdog replaces it)."""
    return at >= 3 and not any(
        (kind in ("drop", "shutdown") and abs(t - at) <= 2)
        or (kind == "stall" and t - 2 <= at <= t + length + 2)
        for t, kind, length in plan
    )


def test_server_shutdown_rotation_has_no_gap_or_duplicate() -> None:
    async def shutdown(ex: ExchangeHandle, handle: MarketHandle) -> None:
        await trio.sleep(30)
        ex.faults.server_shutdown(close_after=5.0)

    stats, events = _run_sync(shutdown, run_s=40)
    assert stats.rotations == 1
    assert stats.reconnects == 0
    assert stats.gaps_detected == 0
    closes = [
        (e.timeframe, s, e.open_time) for e in events if isinstance(e, BarClosed) for s in e.symbols
    ]
    assert len(closes) == len(set(closes))
