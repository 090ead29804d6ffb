"""Frozen snapshots of the market service's state, for health and metrics."""

from __future__ import annotations

import attrs

from vyx.market.connection import ConnectionStatistics
from vyx.market.history import HistoryCounts
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
class MarketStatistics(HistoryCounts):
    """The market service at one instant (with the history writer's counters)."""

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


def market_problems(
    restricted: str | None,
    rest: RestStatistics,
    connections: tuple[ConnectionStatistics, ...],
    shards: list[int],
    stale_after_s: float,
) -> tuple[str, ...]:
    """What is wrong with the market, one line each (empty when healthy): a refused location,
    a REST ban, ``shards`` (their indexes) without a ready connection, stale connections."""
    problems = []
    if restricted is not None:
        problems.append(f"Binance refuses the location: {restricted}")
    if rest.state == "banned":
        problems.append(f"REST banned by Binance (HTTP 418) until t={rest.banned_until:.0f}")
    ready = {c.shard for c in connections if c.state in ("ready", "rotating", "idle")}
    down = [index for index in shards if index not in ready]
    if down:
        problems.append(f"shards without a ready connection: {down}")
    stale = [c.id for c in connections if (c.last_frame_age_s or 0) > stale_after_s]
    if stale:
        problems.append(f"stale connections: {stale}")
    return tuple(problems)
