"""The outbox's decisions (sans-IO): what to send to which channel, when, and what happened.

Every (alert, channel) pair is one :class:`Item`, keyed by the alert's key (the signal id, or
``<signal id>/analysis``) and the channel id — the dedupe key: a pair is added once and, once a
service acknowledged it, never sent again. The I/O shell (:mod:`vyx.notify.service`) asks
:meth:`Outbox.take` for the :class:`Batch` of each channel that may send now, sends it, and
reports the :class:`Attempt` to :meth:`Outbox.settle`.

Per channel:

- **one message in flight**, so alerts leave in order and a retry never overlaps its original;
- **digests**: everything pending when a channel may send — a close's burst, the backlog of an
  outage, the night's quiet hours — leaves as one message (one signal alone is sent alone);
  alerts gather for :attr:`OutboxPolicy.gather_s` first so a burst is not split;
- **rate windows** (:mod:`vyx.notify.limits`) and a 429's ``Retry-After`` hold the channel (and
  the channels sharing its limit);
- **backoff** (:class:`~vyx.retry.RetryPolicy`, never giving up) after each failure, a
  **circuit breaker** (:class:`~vyx.breaker.Breaker`) over repeated ones;
- a rejected message (a 4xx other than 429) is tried :attr:`OutboxPolicy.max_rejections` times,
  an alert older than :attr:`OutboxPolicy.max_age_s` is given up (a stale alert misleads).

Time is the caller's monotonic clock (Trio's); nothing here sleeps or reads a clock.
"""

from __future__ import annotations

import collections
import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import attrs

from vyx.breaker import Breaker, Outcome, RateWindow
from vyx.notify.channels import Channel
from vyx.notify.limits import windows_for
from vyx.notify.notices import Notice, SignalNotice, VerdictNotice
from vyx.notify.stats import ChannelStatistics, NotifierStatistics
from vyx.retry import Backoff, RetryPolicy

#: Outcomes that reject the message itself (it will not get better by waiting).
REJECTED: frozenset[Outcome] = frozenset({"client"})


@attrs.frozen
class OutboxPolicy:
    """The outbox's limits (the README's Limits table states them)."""

    #: Seconds alerts gather before the first message of a burst leaves.
    gather_s: float = 1.0
    #: An alert still pending this long after it could first be sent (after the quiet hours
    #: that held it) is given up (counted dead).
    max_age_s: float = 6 * 3600.0
    #: A message the service rejects (4xx) is tried this many times.
    max_rejections: int = 3
    #: Alerts pending per channel; beyond, the oldest are given up.
    max_pending: int = 10_000
    #: Delivered alerts remembered per channel (dedupe and edits) in memory.
    remember: int = 5_000
    #: A ``Retry-After`` longer than this is capped (and still waited).
    max_retry_after_s: float = 3600.0
    backoff: Backoff = attrs.field(factory=lambda: Backoff(initial=1.0, maximum=300.0))
    breaker: Breaker = attrs.field(
        factory=lambda: Breaker(threshold=5, cooldown_s=30.0, max_cooldown_s=600.0)
    )


@attrs.define
class Item:
    """One alert for one channel."""

    notice: Notice
    #: Not before this (quiet hours), then after gathering.
    due_at: float
    attempts: int = 0
    rejections: int = 0


@attrs.frozen
class Batch:
    """One message to one channel: one signal, one analysis, or a digest of several."""

    channel: Channel
    #: New signals (with their analysis when it arrived before they left).
    signals: tuple[tuple[SignalNotice, VerdictNotice | None], ...] = ()
    #: Analyses of signals sent earlier (with the signal when known).
    verdicts: tuple[tuple[VerdictNotice, SignalNotice | None], ...] = ()
    #: For a lone analysis: the service's reference of its signal's message when that signal
    #: was sent alone (edit it where the service can, or reply to it).
    ref: str | None = None
    #: A repeat of a failed attempt.
    retry: bool = False
    #: The outbox keys this message delivers.
    keys: tuple[str, ...] = ()

    @property
    def kind(self) -> Literal["signal", "verdict", "digest"]:
        """What the message is."""
        if len(self.signals) + len(self.verdicts) > 1:
            return "digest"
        return "signal" if self.signals else "verdict"

    @property
    def delivery_id(self) -> str:
        """Stable id of this message's content (a receiver can drop a repeat by it)."""
        digest = hashlib.sha256("|".join((self.channel.id, *sorted(self.keys))).encode())
        return digest.hexdigest()[:32]


