"""Retrying, once for every client: the backoff, the policy and the ``Retry-After`` parser.

Every client of an outside service (the Binance REST and WebSocket client, the stores, the
Gemini analyzer and drafter, the Fly Machines API, the alert senders) waits between attempts
with the same two frozen values, advanced with :func:`attrs.evolve` (urllib3's ``Retry``):

- :class:`Backoff`: capped exponential delays with jitter; never gives up by itself.
- :class:`RetryPolicy`: a :class:`Backoff` plus when to give up (``max_attempts``), how a wait
  the server asked for counts (it wins, bounded to ``[min_delay_s, max_retry_after_s]``) and
  the deadline of one attempt. The loop every caller writes::

      while True:
          try:
              return await attempt()          # each bounded by policy.attempt_timeout_s
          except Retryable as exc:
              if policy.exhausted:            # this was attempt max_attempts
                  raise GaveUp(f"after {policy.attempt} attempts") from None
              await trio.sleep(policy.delay(exc.retry_after_s))
              policy = policy.failed()

- :func:`parse_retry_after`: a ``Retry-After`` value (delta-seconds, fractional seconds, an
  HTTP date, or a JSON number from a body) as seconds, bounded; malformed → the default.

The Supabase store, the Gemini analyzer and drafter, the Fly client and the alerts' outbox
retry with a :class:`RetryPolicy`. The market and the store's batch writer keep a bare
:class:`Backoff`: a policy would change what they do, or add limits nothing reads:

- the Binance REST client (:mod:`vyx.market.rest`): a 429 counts as one of its
  ``max_attempts`` but does not lengthen the backoff (its ``Retry-After`` holds back every
  request of the client, up to :data:`MAX_RETRY_AFTER_S`, not only the one retried). A policy's
  attempt *is* its backoff's streak, so a 429 would lengthen the next 5xx's wait, and the asked
  wait would be capped to ``max_retry_after_s``;
- the WebSocket shards (:mod:`vyx.market.connection`) and the market's REST callers
  (:mod:`vyx.market.service`: the universe, the gap repair) never give up and no server asks
  them to wait: a policy with ``max_attempts=None`` would be their :class:`Backoff` with limits
  nothing reads (the shard's streak starts over once a connection stayed up, and a refused
  rotation is asked again after one of its delays);
- the store's batch writer (:mod:`vyx.store.writer`), likewise: it retries a batch until the
  sink has written or quarantined its rows.

Nothing here does I/O or reads the Trio clock; the callers own the sleeping.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import time
from datetime import UTC
from typing import overload

import attrs

#: The longest wait a ``Retry-After`` may ask for: Binance bans an IP for up to 3 days (418).
MAX_RETRY_AFTER_S = 3 * 86_400.0

# Delta-seconds (RFC 9110 §10.2.3), also with a fraction (Discord, some proxies).
_SECONDS = re.compile(r"\d{1,12}(\.\d{1,9})?")


@overload
def parse_retry_after(
    value: object, *, default: float, now: float | None = None, maximum: float = ...
) -> float: ...
@overload
def parse_retry_after(
    value: object, *, default: None = None, now: float | None = None, maximum: float = ...
) -> float | None: ...
def parse_retry_after(
    value: object,
    *,
    default: float | None = None,
    now: float | None = None,
    maximum: float = MAX_RETRY_AFTER_S,
) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, in ``[0, maximum]``.

    Accepts delta-seconds (``"12"``, ``"0.75"``), an HTTP date (``"Wed, 21 Oct 2015 07:28:10
    GMT"``; a past date is 0; ``now`` is the epoch time to count from, the wall clock if None)
    and a finite non-negative JSON number (Telegram's and Discord's ``retry_after``). Anything
    else (absent, negative, NaN, a bool, a malformed date) is ``default``. Never raises."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if math.isfinite(value) and value >= 0 else None
    elif isinstance(value, str) and len(value) <= 64:
        text = value.strip()
        if _SECONDS.fullmatch(text):
            seconds = float(text)
        elif text:
            seconds = _seconds_until(text, time.time() if now is None else now)
    return default if seconds is None else min(seconds, maximum)


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


@attrs.frozen
class Backoff:
    """Capped exponential backoff with jitter.

    ``delay()`` after ``attempt`` failures lies in ``[c * (1 - jitter), c]`` with ``c =
    min(maximum, initial * multiplier**attempt)``: the default ``jitter=0.5`` is "equal
    jitter" (half fixed, half random: never zero, so no reconnect storms, and spread out so
    many clients do not retry in lockstep); ``jitter=0`` waits exactly ``c``. The backoff never
    gives up by itself (see :class:`RetryPolicy`).
    """

    initial: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    maximum: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    #: The random share of each delay, from 0 (none) to 1 (anything from 0 to the ceiling).
    jitter: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
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
        spread = c * self.jitter
        return c - spread + ((rng or random).uniform(0, spread) if spread else 0.0)

    def failed(self) -> Backoff:
        """The backoff after one more failure."""
        return attrs.evolve(self, attempt=self.attempt + 1)

    def succeeded(self) -> Backoff:
        """The backoff after a success (the streak starts over)."""
        return attrs.evolve(self, attempt=0)


@attrs.frozen
class RetryPolicy:
    """When to retry, how long to wait, when to give up: a :class:`Backoff` plus limits.

    Advanced like the backoff: :meth:`delay` is the wait after the attempt just made (number
    :attr:`attempt`, 1-based) failed, then :meth:`failed` counts it; :attr:`exhausted` says
    that attempt was the last one allowed. A wait the server asked for (``Retry-After``,
    Gemini's ``RetryInfo``) replaces the backoff's, bounded to ``[min_delay_s,
    max_retry_after_s]``: longer asks are capped (and still waited), and a server answering
    "retry now" forever does not make a busy loop.
    """

    backoff: Backoff = attrs.field(factory=Backoff)
    #: Attempts in all, the first included; None: retry for as long as it takes (callers that
    #: keep their work durably, like the spool drain and the outbox, never give up).
    max_attempts: int | None = attrs.field(default=4)
    #: A longer asked wait is capped to this.
    max_retry_after_s: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    #: A shorter asked wait is raised to this.
    min_delay_s: float = attrs.field(default=0.05, validator=attrs.validators.ge(0))
    #: The deadline of one attempt, for clients that bound each attempt with the policy.
    attempt_timeout_s: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))

    @max_attempts.validator
    def _check_max_attempts(self, _: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"max_attempts must be at least 1 or None, not {value}")

    @property
    def attempt(self) -> int:
        """The attempt being made (1-based): failures so far in this streak, plus one."""
        return self.backoff.attempt + 1

    @property
    def exhausted(self) -> bool:
        """The attempt being made is the last one allowed."""
        return self.max_attempts is not None and self.attempt >= self.max_attempts

    def delay(self, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next attempt (a server's asked wait wins, bounded)."""
        if retry_after_s is not None:
            return min(max(retry_after_s, self.min_delay_s), self.max_retry_after_s)
        return self.backoff.delay(rng)

    def failed(self) -> RetryPolicy:
        """The policy after one more failure."""
        return attrs.evolve(self, backoff=self.backoff.failed())

    def succeeded(self) -> RetryPolicy:
        """The policy after a success (the streak starts over)."""
        return attrs.evolve(self, backoff=self.backoff.succeeded())
