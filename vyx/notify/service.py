"""The notifier: a sink that takes alerts without waiting and sends them from its own tasks.

::

    signals(notices) / verdict(notice)        (sync, O(channels) per alert: never blocks a close)
        │  route: machine channels + the trader's own, unless muted or switched off;
        │  quiet hours → held until they end
        │  a mute set later: its queued alerts are taken out, recorded ``muted``
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
from typing import Any

import httpx
import trio
from loguru import logger

from vyx.breaker import Outcome
from vyx.mutes import Mutes
from vyx.notify import discord, telegram, webhook
from vyx.notify.apprise_sender import AppriseSender
from vyx.notify.channels import describe
from vyx.notify.destinations import vet
from vyx.notify.notices import (
    Notice,
    SignalNotice,
    TraderAlerts,
    VerdictNotice,
    notice_from_json,
    notice_to_json,
)
from vyx.notify.outbox import Attempt, Batch, Outbox, OutboxPolicy, Settled
from vyx.notify.redaction import protect
from vyx.notify.settings import NotifySettings
from vyx.notify.stats import NotifierStatistics
from vyx.signal import Signal
from vyx.store.outbox import PAGE_ROWS, AlertOutbox, AlertRow, OutboxEntry, Settlement

#: A trader without settings of its own (the defaults; made once, not per alert).
_NO_SETTINGS = TraderAlerts()


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
        report: Callable[[NotifierStatistics], None] | None = None,
    ) -> None:
        self.settings = settings
        protect(settings.channels)
        self.policy = settings.policy or OutboxPolicy()
        self.outbox = Outbox(settings.channels, self.policy, rng=rng)
        self.wall = wall
        self.on_settled = on_settled
        #: Told the statistics at start, after each send and when the traders change
        #: (``/health``).
        self.report = report
        self.alerts: dict[str, TraderAlerts] = {}
        self.mutes = Mutes()
        #: The machine's channel ids, each once.
        self._machine = tuple(dict.fromkeys(c.id for c in settings.channels))
        self._wake = trio.Event()
        #: The store's outbox once :meth:`serve` follows it.
        self._journal: AlertOutbox | None = None
        #: Stored alerts of channels not (yet) configured: a trader's own channels open when
        #: the traders are installed, after the store was read.
        self._held: list[OutboxEntry] = []
        #: Queued alerts a mute took out, to record as such (``(key, channel)``).
        self._unsent: list[tuple[str, str]] = []
        self._apprise = AppriseSender(
            trio.CapacityLimiter(max(1, settings.threads)),
            link_base=settings.dashboard_url,
        )

    def set_traders(self, alerts: Mapping[str, TraderAlerts]) -> None:
        """The traders' alert settings (replaces the previous ones; their channels open, and
        stored alerts waiting for them are queued)."""
        for entry in alerts.values():
            protect(entry.channels)
            for channel in entry.channels:
                self.outbox.open(channel)
        self.alerts = dict(alerts)
        if self._held:
            held, self._held = self._held, []
            self._restore(held)
        self._drop_muted()
        self._report()

    def set_mutes(self, mutes: Mutes) -> None:
        """The user's mutes (:mod:`vyx.mutes`; replaces the previous ones): from the next alert
        on, none for a muted symbol or trader; the alerts of one still queued (an outage, the
        quiet hours) are not sent either: recorded ``muted`` in the store's outbox."""
        self.mutes = mutes
        self._drop_muted()

    def _muted(self, trader_id: str, symbol: str | None) -> bool:
        """Is an alert of ``trader_id`` on ``symbol`` muted (the trader's own setting, or the
        user's mutes)?"""
        entry = self.alerts.get(trader_id)
        return (entry is not None and entry.muted) or self.mutes.covers(trader_id, symbol)

    def _notice_muted(self, notice: Notice) -> bool:
        """Is ``notice`` muted now (an analysis: by its signal's symbol, while remembered)?"""
        if isinstance(notice, SignalNotice):
            return self._muted(notice.trader_id, notice.symbol)
        signal = self.outbox.signal_of(notice.signal_id)
        return self._muted(notice.trader_id, signal.symbol if signal is not None else None)

    def _drop_muted(self) -> None:
        """Take the queued alerts muted now out of the outbox (recorded by the send loop)."""
        self._hold_back(self.outbox.drop(self._notice_muted))

    def _hold_back(self, pairs: list[tuple[str, str]]) -> None:
        """``(key, channel)`` pairs queued but muted since: counted, logged, and recorded in
        the store's outbox (by the send loop) as given up, ``muted``."""
        if not pairs:
            return
        self.outbox.muted += len({key for key, _ in pairs})
        logger.info(
            "alerts: {} queued alert(s) not sent: muted since they were queued",
            len(pairs),
        )
        self._unsent.extend(pairs)
        self._wake.set()

    def _report(self) -> None:
        if self.report is not None:
            self.report(self.statistics())

    def route(
        self, trader_id: str, *, symbol: str | None = None, analysis: bool = False
    ) -> list[str]:
        """The channels an alert of ``trader_id`` (on ``symbol``) goes to: the machine's and
        the trader's own; none when the trader is muted (its own setting, or the user's
        mutes), its symbol is muted, or it has this kind of alert off (counted ``muted``)."""
        entry = self.alerts.get(trader_id, _NO_SETTINGS)
        wanted = entry.on_analysis if analysis else entry.on_signal
        if not wanted or entry.muted or self.mutes.covers(trader_id, symbol):
            self.outbox.muted += 1
            return []
        if not entry.channels:
            return list(self._machine)
        return list(dict.fromkeys([*self._machine, *(c.id for c in entry.channels)]))

    def muted(self, signal: Signal) -> bool:
        """Is ``signal``'s alert muted now (the user's mutes or its trader's own ``mute``)?
        (Counts nothing: :meth:`route` does.)"""
        return self._muted(signal.trader_id, signal.symbol)

    def signal_alerts(
        self, signals: Iterable[Signal], names: Mapping[str, str] | None = None
    ) -> dict[str, list[AlertRow]]:
        """The outbox rows of new confirmed signals, by signal id, to store with them
        (``names``: trader id → name for the message)."""
        names = names or {}
        rows: dict[str, list[AlertRow]] = {}
        for signal in signals:
            if signal.provisional:
                continue
            channels = self.route(signal.trader_id, symbol=signal.symbol)
            if channels:
                body = notice_to_json(SignalNotice.of(signal, names.get(signal.trader_id)))
                rows[signal.id] = [AlertRow(signal.id, c, body) for c in channels]
        return rows

    def verdict_alerts(
        self, row: Mapping[str, Any], signal: Signal | None = None
    ) -> list[AlertRow]:
        """The outbox rows of an analysis (a ``signal_analyses`` row) of ``signal``, to store
        with it (none for a failed analysis, nor when its symbol or trader is muted)."""
        notice = VerdictNotice.from_row(row)
        if notice is None:
            return []
        body = notice_to_json(notice)
        symbol = signal.symbol if signal is not None else None
        channels = self.route(notice.trader_id, symbol=symbol, analysis=True)
        return [AlertRow(notice.key, c, body) for c in channels]

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
            channels = self.route(notice.trader_id, symbol=notice.symbol)
            added += self.outbox.add(notice, channels, now, not_before=not_before)
        if added:
            self._wake.set()
        return added

    def verdict(self, notice: VerdictNotice) -> int:
        """Queue the alert of an analysis."""
        now = trio.current_time()
        channels = self.route(notice.trader_id, analysis=True)
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
        outbox: AlertOutbox | None = None,
        *,
        task_status: trio.TaskStatus[Notifier] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Send until cancelled (sends in flight are cancelled with it: their alerts stay
        pending). With the store's ``outbox``, the alerts are its rows: the pending ones are
        read before ``started`` (what an earlier run left), new ones as they are committed,
        and each delivery or give-up is written back before the next send to that channel."""
        if self.settings.channels:
            logger.info("alerts go to: {}", describe(self.settings.channels))
        async with trio.open_nursery() as nursery:
            if outbox is not None:
                self._journal = outbox
                await nursery.start(self._follow, outbox)
            task_status.started(self)
            self._report()
            while True:
                if self._unsent:
                    unsent, self._unsent = self._unsent, []
                    if self._journal is not None:
                        nursery.start_soon(self._record_unsent, self._journal, unsent)
                now = trio.current_time()
                for batch in self.outbox.take(now):
                    nursery.start_soon(self._send, client, batch)
                wake = self.outbox.wake_at(now)
                with trio.move_on_at(wake if wake is not None else float("inf")):
                    await self._wake.wait()
                self._wake = trio.Event()

    async def _follow(
        self,
        outbox: AlertOutbox,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Queue the store's pending alerts, then each commit's new ones, until cancelled."""
        after = 0
        restored = 0
        while True:
            changed = outbox.changed()  # before reading: a commit meanwhile is not missed
            entries = await outbox.pending(after)
            if entries:
                after = entries[-1].seq
                restored += len(entries)
                dead = self._restore(entries)
                if dead:
                    await outbox.settle(Settlement(dead=tuple(dead)))
            if len(entries) == PAGE_ROWS:
                continue
            if task_status is not trio.TASK_STATUS_IGNORED:
                if restored:
                    logger.info("alerts: {} owed from the last run", restored)
                task_status.started()
                task_status = trio.TASK_STATUS_IGNORED
            await changed.wait()

    async def _record_unsent(self, journal: AlertOutbox, pairs: list[tuple[str, str]]) -> None:
        """Record queued alerts a mute held back (given up, ``muted``; never sent later)."""
        try:
            await journal.settle(Settlement(muted=tuple(pairs)))
        except Exception as exc:  # sqlite3.Error: pending again at the next start, muted then
            logger.warning("alerts: could not record {} muted alert(s): {}", len(pairs), exc)

    def _restore(self, entries: Iterable[OutboxEntry]) -> list[tuple[str, str]]:
        """Queue stored alerts; returns the ones given up (unreadable, too old); the ones
        muted since they were stored are held back (:meth:`_hold_back`)."""
        now = trio.current_time()
        wall = self.wall()
        not_before = self._not_before(now)
        dead: list[tuple[str, str]] = []
        muted: list[tuple[str, str]] = []
        added = 0
        for entry in entries:
            if not self.outbox.knows(entry.channel):
                if len(self._held) < self.policy.max_pending:
                    self._held.append(entry)
                continue
            try:
                notice = notice_from_json(entry.notice)
            except ValueError:
                dead.append((entry.key, entry.channel))
                continue
            if wall - entry.created_at / 1000 >= self.policy.max_age_s:
                dead.append((entry.key, entry.channel))
                continue
            if self._notice_muted(notice):
                muted.append((entry.key, entry.channel))
                continue
            if entry.signal_ref is not None and isinstance(notice, VerdictNotice):
                self.outbox.remember(entry.channel, notice.signal_id, entry.signal_ref)
            added += self.outbox.add(notice, [entry.channel], now, not_before=not_before)
        if added:
            self._wake.set()
        self._hold_back(muted)
        return dead

    async def _send(self, client: httpx.AsyncClient, batch: Batch) -> None:
        attempt = await self.deliver(client, batch)
        settled = self.outbox.settle(batch, attempt, trio.current_time())
        if self._journal is not None and (settled.delivered or settled.dead):
            ref = settled.ref if settled.alone else None
            channel = settled.channel
            settlement = Settlement(
                delivered=tuple((key, channel, ref) for key in settled.delivered),
                dead=tuple((key, channel) for key in settled.dead),
            )
            try:
                # Durable before the loop is woken: a crash after this resends nothing of it.
                await self._journal.settle(settlement)
            except Exception as exc:  # sqlite3.Error (disk full, I/O): the alerts went out
                logger.warning("alerts: could not record {} as sent: {}", channel, exc)
        if attempt.outcome != "ok":
            self._drop_muted()  # muted while it was in flight: not tried again
            logger.warning(
                "alert to {} failed ({}): {}",
                batch.channel.id,
                attempt.outcome,
                batch.channel.redact(attempt.reason),
            )
        if self.on_settled is not None:
            self.on_settled(settled)
        self._report()
        self._wake.set()

    async def deliver(self, client: httpx.AsyncClient, batch: Batch) -> Attempt:
        """One send of ``batch`` by its channel's transport (a database trader's channel
        refused, as a rejected message, when it goes to a private or loopback address: see
        :mod:`vyx.notify.destinations`)."""
        s = self.settings
        address = None
        if batch.channel.remote and not s.allow_private:
            vetted = await vet(batch.channel, s.timeout_s)
            if vetted.refused is not None:
                outcome: Outcome = "transport" if vetted.unresolved else "client"
                return Attempt(outcome, reason=vetted.refused)
            address = vetted.address
        link = s.dashboard_url
        transport = batch.channel.transport
        if transport == "telegram":
            return await telegram.send(
                client,
                batch,
                api_url=s.telegram_url,
                link_base=link,
                timeout_s=s.timeout_s,
            )
        if transport == "discord":
            return await discord.send(
                client,
                batch,
                api_url=s.discord_url,
                link_base=link,
                timeout_s=s.timeout_s,
            )
        if transport == "json":
            return await webhook.send(
                client, batch, link_base=link, timeout_s=s.timeout_s, address=address
            )
        return await self._apprise.send(batch)


async def run_notifier(
    settings: NotifySettings,
    outbox: AlertOutbox | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    report: Callable[[NotifierStatistics], None] | None = None,
    task_status: trio.TaskStatus[Notifier] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a :class:`Notifier` until cancelled (following the store's ``outbox`` when given);
    ``started`` with it once it takes alerts (the owed ones read)."""
    notifier = Notifier(settings, report=report)
    if client is not None:
        await notifier.serve(client, outbox, task_status=task_status)
        return
    async with httpx.AsyncClient(follow_redirects=False) as own:
        await notifier.serve(own, outbox, task_status=task_status)
