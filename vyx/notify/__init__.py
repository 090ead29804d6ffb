"""Alerts where the trader is: Telegram, Discord, JSON webhooks natively, 100+ services through
apprise; each (alert, channel) once, bursts as digests.

::

    channels.py   apprise URLs → Channel values (secrets kept out of every text)
    notices.py    what is announced (SignalNotice, VerdictNotice) and to whom (TraderAlerts),
                  quiet hours
    limits.py     each service's rate windows
    outbox.py     the decisions (sans-IO): dedupe, gathering, digests, rate windows,
                  Retry-After, backoff, circuit breaker, give-up rules
    render.py     the words: one signal, a digest, an analysis (HTML / Markdown / text)
    wire.py       one HTTP round trip → Attempt
    telegram.py   Bot API sendMessage / editMessageText
    discord.py    webhooks: execute (wait=true) / edit message
    webhook.py    json:// — apprise's JSON payload plus the alerts as data
    apprise_sender.py   every other apprise URL, in bounded worker threads
    service.py    the Trio shell: Notifier, run_notifier
    settings.py   NotifySettings (what the configuration fills)
    stats.py      frozen statistics for /metrics and /health

Why not apprise for everything (measured on this machine, apprise 2.3): importing it costs
~16 MiB and 0.25–0.8 s; resolving the first URL imports all ~190 plugins, another ~24 MiB and
1.3–2 s (the machine has 256 MB). Its ``notify()`` answers only True/False: no status, no
``Retry-After`` (Telegram's ``parameters.retry_after`` is lost), no message id (no edits, no
replies), and its Discord plugin sleeps and re-sends by itself on a 429 (a hidden duplicate path
beside the outbox's). Telegram's and Discord's hosts are class constants (a test fake can only
be reached by patching them). So the three services the alerts mostly go to are spoken over the
httpx client the daemon already has (configurable base URLs, statuses, ``Retry-After``, message
ids); every other apprise URL goes to apprise unchanged, imported only when one is configured.

Errors: :class:`~vyx.notify.channels.ChannelError` (a URL that cannot be used) and
:class:`~vyx.notify.notices.AlertsError` (a trader's settings), both ``ValueError``, raised when
configuration is read. Sending never raises: every failure is an
:class:`~vyx.notify.outbox.Attempt` the outbox settles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vyx.lazy import lazy_exports

if TYPE_CHECKING:
    from vyx.notify.channels import Channel, ChannelError, parse_urls
    from vyx.notify.notices import (
        AlertsError,
        QuietHours,
        SignalNotice,
        TraderAlerts,
        VerdictNotice,
    )
    from vyx.notify.outbox import Attempt, Batch, Outbox, OutboxPolicy
    from vyx.notify.service import Notifier, run_notifier
    from vyx.notify.settings import NotifySettings
    from vyx.notify.stats import ChannelStatistics, NotifierStatistics

# Resolved on first use: the configuration imports the pure modules (channels, notices,
# settings) and must not load httpx and the senders with them.
_EXPORTS = {
    "Channel": "channels",
    "ChannelError": "channels",
    "parse_urls": "channels",
    "AlertsError": "notices",
    "QuietHours": "notices",
    "SignalNotice": "notices",
    "TraderAlerts": "notices",
    "VerdictNotice": "notices",
    "Attempt": "outbox",
    "Batch": "outbox",
    "Outbox": "outbox",
    "OutboxPolicy": "outbox",
    "Notifier": "service",
    "run_notifier": "service",
    "NotifySettings": "settings",
    "ChannelStatistics": "stats",
    "NotifierStatistics": "stats",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "AlertsError",
    "Attempt",
    "Batch",
    "Channel",
    "ChannelError",
    "ChannelStatistics",
    "Notifier",
    "NotifierStatistics",
    "NotifySettings",
    "Outbox",
    "OutboxPolicy",
    "QuietHours",
    "SignalNotice",
    "TraderAlerts",
    "VerdictNotice",
    "parse_urls",
    "run_notifier",
]
