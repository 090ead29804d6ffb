"""Each service's published rate limits, as sliding windows keyed by what they limit (pure).

- Telegram (core.telegram.org/bots/faq): about 30 messages per second per bot overall, one per
  second per chat, 20 per minute per group. Every chat is held to the group limit (a chat id
  does not say whether it is a group).
- Discord webhooks: 5 requests per 2 seconds per webhook (the ``X-RateLimit-*`` headers of
  every answer say so) and 30 messages per minute per channel.
- JSON webhooks: 10 per second (a courtesy to the receiver); other apprise services: 1 per
  second, 20 per minute (apprise's own pacing is switched off: the outbox paces).

A key shared by several channels (one bot token for many chats) is one window for all of them.
"""

from __future__ import annotations

import hashlib

import attrs

from vyx.notify.channels import Channel


@attrs.frozen
class Window:
    """At most ``limit`` sends per ``period_s`` seconds among the channels sharing ``key``."""

    key: str
    limit: int
    period_s: float


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def windows_for(channel: Channel) -> tuple[Window, ...]:
    """The windows a send to ``channel`` must fit into."""
    if channel.transport == "telegram":
        token, _, _chat = channel.target.partition("/")
        bot = f"telegram-bot:{_hash(token)}"
        return (
            Window(bot, 30, 1.0),
            Window(channel.id, 1, 1.0),
            Window(channel.id, 20, 60.0),
        )
    if channel.transport == "discord":
        hook = f"discord-hook:{_hash(channel.target)}"
        return (Window(hook, 5, 2.0), Window(hook, 30, 60.0))
    if channel.transport == "json":
        return (Window(channel.id, 10, 1.0),)
    return (Window(channel.id, 1, 1.0), Window(channel.id, 20, 60.0))
