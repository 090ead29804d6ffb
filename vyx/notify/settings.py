"""What the notifier is configured with (a light module: the configuration imports it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from vyx.notify.channels import Channel
from vyx.notify.notices import QuietHours

if TYPE_CHECKING:
    from vyx.notify.outbox import OutboxPolicy

#: The services' real addresses (tests point them at local fakes).
TELEGRAM_API_URL = "https://api.telegram.org"
DISCORD_API_URL = "https://discord.com/api"


@attrs.frozen
class NotifySettings:
    """What the notifier needs (the config module fills it from the environment)."""

    #: The machine's channels (``NOTIFY_URLS``): every trader's alerts go there. Secret: only
    #: their ids (``service:hash``) are ever shown.
    channels: tuple[Channel, ...] = ()
    telegram_url: str = TELEGRAM_API_URL
    discord_url: str = DISCORD_API_URL
    #: The dashboard's public address (alerts link to their signal), None for no link.
    dashboard_url: str | None = None
    quiet_hours: QuietHours | None = None
    #: Seconds one send may take.
    timeout_s: float = 10.0
    #: Worker threads for apprise channels.
    threads: int = 2
    #: The outbox's limits (None: :class:`~vyx.notify.outbox.OutboxPolicy`'s defaults).
    policy: OutboxPolicy | None = None
    #: Send a database trader's channels (``cloud_config.notifyUrls``) to private and loopback
    #: addresses too (``NOTIFY_ALLOW_PRIVATE``; the machine's own URLs always may).
    allow_private: bool = False
