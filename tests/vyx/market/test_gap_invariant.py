"""The gap invariant under randomly injected disconnects and stalls (Hypothesis picks when)."""

from __future__ import annotations

import itertools

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vyx.market.fake_exchange import FakeExchange
from tests.vyx.market.test_service import SYMBOLS, TFS, _assert_exact, _config, _scenario
from vyx.market.closes import BarClosed
from vyx.market.service import MarketHandle
from vyx.retry import Backoff

FAULTS = st.lists(
    st.tuples(st.floats(1, 170), st.sampled_from(["drop", "stall"]), st.floats(1, 60)), max_size=5
)


@settings(max_examples=8, deadline=None)
@given(faults=FAULTS)
def test_every_closed_candle_exactly_once_whatever_the_disconnects(
    faults: list[tuple[float, str, float]],
) -> None:
    """Every closed candle produced, connected or not, ends up in the ring exactly once."""

    async def main() -> None:
        exchange = FakeExchange(SYMBOLS[:2], TFS)
        # Slow reconnects so that a drop really loses closes.
        cfg = _config(backoff=Backoff(initial=3.0, maximum=20.0))

        async def inject(handle: MarketHandle) -> None:
            start = trio.current_time()
            for at, kind, length in sorted(faults):
                await trio.sleep_until(start + at)
                if kind == "drop":
                    await exchange.drop_all()
                else:
                    exchange.stall(length)

        rings, handle, events = await _scenario(exchange, cfg, inject, run_s=180)
        _assert_exact(exchange, rings)
        stats = handle.statistics()
        if any(kind == "drop" for _, kind, _ in faults):
            assert stats.reconnects >= 1
            assert stats.gaps_repaired >= 1
        closes = [
            (e.timeframe, s, e.open_time)
            for e in events
            if isinstance(e, BarClosed)
            for s in e.symbols
        ]
        assert len(closes) == len(set(closes))
        for tf in TFS:
            for symbol in SYMBOLS[:2]:
                mine = [t for f, s, t in closes if f == tf and s == symbol]
                assert mine == sorted(mine)
                assert all(b - a == rings[tf].timeframe_ms for a, b in itertools.pairwise(mine))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
