"""Pure decisions of the analyzer: its retries and its token budgets (the circuit breaker and
the request rate window it shares with the alerts are :mod:`vyx.breaker`).

Nothing here does I/O or reads a clock: every method takes ``now`` (seconds on the Trio clock, or
epoch ms for the UTC-day budgets) so the rules are tested without sleeping. The Trio shell in
:mod:`vyx.analysis.service` owns one of each and applies what they decide.
"""

from __future__ import annotations

from kernels.timeframes import DAY_MS
from vyx.retry import Backoff, RetryPolicy

#: Gemini's retries: 4 attempts in all, equal-jitter doubling from 1 s up to 60 s; a delay the
#: API asked for (``RetryInfo.retryDelay``) wins, capped to 300 s.
GEMINI_RETRY = RetryPolicy(
    Backoff(initial=1.0, maximum=60.0), max_attempts=4, max_retry_after_s=300.0
)


def utc_day(epoch_ms: int) -> int:
    """The UTC day number of ``epoch_ms`` (budgets reset at UTC midnight)."""
    return epoch_ms // DAY_MS


class TokenBudget:
    """Tokens per UTC day for the whole machine (0 = unlimited), with reservations.

    A call reserves its estimated cost before it starts (so concurrent calls cannot overshoot
    together) and settles with the real ``usageMetadata`` count when it ends. Once a call's
    estimate does not fit, the day is over (no trickle of calls squeezed into the remainder).
    """

    def __init__(self, daily_limit: int) -> None:
        self.daily_limit = daily_limit
        self.day = -1
        self.used = 0
        self.reserved = 0
        self.refused = False

    def _roll(self, now_ms: int) -> None:
        day = utc_day(now_ms)
        if day != self.day:
            self.day = day
            self.used = 0
            self.refused = False

    def exhausted(self, now_ms: int) -> bool:
        """True when nothing is left today."""
        self._roll(now_ms)
        if self.daily_limit <= 0:
            return False
        return self.refused or self.used + self.reserved >= self.daily_limit

    def reserve(self, tokens: int, now_ms: int) -> bool:
        """Reserve ``tokens`` for a call; False (nothing reserved) if it does not fit."""
        self._roll(now_ms)
        if self.daily_limit > 0 and (
            self.refused or self.used + self.reserved + tokens > self.daily_limit
        ):
            self.refused = True
            return False
        self.reserved += tokens
        return True

    def settle(self, reserved: int, used: int, now_ms: int) -> None:
        """Replace a reservation by the tokens the call really used."""
        self._roll(now_ms)
        self.reserved = max(0, self.reserved - reserved)
        self.used += used

    def used_today(self, now_ms: int) -> int:
        """Tokens settled today."""
        self._roll(now_ms)
        return self.used

    def remaining(self, now_ms: int) -> int | None:
        """Tokens left today (None: unlimited)."""
        self._roll(now_ms)
        if self.daily_limit <= 0:
            return None
        return max(0, self.daily_limit - self.used - self.reserved)


class DailyCounts:
    """Analyses admitted per trader per UTC day (the trader's ``aiAnalysisLimit``)."""

    def __init__(self) -> None:
        self.day = -1
        self._counts: dict[str, int] = {}

    def _roll(self, now_ms: int) -> None:
        day = utc_day(now_ms)
        if day != self.day:
            self.day = day
            self._counts.clear()

    def count(self, trader_id: str, now_ms: int) -> int:
        """Analyses admitted for ``trader_id`` today."""
        self._roll(now_ms)
        return self._counts.get(trader_id, 0)

    def add(self, trader_id: str, now_ms: int, n: int = 1) -> None:
        """Count ``n`` more (negative to give back an analysis that was dropped)."""
        self._roll(now_ms)
        self._counts[trader_id] = max(0, self._counts.get(trader_id, 0) + n)
