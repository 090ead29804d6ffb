"""Assigning streams to connections (sans I/O).

Binance allows at most 1024 streams per connection. A symbol's streams (its klines of every
timeframe and its ticker) stay together on one shard, and assignments are stable: symbols
joining fill free room, symbols leaving free theirs, nothing else moves (no resubscribe churn).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vyx.market.frames import kline_stream, ticker_stream

#: Binance's limit of streams per connection.
MAX_STREAMS = 1024


def symbol_streams(symbol: str, timeframes: Sequence[str]) -> list[str]:
    """Every stream of one symbol: its klines, then its 24 h ticker."""
    return [*(kline_stream(symbol, tf) for tf in timeframes), ticker_stream(symbol)]


class ShardPlan:
    """Which shard (connection) carries which symbols."""

    def __init__(self, timeframes: Sequence[str], max_streams: int = MAX_STREAMS) -> None:
        self.timeframes = tuple(timeframes)
        per_symbol = len(self.timeframes) + 1
        if per_symbol > max_streams:
            raise ValueError(f"{per_symbol} streams per symbol exceed {max_streams} per connection")
        self.symbols_per_shard = max_streams // per_symbol
        self._shards: list[list[str]] = []

    def add(self, symbols: Iterable[str]) -> set[int]:
        """Place new symbols; returns the shards that changed."""
        changed: set[int] = set()
        placed = {s for shard in self._shards for s in shard}
        for symbol in symbols:
            if symbol in placed:
                continue
            index = next(
                (i for i, shard in enumerate(self._shards) if len(shard) < self.symbols_per_shard),
                None,
            )
            if index is None:
                index = len(self._shards)
                self._shards.append([])
            self._shards[index].append(symbol)
            placed.add(symbol)
            changed.add(index)
        return changed

    def remove(self, symbols: Iterable[str]) -> set[int]:
        """Take symbols off their shards; returns the shards that changed."""
        gone = set(symbols)
        changed = set()
        for i, shard in enumerate(self._shards):
            kept = [s for s in shard if s not in gone]
            if len(kept) != len(shard):
                self._shards[i] = kept
                changed.add(i)
        return changed

    def __len__(self) -> int:
        return len(self._shards)

    def symbols(self, shard: int) -> tuple[str, ...]:
        """Symbols on ``shard``."""
        return tuple(self._shards[shard])

    def streams(self, shard: int) -> list[str]:
        """Streams of ``shard`` (never more than the per-connection maximum)."""
        return [
            s for symbol in self._shards[shard] for s in symbol_streams(symbol, self.timeframes)
        ]
