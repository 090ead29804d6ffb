"""The notifier's statistics: frozen values for ``/metrics`` and ``/health``."""

from __future__ import annotations

import attrs

#: A channel failing for longer than this (seconds) is reported unhealthy.
FAILING_AFTER_S = 120.0


@attrs.frozen
class ChannelStatistics:
    """One channel (one Telegram chat, one webhook, …) since start."""

    #: ``service:hash`` (never the URL).
    channel: str
    service: str
    #: Messages the service acknowledged (a digest is one).
    sent: int = 0
    #: Alerts those messages carried (signals and analyses; a digest carries many).
    delivered: int = 0
    #: Attempts that failed (HTTP error, timeout, refused connection, rejected message).
    failed: int = 0
    #: Attempts that repeated an earlier failed one.
    retried: int = 0
    #: Messages that were digests of several alerts.
    digests: int = 0
    #: Alerts waiting to be sent (held by quiet hours, rate limits, backoff or an outage).
    pending: int = 0
    #: Alerts given up: rejected by the service again and again, older than the age limit, or
    #: beyond the pending limit.
    dead: int = 0
    #: ``closed`` (healthy), ``open`` (paused after repeated failures) or ``half_open``.
    breaker: str = "closed"
    #: Seconds since the current streak of failures began (None: the last attempt worked).
    failing_for_s: float | None = None
    #: The last failure, redacted (no URL, no token).
    last_error: str | None = None

    @property
    def failing(self) -> bool:
        """The channel keeps failing (its breaker is open, or it has failed for a while)."""
        return self.breaker == "open" or (
            self.failing_for_s is not None and self.failing_for_s >= FAILING_AFTER_S
        )


@attrs.frozen
class NotifierStatistics:
    """Every channel, plus what never reached one."""

    channels: tuple[ChannelStatistics, ...] = ()
    #: Alerts not sent because their trader is muted or has notifications off.
    muted: int = 0
    #: Alerts held by quiet hours when they were queued.
    quiet: int = 0

    @property
    def pending(self) -> int:
        """Alerts waiting, all channels."""
        return sum(c.pending for c in self.channels)

    @property
    def failing(self) -> tuple[ChannelStatistics, ...]:
        """Channels that keep failing (``/health`` names them)."""
        return tuple(c for c in self.channels if c.failing)
