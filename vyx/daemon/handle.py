"""The running daemon as :func:`vyx.app.run_daemon` hands it to its caller: every service (one
:class:`~vyx.daemon.services.Services` value), the market, and the stop."""

from __future__ import annotations

from typing import Any

import attrs
import trio

from kernels.ring import RingBuffer
from vyx.config import Config
from vyx.daemon.control import Control
from vyx.daemon.services import Services
from vyx.daemon.status import status
from vyx.market.service import MarketHandle
from vyx.notify.service import Notifier
from vyx.screener.service import Screener
from vyx.server.service import ServerHandle
from vyx.store.api import Store
from vyx.telemetry.health import HealthRegistry
from vyx.telemetry.metrics import Metrics


@attrs.define(eq=False)
class Daemon:
    """The running daemon (what ``run_daemon`` hands to ``task_status.started``)."""

    services: Services
    market: MarketHandle
    _stop: trio.Event

    @property
    def cfg(self) -> Config:
        return self.services.cfg

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def server(self) -> ServerHandle:
        return self.services.server

    @property
    def screener(self) -> Screener:
        return self.services.screener

    @property
    def control(self) -> Control:
        return self.services.control

    @property
    def health(self) -> HealthRegistry:
        return self.services.health

    @property
    def metrics(self) -> Metrics:
        return self.services.metrics

    @property
    def rings(self) -> dict[str, RingBuffer]:
        return self.services.rings

    @property
    def notifier(self) -> Notifier:
        return self.services.notifier

    def stop(self) -> None:
        """Drain and stop (as SIGTERM does)."""
        self._stop.set()

    def status(self) -> dict[str, Any]:
        """The ``status_update`` data."""
        s = self.services
        return status(s.cfg, s.screener, s.started_at, s.phase)
