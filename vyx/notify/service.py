"""The notifier: a sink that takes alerts without waiting and sends them from its own tasks.

::

    signals(notices) / verdict(notice)        (sync, O(channels) per alert: never blocks a close)
        │  route: machine channels + the trader's own, unless muted or switched off;
        │  quiet hours → held until they end
        ▼
    Outbox (pure) ── take(now) ──► one batch per ready channel ──► sender task
        ▲                                                          telegram | discord | json
        └──────────── settle(batch, attempt, now) ◄────────────── (httpx) | apprise (thread)

One loop wakes when an alert arrives, a send ends, or the outbox's next deadline comes
(gathering, backoff, rate windows, breaker, quiet hours) — no polling. Sends to different
channels run concurrently; apprise threads are bounded by :attr:`NotifySettings.threads`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping

import attrs
import httpx
import trio
from loguru import logger

from vyx.notify import discord, telegram, webhook
from vyx.notify.apprise_sender import AppriseSender
from vyx.notify.channels import Channel, describe
from vyx.notify.notices import QuietHours, SignalNotice, TraderAlerts, VerdictNotice
from vyx.notify.outbox import Attempt, Batch, Outbox, OutboxPolicy, Settled
from vyx.notify.redaction import protect
from vyx.notify.stats import NotifierStatistics


@attrs.frozen
class NotifySettings:
    """What the notifier needs (the config module fills it from the environment)."""

    #: The machine's channels (``NOTIFY_URLS``): every trader's alerts go there.
    channels: tuple[Channel, ...] = ()
    telegram_url: str = telegram.API_URL
    discord_url: str = discord.API_URL
    #: The dashboard's public address (alerts link to their signal), None for no link.
    dashboard_url: str | None = None
    quiet_hours: QuietHours | None = None
    #: Seconds one send may take.
    timeout_s: float = 10.0
    #: Worker threads for apprise channels.
    threads: int = 2
    policy: OutboxPolicy = attrs.field(factory=OutboxPolicy)


class Notifier:
    """See the module docstring. Feed it with :meth:`signals` and :meth:`verdict`; run
    :meth:`serve` (or :func:`run_notifier`) to send."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_settled: Callable[[Settled], None] | None = None,
    ) -> None:
        self.settings = settings
        protect(settings.channels)
        self.outbox = Outbox(settings.channels, settings.policy, rng=rng)
        self.wall = wall
        self.on_settled = on_settled
        self.alerts: dict[str, TraderAlerts] = {}
        self._machine = tuple(c.id for c in settings.channels)
        self._wake = trio.Event()
        self._apprise = AppriseSender(
            trio.CapacityLimiter(max(1, settings.threads)), link_base=settings.dashboard_url
        )

    def set_traders(self, alerts: Mapping[str, TraderAlerts]) -> None:
        """The traders' alert settings (replaces the previous ones; their channels open)."""
        for entry in alerts.values():
            protect(entry.channels)
            for channel in entry.channels:
                self.outbox.open(channel)
        self.alerts = dict(alerts)

    def _route(self, trader_id: str, analysis: bool) -> list[str]:
        entry = self.alerts.get(trader_id, TraderAlerts())
        wanted = entry.on_analysis if analysis else entry.on_signal
        if entry.muted or not wanted:
            self.outbox.muted += 1
            return []
        return list(dict.fromkeys([*self._machine, *(c.id for c in entry.channels)]))

    def _not_before(self, now: float) -> float:
        if self.settings.quiet_hours is None:
            return 0.0
        wall = self.wall()
        until = self.settings.quiet_hours.until(wall)
        return 0.0 if until is None else now + (until - wall)

    def signals(self, notices: Iterable[SignalNotice]) -> int:
        """Queue the alerts of new signals (provisional ones are not announced); returns how
        many (signal, channel) pairs were queued."""
        now = trio.current_time()
        not_before = self._not_before(now)
        added = 0
        for notice in notices:
            if notice.provisional:
                continue
            channels = self._route(notice.trader_id, analysis=False)
            added += self.outbox.add(notice, channels, now, not_before=not_before)
        if added:
            self._wake.set()
        return added

    def verdict(self, notice: VerdictNotice) -> int:
        """Queue the alert of an analysis."""
        now = trio.current_time()
        channels = self._route(notice.trader_id, analysis=True)
        added = self.outbox.add(notice, channels, now, not_before=self._not_before(now))
        if added:
            self._wake.set()
        return added

    def statistics(self) -> NotifierStatistics:
        """Per channel: sent, failed, retried, pending, breaker state."""
        return self.outbox.statistics(trio.current_time())

    async def serve(
        self,
        client: httpx.AsyncClient,
        *,
        task_status: trio.TaskStatus[Notifier] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Send until cancelled (sends in flight are cancelled with it: their alerts stay
        pending)."""
        if self.settings.channels:
            logger.info("alerts go to: {}", describe(self.settings.channels))
        async with trio.open_nursery() as nursery:
            task_status.started(self)
            while True:
                now = trio.current_time()
                for batch in self.outbox.take(now):
                    nursery.start_soon(self._send, client, batch)
                wake = self.outbox.wake_at(now)
                with trio.move_on_at(wake if wake is not None else float("inf")):
                    await self._wake.wait()
                self._wake = trio.Event()

    async def _send(self, client: httpx.AsyncClient, batch: Batch) -> None:
        attempt = await self.deliver(client, batch)
        settled = self.outbox.settle(batch, attempt, trio.current_time())
        if attempt.outcome != "ok":
            logger.warning(
                "alert to {} failed ({}): {}",
                batch.channel.id,
                attempt.outcome,
                batch.channel.redact(attempt.reason),
            )
        if self.on_settled is not None:
            self.on_settled(settled)
        self._wake.set()

    async def deliver(self, client: httpx.AsyncClient, batch: Batch) -> Attempt:
        """One send of ``batch`` by its channel's transport."""
        s = self.settings
        link = s.dashboard_url
        transport = batch.channel.transport
        if transport == "telegram":
            return await telegram.send(
                client, batch, api_url=s.telegram_url, link_base=link, timeout_s=s.timeout_s
            )
        if transport == "discord":
            return await discord.send(
                client, batch, api_url=s.discord_url, link_base=link, timeout_s=s.timeout_s
            )
        if transport == "json":
            return await webhook.send(client, batch, link_base=link, timeout_s=s.timeout_s)
        return await self._apprise.send(batch)


async def run_notifier(
    settings: NotifySettings,
    *,
    client: httpx.AsyncClient | None = None,
    task_status: trio.TaskStatus[Notifier] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a :class:`Notifier` until cancelled; ``started`` with it once it takes alerts."""
    notifier = Notifier(settings)
    if client is not None:
        await notifier.serve(client, task_status=task_status)
        return
    async with httpx.AsyncClient(follow_redirects=False) as own:
        await notifier.serve(own, task_status=task_status)
