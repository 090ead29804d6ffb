"""Retry timing as a frozen value object, advanced with :func:`attrs.evolve` (urllib3 style):
the one backoff the market client, the stores and the alert senders share."""

from __future__ import annotations

import random

import attrs


@attrs.frozen
class Backoff:
    """Capped exponential backoff with "equal jitter" (half fixed, half random).

    ``delay()`` for attempt ``n`` lies in ``[c/2, c]`` with ``c = min(maximum, initial *
    multiplier**n)``: never zero (no reconnect storms), never above ``maximum``, and spread out so
    many clients do not retry in lockstep. The policy never gives up by itself; callers that
    must stop compare :attr:`attempt` to their own limit.
    """

    initial: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    maximum: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    #: Failures so far in the current streak.
    attempt: int = 0

    def ceiling(self) -> float:
        """Upper bound of the next delay."""
        # min() before the power would overflow after ~1000 attempts.
        exponent = min(self.attempt, 64)
        return float(min(self.maximum, self.initial * self.multiplier**exponent))

    def delay(self, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next attempt."""
        c = self.ceiling()
        return c / 2 + (rng or random).uniform(0, c / 2)

    def failed(self) -> Backoff:
        """The policy after one more failure."""
        return attrs.evolve(self, attempt=self.attempt + 1)

    def succeeded(self) -> Backoff:
        """The policy after a success (the streak starts over)."""
        return attrs.evolve(self, attempt=0)
