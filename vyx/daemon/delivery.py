"""Where a screen's signals go: the store first, then every browser, then the analyzer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import trio
from loguru import logger

from kernels.ring import RingBuffer
from vyx.daemon.control import Control
from vyx.daemon.metrics import Metrics
from vyx.server.service import ServerHandle
from vyx.signal import Signal
from vyx.store.api import Store

if TYPE_CHECKING:
    from vyx.analysis import ConcurrentAnalyzer


async def deliver(
    store: Store,
    server: ServerHandle,
    control: Control,
    metrics: Metrics,
    analyzer: ConcurrentAnalyzer | None,
    rings: Mapping[str, RingBuffer],
    signals: Sequence[Signal],
    cancelled: Sequence[str],
) -> None:
    """Signals are queued for the store first, then pushed to every browser, then offered to
    the analyzer (which never blocks: a signal never waits for its analysis)."""
    confirmed = [s for s in signals if not s.provisional]
    if confirmed:
        await store.save_signals(confirmed)
        metrics.signals.inc(len(confirmed))
    for s in signals:
        message = s.to_message()
        if not s.provisional:
            # Before the broadcast: a browser joining meanwhile gets it in its snapshot.
            control.remember(s, message)
        server.broadcast(message)
    # The browsers' writers go first; the log lines (~40 µs each) and the analyzer after.
    await trio.lowlevel.checkpoint()
    for s in confirmed:
        logger.info(
            "signal {} {} {} @ {}: {}",
            s.trader_id,
            s.symbol,
            s.interval,
            s.price,
            "; ".join(s.matched_conditions),
        )
        info = control.traders.get(s.trader_id)
        if analyzer is not None and info is not None and info.auto_analyze and s.interval in rings:
            from vyx.analysis import AnalysisContext, Candles, TraderSettings

            trader = TraderSettings.from_strategy(
                info.id, info.definition.name, info.auto_analyze, dict(info.strategy)
            )
            candles = Candles.from_ring(rings[s.interval], s.symbol, s.interval)
            analyzer.submit(s, AnalysisContext(trader, candles))
    for sid in cancelled:
        server.broadcast({"type": "signal_cancelled", "data": {"signalId": sid}})
