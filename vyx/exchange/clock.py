"""Market time: a fast-forwarded view of trio's clock.

``market_ms = start_ms + (trio_now - t0) * speed * 1000``. Everything time-based in the exchange
(bar closes, forming updates, tickers) is scheduled in market milliseconds and converted back to
trio deadlines, so it runs unchanged under ``trio.testing.MockClock`` and autojump clocks.
Rate limits and faults (Retry-After, stalls) stay in trio seconds: they model the network, not
the market.
"""

from __future__ import annotations

import math

import attrs
import trio


@attrs.frozen
class MarketClock:
    """Maps trio time to market epoch milliseconds and back."""

    start_ms: int
    #: Market seconds per trio second (60 plays a minute of candles every second).
    speed: float
    #: trio time at which market time was ``start_ms``.
    t0: float

    @classmethod
    def starting_now(cls, start_ms: int, speed: float) -> MarketClock:
        """A clock at ``start_ms`` now (must run inside trio)."""
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        return cls(start_ms=start_ms, speed=speed, t0=trio.current_time())

    def market_ms(self, trio_now: float) -> int:
        """Market time at trio time ``trio_now`` (floored to the millisecond)."""
        # The epsilon keeps market_ms(trio_time(t)) == t despite float rounding.
        return self.start_ms + math.floor((trio_now - self.t0) * self.speed * 1000 + 1e-6)

    def trio_time(self, market_ms: int) -> float:
        """trio time at which market time reaches ``market_ms``."""
        return self.t0 + (market_ms - self.start_ms) / (self.speed * 1000)

    def now_ms(self) -> int:
        """Market time now (must run inside trio)."""
        return self.market_ms(trio.current_time())