@attrs.frozen
class Attempt:
    """How a send ended (built by the senders from the service's answer)."""

    outcome: Outcome
    #: The service's id of the message sent (for a later edit or reply).
    ref: str | None = None
    #: The service asked to wait this long (``Retry-After``, Telegram's
    #: ``parameters.retry_after``, Discord's ``retry_after``).
    retry_after_s: float | None = None
    #: After a success: the service's window is spent for this long (Discord's
    #: ``X-RateLimit-Remaining: 0`` with ``X-RateLimit-Reset-After``).
    hold_s: float | None = None
    #: Why it failed (redacted: no URL, no token).
    reason: str = ""


@attrs.define
class _Sent:
    ref: str | None
    alone: bool


@attrs.define
class _ChannelState:
    channel: Channel
    windows: list[RateWindow]
    breaker: Breaker
    retry: RetryPolicy
    items: dict[str, Item] = attrs.Factory(dict)
    sent: collections.OrderedDict[str, _Sent] = attrs.Factory(collections.OrderedDict)
    hold_until: float = 0.0
    in_flight: Batch | None = None
    failing_since: float | None = None
    last_error: str | None = None
    counts: collections.Counter[str] = attrs.Factory(collections.Counter)

    def ready_at(self, now: float) -> float:
        """When this channel may send next (ignoring its items)."""
        at = max(self.hold_until, now + self.breaker.wait_s(now))
        for window in self.windows:
            at = max(at, now + window.wait_s(now))
        return at


@attrs.frozen
class Settled:
    """What :meth:`Outbox.settle` changed, for the journal."""

    channel: str
    #: Keys the service acknowledged.
    delivered: tuple[str, ...] = ()
    #: Keys given up.
    dead: tuple[str, ...] = ()
    #: The service's id of the message (for a later edit or reply).
    ref: str | None = None
    #: The message carried one signal alone (its analysis may edit it or reply to it).
    alone: bool = False


