"""How a client of an outside service reacts to its calls' outcomes: the circuit breaker and
the request-rate window, shared by the analyzer's Gemini gate and the alerts' outbox.

Pure decisions: nothing here does I/O or reads a clock; every method takes ``now`` (seconds on
the Trio clock), so the rules are tested without sleeping. Retrying itself is :mod:`vyx.retry`.
"""

from __future__ import annotations

import collections
from typing import Literal

import attrs

#: How a call attempt ended, as far as retrying and the breaker care.
Outcome = Literal["ok", "invalid", "rate_limited", "server", "timeout", "transport", "client"]

#: Outcomes worth another attempt of the same request (after a backoff).
RETRYABLE: frozenset[Outcome] = frozenset({"rate_limited", "server", "timeout", "transport"})

#: Outcomes that say the API itself is unwell (they trip the breaker); ``invalid`` answers and
#: ``client`` errors are about one request, not about the service.
SERVICE_FAILURES: frozenset[Outcome] = frozenset({"rate_limited", "server", "timeout", "transport"})


BreakerState = Literal["closed", "open", "half_open"]


@attrs.frozen
class Breaker:
    """Circuit breaker over service failures: ``threshold`` consecutive ones open it for
    ``cooldown_s`` (doubling while probes keep failing, up to ``max_cooldown_s``); then one probe
    is let through (half-open) and its outcome closes or re-opens the circuit."""

    threshold: int = 5
    cooldown_s: float = 30.0
    max_cooldown_s: float = 300.0
    state: BreakerState = "closed"
    failures: int = 0
    #: When an open circuit lets a probe through.
    retry_at: float = 0.0
    #: Current open period (grows while probes fail).
    period_s: float = 0.0
    #: A half-open probe is in flight.
    probing: bool = False

    def allow(self, now: float) -> tuple[bool, Breaker]:
        """May a request start now? Returns the decision and the breaker after it."""
        if self.state == "closed":
            return True, self
        if self.state == "open" and now >= self.retry_at:
            return True, attrs.evolve(self, state="half_open", probing=True)
        if self.state == "half_open" and not self.probing:
            return True, attrs.evolve(self, probing=True)
        return False, self

    def wait_s(self, now: float) -> float:
        """Seconds until :meth:`allow` may say yes (0 when it already does)."""
        if self.state == "open":
            return max(0.0, self.retry_at - now)
        return 0.0

    def record(self, outcome: Outcome, now: float) -> Breaker:
        """The breaker after an attempt ended with ``outcome``."""
        if outcome not in SERVICE_FAILURES:
            if self.state == "closed" and self.failures == 0:
                return self
            return attrs.evolve(self, state="closed", failures=0, period_s=0.0, probing=False)
        failures = self.failures + 1
        if self.state == "half_open":
            period = min(self.max_cooldown_s, max(self.cooldown_s, self.period_s * 2))
            return attrs.evolve(
                self,
                state="open",
                failures=failures,
                retry_at=now + period,
                period_s=period,
                probing=False,
            )
        if failures >= self.threshold:
            return attrs.evolve(
                self,
                state="open",
                failures=failures,
                retry_at=now + self.cooldown_s,
                period_s=self.cooldown_s,
                probing=False,
            )
        return attrs.evolve(self, failures=failures)


class RateWindow:
    """At most ``per_minute`` request starts in any 60 s window (a sliding log), plus a hold
    until a time the API asked for (a 429's retry delay applies to every worker, not only to
    the request that got it)."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.window_s = window_s
        self._starts: collections.deque[float] = collections.deque()
        self.hold_until = 0.0

    def wait_s(self, now: float) -> float:
        """Seconds until a request may start (0: now)."""
        while self._starts and self._starts[0] <= now - self.window_s:
            self._starts.popleft()
        wait = max(0.0, self.hold_until - now)
        if len(self._starts) >= self.per_minute:
            wait = max(wait, self._starts[0] + self.window_s - now)
        return wait

    def take(self, now: float) -> None:
        """Record a request start (call only when :meth:`wait_s` is 0)."""
        self._starts.append(now)

    def hold(self, until: float) -> None:
        """No request starts before ``until``."""
        self.hold_until = max(self.hold_until, until)

    def recent(self, now: float) -> int:
        """Request starts in the last window."""
        self.wait_s(now)
        return len(self._starts)
