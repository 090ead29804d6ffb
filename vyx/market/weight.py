"""The REST request-weight budget, sans I/O.

Binance counts request weight per IP per minute and reports the running total in the
``X-MBX-USED-WEIGHT-1M`` response header; crossing the limit earns 429s and then a ban (418).
The budget keeps the last reported total and reserves the weight of each request before it is
sent. Past ``headroom`` of the limit it asks the caller to wait until the counter must have
reset (one full minute after the observation), so the hard limit is never reached.
"""

from __future__ import annotations

import math

import attrs

WINDOW_S = 60.0


@attrs.frozen
class WeightBudget:
    """Request weight used in the current minute, as far as we know."""

    #: REQUEST_WEIGHT per minute (6000 on spot today; exchangeInfo ``rateLimits`` says).
    limit: int = attrs.field(default=6000, validator=attrs.validators.gt(0))
    #: Fraction of ``limit`` we allow ourselves; above it requests wait.
    headroom: float = attrs.field(
        default=0.8, validator=[attrs.validators.gt(0), attrs.validators.le(1)]
    )
    #: Weight used (reported plus reserved since).
    used: int = 0
    #: When ``used`` was last reported by the server (trio clock seconds).
    observed_at: float = -math.inf

    @property
    def soft_limit(self) -> int:
        """Weight above which requests are delayed."""
        return max(1, int(self.limit * self.headroom))

    def current(self, now: float) -> int:
        """Weight believed used at ``now`` (0 once a whole window has passed)."""
        return 0 if now >= self.observed_at + WINDOW_S else self.used

    def observe(self, used: int, now: float) -> WeightBudget:
        """The server reported ``used`` weight at ``now``."""
        return attrs.evolve(self, used=used, observed_at=now)

    def reserve(self, weight: int, now: float) -> tuple[float, WeightBudget]:
        """Reserve ``weight``: returns (seconds to wait first, new budget)."""
        current = self.current(now)
        if current + weight <= self.soft_limit:
            observed_at = self.observed_at if current else now
            return 0.0, attrs.evolve(self, used=current + weight, observed_at=observed_at)
        wait = max(0.0, self.observed_at + WINDOW_S - now)
        return wait, attrs.evolve(self, used=weight, observed_at=now + wait)