class Outbox:
    """See the module docstring."""

    def __init__(
        self,
        channels: Iterable[Channel],
        policy: OutboxPolicy | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or OutboxPolicy()
        self.rng = rng or random.Random()
        self._windows: dict[tuple[str, float], RateWindow] = {}
        self._channels: dict[str, _ChannelState] = {}
        self._signals: collections.OrderedDict[str, SignalNotice] = collections.OrderedDict()
        self.muted = 0
        self.quiet = 0
        for channel in channels:
            self.open(channel)

    def open(self, channel: Channel) -> None:
        """Start sending to ``channel`` (no-op if known)."""
        if channel.id in self._channels:
            return
        windows = []
        for w in windows_for(channel):
            key = (w.key, w.period_s)
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = RateWindow(w.limit, window_s=w.period_s)
            windows.append(window)
        self._channels[channel.id] = _ChannelState(
            channel,
            windows,
            self.policy.breaker,
            RetryPolicy(
                self.policy.backoff,
                max_attempts=None,
                max_retry_after_s=self.policy.max_retry_after_s,
            ),
        )

    def knows(self, channel_id: str) -> bool:
        """Is the channel open?"""
        return channel_id in self._channels

    def channel(self, channel_id: str) -> Channel:
        """A known channel."""
        return self._channels[channel_id].channel

    def add(
        self, notice: Notice, channel_ids: Iterable[str], now: float, *, not_before: float = 0.0
    ) -> int:
        """Queue ``notice`` for each channel (unknown channels are an error); a pair queued or
        delivered before is not queued again. Returns how many pairs were queued."""
        if isinstance(notice, SignalNotice):
            self._signals[notice.signal_id] = notice
            if len(self._signals) > self.policy.remember:
                self._signals.popitem(last=False)
        if not_before > now:
            self.quiet += 1
        added = 0
        for channel_id in channel_ids:
            state = self._channels[channel_id]
            key = notice.key
            if key in state.items or key in state.sent:
                continue
            state.items[key] = Item(notice, max(now, not_before))
            added += 1
            if len(state.items) > self.policy.max_pending:
                oldest = next(iter(state.items))
                del state.items[oldest]
                state.counts["dead"] += 1
        return added

    def drop(self, unwanted: Callable[[Notice], bool]) -> list[tuple[str, str]]:
        """Take the queued alerts ``unwanted`` says are no longer to be sent (a mute set after
        they were queued) out of every channel, but those in flight (they are being sent).
        Returns their ``(key, channel id)``."""
        dropped: list[tuple[str, str]] = []
        for state in self._channels.values():
            flying = state.in_flight.keys if state.in_flight is not None else ()
            for key in [k for k, i in state.items.items() if unwanted(i.notice)]:
                if key not in flying:
                    del state.items[key]
                    dropped.append((key, state.channel.id))
        return dropped

    def signal_of(self, signal_id: str) -> SignalNotice | None:
        """The signal's notice, while remembered (an analysis names only the signal)."""
        return self._signals.get(signal_id)

    def remember(self, channel_id: str, key: str, ref: str | None) -> None:
        """``key`` was delivered alone on the channel as message ``ref`` (known from the
        store after a restart: its analysis can then edit it or reply to it)."""
        state = self._channels[channel_id]
        state.sent[key] = _Sent(ref, alone=ref is not None)
        while len(state.sent) > self.policy.remember:
            state.sent.popitem(last=False)

    def take(self, now: float) -> list[Batch]:
        """The message of every channel that may send now (each is then in flight until
        :meth:`settle`)."""
        batches = []
        for state in self._channels.values():
            if state.in_flight is not None or not state.items:
                continue
            self._expire(state, now)
            if not state.items or state.ready_at(now) > now:
                continue
            first_due = min(item.due_at for item in state.items.values())
            if first_due + self.policy.gather_s > now:
                continue
            allowed, breaker = state.breaker.allow(now)
            if not allowed:
                continue
            state.breaker = breaker
            for window in state.windows:
                window.take(now)
            batch = self._batch(state, now)
            state.in_flight = batch
            batches.append(batch)
        return batches

    def _expire(self, state: _ChannelState, now: float) -> None:
        stale = [k for k, i in state.items.items() if now - i.due_at >= self.policy.max_age_s]
        for key in stale:
            del state.items[key]
        state.counts["dead"] += len(stale)

    def _batch(self, state: _ChannelState, now: float) -> Batch:
        horizon = now + self.policy.gather_s
        items = [i for i in state.items.values() if i.due_at <= horizon]
        verdicts = {
            i.notice.signal_id: i.notice for i in items if isinstance(i.notice, VerdictNotice)
        }
        signals: list[tuple[SignalNotice, VerdictNotice | None]] = []
        for item in items:
            if isinstance(item.notice, SignalNotice):
                signals.append((item.notice, verdicts.pop(item.notice.signal_id, None)))
        merged = {n.signal_id for n, v in signals if v is not None}
        lone = [(v, self._signals.get(sid)) for sid, v in verdicts.items() if sid not in merged]
        ref = None
        if not signals and len(lone) == 1:
            sent = state.sent.get(lone[0][0].signal_id)
            ref = sent.ref if sent is not None and sent.alone else None
        keys = tuple(i.notice.key for i in items)
        retry = any(i.attempts for i in items)
        return Batch(state.channel, tuple(signals), tuple(lone), ref, retry, keys)

    def settle(self, batch: Batch, attempt: Attempt, now: float) -> Settled:
        """Record how ``batch`` went; returns what changed."""
        state = self._channels[batch.channel.id]
        if state.in_flight is not batch:
            raise ValueError("settle() takes the batch take() gave, once")
        state.in_flight = None
        state.breaker = state.breaker.record(attempt.outcome, now)
        if batch.retry:
            state.counts["retried"] += 1
        if attempt.outcome == "ok":
            return self._delivered(state, batch, attempt, now)
        return self._failed(state, batch, attempt, now)

    def _delivered(
        self, state: _ChannelState, batch: Batch, attempt: Attempt, now: float
    ) -> Settled:
        state.retry = state.retry.succeeded()
        state.failing_since = None
        state.counts["sent"] += 1
        state.counts["delivered"] += len(batch.keys)
        if batch.kind == "digest":
            state.counts["digests"] += 1
        alone = batch.kind == "signal"
        for key in batch.keys:
            item = state.items.pop(key, None)
            if item is None:
                continue
            state.sent[key] = _Sent(attempt.ref if alone else None, alone)
        while len(state.sent) > self.policy.remember:
            state.sent.popitem(last=False)
        if attempt.hold_s:
            for window in state.windows:
                window.hold(now + attempt.hold_s)
        return Settled(state.channel.id, delivered=batch.keys, ref=attempt.ref, alone=alone)

    def _failed(self, state: _ChannelState, batch: Batch, attempt: Attempt, now: float) -> Settled:
        state.counts["failed"] += 1
        state.last_error = state.channel.redact(attempt.reason or attempt.outcome)
        if state.failing_since is None:
            state.failing_since = now
        if batch.ref is not None and attempt.outcome in REJECTED:
            # The message to edit is gone (deleted, too old): send the analysis as a new one.
            sid = batch.verdicts[0][0].signal_id
            if sid in state.sent:
                state.sent[sid].alone = False
            return Settled(state.channel.id)
        delay = state.retry.delay(attempt.retry_after_s, self.rng)
        state.retry = state.retry.failed()
        if attempt.retry_after_s is not None and attempt.outcome == "rate_limited":
            for window in state.windows:
                window.hold(now + delay)
        state.hold_until = now + delay
        dead = []
        for key in batch.keys:
            item = state.items.get(key)
            if item is None:
                continue
            item.attempts += 1
            if attempt.outcome in REJECTED:
                item.rejections += 1
                if item.rejections >= self.policy.max_rejections:
                    del state.items[key]
                    dead.append(key)
        state.counts["dead"] += len(dead)
        return Settled(state.channel.id, dead=tuple(dead))

    def wake_at(self, now: float) -> float | None:
        """When :meth:`take` may next have something (None: nothing pending anywhere)."""
        wake: float | None = None
        for state in self._channels.values():
            if state.in_flight is not None or not state.items:
                continue
            first = min(i.due_at for i in state.items.values()) + self.policy.gather_s
            oldest = min(i.due_at for i in state.items.values()) + self.policy.max_age_s
            at = min(max(first, state.ready_at(now)), oldest)
            wake = at if wake is None else min(wake, at)
        return wake

    def pending(self, channel_id: str | None = None) -> int:
        """Alerts waiting (one channel or all)."""
        states = self._channels.values() if channel_id is None else [self._channels[channel_id]]
        return sum(len(s.items) for s in states)

    def delivered(self, channel_id: str, key: str) -> bool:
        """Was this alert acknowledged on this channel (as far as memory reaches)?"""
        return key in self._channels[channel_id].sent

    def statistics(self, now: float) -> NotifierStatistics:
        """The numbers of every channel."""
        channels = []
        for state in self._channels.values():
            c = state.counts
            channels.append(
                ChannelStatistics(
                    channel=state.channel.id,
                    service=state.channel.service,
                    sent=c["sent"],
                    delivered=c["delivered"],
                    failed=c["failed"],
                    retried=c["retried"],
                    digests=c["digests"],
                    pending=len(state.items),
                    dead=c["dead"],
                    breaker=state.breaker.state,
                    failing_for_s=None
                    if state.failing_since is None
                    else now - state.failing_since,
                    last_error=state.last_error,
                )
            )
        return NotifierStatistics(tuple(channels), muted=self.muted, quiet=self.quiet)

    def channels(self) -> Sequence[Channel]:
        """Every known channel."""
        return [s.channel for s in self._channels.values()]
