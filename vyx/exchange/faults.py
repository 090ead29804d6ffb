"""Fault injection: switches a test (or a chaos run) flips on a running exchange.

All switches are plain synchronous calls, usable from any trio task of the process running the
exchange; WebSocket faults act on every open connection at the moment of the call, REST faults on
the next requests. Durations are trio seconds.
"""

from __future__ import annotations

from typing import Protocol

import attrs
import trio


class _Connections(Protocol):
    def drop_all(self) -> int: ...

    def inject(self, frames: list[str]) -> int: ...

    def shutdown_all(self, close_after: float | None) -> int: ...


@attrs.frozen
class FaultStatistics:
    """How many faults were injected so far."""

    #: Connections closed by :meth:`FaultControl.drop_connections`.
    dropped: int
    #: Malformed frames delivered (summed over connections).
    malformed_sent: int
    #: ``serverShutdown`` events delivered.
    shutdowns_sent: int
    #: REST requests answered with an injected error status.
    rest_failed: int
    #: REST requests delayed by :meth:`FaultControl.slow_rest`.
    rest_delayed: int
    #: REST requests and stream handshakes refused with 451 (:meth:`FaultControl.restrict`).
    restricted_refused: int


@attrs.define
class FaultControl:
    """The exchange's fault switches (see the module docstring)."""

    _connections: _Connections
    _stall_until: float = attrs.field(default=float("-inf"), init=False)
    _rest_fail_left: int = attrs.field(default=0, init=False)
    _rest_fail_status: int = attrs.field(default=503, init=False)
    _rest_retry_after: int = attrs.field(default=1, init=False)
    _rest_delay: float = attrs.field(default=0.0, init=False)
    _rest_delay_left: int | None = attrs.field(default=None, init=False)
    _rest_delay_after: int = attrs.field(default=0, init=False)
    #: Every request (REST and stream handshakes) is answered 451, as from a US address.
    restricted: bool = attrs.field(default=False, init=False)
    _stats: dict[str, int] = attrs.field(
        factory=lambda: dict.fromkeys(
            (
                "dropped",
                "malformed_sent",
                "shutdowns_sent",
                "rest_failed",
                "rest_delayed",
                "restricted_refused",
            ),
            0,
        ),
        init=False,
    )

    # -- WebSocket -----------------------------------------------------------------------------

    def drop_connections(self) -> int:
        """Close every WebSocket connection now, without a goodbye; returns how many."""
        n = self._connections.drop_all()
        self._stats["dropped"] += n
        return n

    def stall(self, seconds: float) -> None:
        """Send no frames (they are lost, connections stay open) for ``seconds``."""
        self._stall_until = trio.current_time() + seconds

    def unstall(self) -> None:
        """End a stall now."""
        self._stall_until = float("-inf")

    def stalled(self, now: float) -> bool:
        """Whether frames are being withheld at trio time ``now``."""
        return now < self._stall_until

    def send_malformed(self, n: int = 1) -> None:
        """Send ``n`` malformed frames (broken JSON, wrong shapes, wrong types) to every client."""
        from vyx.exchange.streams import MALFORMED_FRAMES

        frames = [MALFORMED_FRAMES[i % len(MALFORMED_FRAMES)] for i in range(n)]
        self._stats["malformed_sent"] += self._connections.inject(frames) * n

    def server_shutdown(self, *, close_after: float | None = 1.0) -> None:
        """Send ``{"e":"serverShutdown","E":..}`` to every client, close them ``close_after`` later.

        ``close_after=None`` leaves the connections open (a client should still move away).
        """
        self._stats["shutdowns_sent"] += self._connections.shutdown_all(close_after)

    # -- REST ----------------------------------------------------------------------------------

    def fail_rest(self, n: int, status: int = 503, *, retry_after: int = 1) -> None:
        """Answer the next ``n`` REST requests with ``status`` (429, 418, 500, 503...)."""
        self._rest_fail_left, self._rest_fail_status = n, status
        self._rest_retry_after = retry_after

    @property
    def rest_failures_armed(self) -> int:
        """REST failures :meth:`fail_rest` armed that no request has met yet."""
        return self._rest_fail_left

    def slow_rest(self, seconds: float, n: int | None = None, *, after: int = 0) -> None:
        """Delay REST responses by ``seconds`` (the next ``n`` ones, or all until cleared),
        from the one after the next ``after`` requests on."""
        self._rest_delay, self._rest_delay_left = seconds, n
        self._rest_delay_after = after

    def restrict(self, on: bool = True) -> None:
        """Refuse every REST request and stream handshake with HTTP 451 and Binance's
        restricted-location body (``on=False`` serves again); open connections stay open."""
        self.restricted = on

    def take_restricted(self) -> bool:
        """For the REST and stream shells: whether this request is refused for its location."""
        if self.restricted:
            self._stats["restricted_refused"] += 1
        return self.restricted

    def take_rest_failure(self) -> tuple[int, int] | None:
        """For the REST shell: ``(status, retry_after)`` if this request must fail."""
        if self._rest_fail_left <= 0:
            return None
        self._rest_fail_left -= 1
        self._stats["rest_failed"] += 1
        return self._rest_fail_status, self._rest_retry_after

    def take_rest_delay(self) -> float:
        """For the REST shell: how long to hold this response."""
        if self._rest_delay <= 0 or self._rest_delay_left == 0:
            return 0.0
        if self._rest_delay_after > 0:
            self._rest_delay_after -= 1
            return 0.0
        if self._rest_delay_left is not None:
            self._rest_delay_left -= 1
        self._stats["rest_delayed"] += 1
        return self._rest_delay

    def clear(self) -> None:
        """Switch every fault off (connections already dropped stay dropped)."""
        self.unstall()
        self.restricted = False
        self._rest_fail_left, self._rest_delay, self._rest_delay_left = 0, 0.0, None

    def statistics(self) -> FaultStatistics:
        """Counts of injected faults."""
        return FaultStatistics(**self._stats)
