"""Frozen snapshots of the market service's state, for health and metrics."""

from __future__ import annotations

import attrs

from vyx.market.connection import ConnectionStatistics
from vyx.market.rest import RestStatistics


@attrs.frozen
class BackfillProgress:
    """How far the current backfill is."""

    #: (symbol, timeframe) pairs loaded.
    keys_done: int
    #: Pairs queued in total.
    keys_total: int
    #: Closed bars fetched.
    bars: int
    #: REST requests made.
    requests: int

    def line(self) -> str:
        """A one-line progress report."""
        pct = 100.0 * self.keys_done / self.keys_total if self.keys_total else 100.0
        return (
            f"backfill {self.keys_done}/{self.keys_total} series ({pct:.0f}%), "
            f"{self.bars} bars, {self.requests} requests"
        )


@attrs.frozen
class MarketStatistics:
    """The market service at one instant."""

    #: Symbols in the universe.
    symbols: int
    #: Timeframes kept.
    timeframes: tuple[str, ...]
    #: Every live WebSocket connection (two per shard while rotating).
    connections: tuple[ConnectionStatistics, ...]
    #: Shards (connections wanted).
    shards: int
    #: Frames received, all connections, since start.
    frames: int
    #: Frames per second, summed over connections (last complete window of each).
    frames_per_s: float
    #: Oldest "last frame" age among connections (None before any frame).
    last_frame_age_s: float | None
    #: Malformed frames skipped.
    malformed_frames: int
    #: Connections replaced after a failure (drop, stale stream, refused connect).
    reconnects: int
    #: Make-before-break rotations completed (24 h limit, serverShutdown).
    rotations: int
    #: Closed bars appended from the stream and from repairs.
    closed_appended: int
    #: Closed frames ignored as already held.
    duplicates: int
    #: Missing-bar ranges detected and repaired.
    gaps_detected: int
    gaps_repaired: int
    #: Bars fetched over REST by gap repair.
    bars_repaired: int
    #: Flat bars standing in for candles the exchange never produced.
    bars_synthesized: int
    #: Bars loaded by backfill.
    bars_backfilled: int
    #: Closed frames held during a repair that overflowed (refetched over REST instead).
    held_dropped: int
    #: Gap repairs running now.
    repairs_in_flight: int
    backfill: BackfillProgress
    rest: RestStatistics
    #: ``restricted location (HTTP 451) from region X`` once Binance refused the location (the
    #: market is stopped for good); None otherwise.
    restricted: str | None
    #: Human-readable problems; empty when healthy.
    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        """No problem reported."""
        return not self.problems
