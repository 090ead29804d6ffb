"""The daemon's running services as one value: what the composition root (:mod:`vyx.app`) built,
in start order, handed whole to the parts that watch them all (status, scaler)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from kernels.ring import RingBuffer
from vyx.config import Config
from vyx.daemon.control import Control
from vyx.daemon.delivery import Delivery
from vyx.daemon.phase import MarketPhase
from vyx.daemon.scaler import ScreenLoad
from vyx.notify.service import Notifier
from vyx.screener.marks import MarkKeeper
from vyx.screener.service import Screener
from vyx.server.service import ServerHandle
from vyx.store.api import Store
from vyx.telemetry.health import HealthRegistry
from vyx.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from vyx.analysis import ConcurrentAnalyzer


@attrs.frozen(eq=False)
class Services:
    """Every service of one run of the daemon, built before the market starts."""

    cfg: Config
    #: Component states behind ``/health``.
    health: HealthRegistry
    metrics: Metrics
    #: ``time.monotonic()`` at start (uptime).
    started_at: float
    #: The market's start-up (and, once it streams, its handle).
    phase: MarketPhase
    #: The market's rings: closed bars per timeframe (the market writes, the screener reads).
    rings: dict[str, RingBuffer]
    store: Store
    #: Sends the alerts the store owes (``NOTIFY_URLS``, the traders' own channels).
    notifier: Notifier
    #: None when signals are not analysed.
    analyzer: ConcurrentAnalyzer | None
    delivery: Delivery
    screener: Screener
    control: Control
    server: ServerHandle
    #: Saves the screener's progress once the store holds its signals.
    marks: MarkKeeper
    #: The screens' load since the scaler's last sample.
    load: ScreenLoad
    #: This machine's id in its rows (``cloud_machines.id`` in cloud mode).
    row_id: str
