"""Where alerts go: apprise URLs parsed into :class:`Channel` values (pure).

One syntax for every service — apprise's URLs (``tgram://``, ``discord://``, ``json://``,
``slack://``, ``mailto://``, ``ntfy://``, … 100+ services). Three services are spoken natively
over httpx (see :mod:`vyx.notify` for why): Telegram, Discord webhooks and JSON webhooks; every
other URL is handed to apprise as it is.

- ``tgram://BOT_TOKEN/CHAT_ID[/CHAT_ID…][?silent=yes&preview=no&topic=N]`` — one channel per
  chat (``-100…`` groups, ``@channel`` names).
- ``discord://[BOTNAME@]WEBHOOK_ID/WEBHOOK_TOKEN[?avatar_url=…&thread=ID]`` or the webhook's
  ``https://discord.com/api/webhooks/ID/TOKEN``.
- ``json://[USER[:PASSWORD]@]HOST[:PORT][/PATH][?+Header=Value&-param=value]`` (``jsons://`` for
  HTTPS): apprise's JSON payload, ``+`` adds a header, ``-`` a query parameter.

A URL is a secret (bot tokens, webhook tokens, passwords): a channel shows itself only as
``service:hash`` (:attr:`Channel.id`, stable across restarts, the outbox's dedupe key) and
:meth:`Channel.redact` scrubs its secrets from any text. Errors never quote a URL.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Iterable
from typing import Literal

import attrs

#: How a channel is spoken to.
Transport = Literal["telegram", "discord", "json", "apprise"]

#: At most this many URLs per configuration (NOTIFY_URLS, one trader's list).
MAX_URLS = 20
#: At most this many characters per URL.
MAX_URL_CHARS = 2000

_TELEGRAM_TOKEN = re.compile(r"^(?:bot)?(\d+:[A-Za-z0-9_-]+)$")
_TELEGRAM_CHAT = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,})$")
_DISCORD_ID = re.compile(r"^\d{5,30}$")
_DISCORD_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{10,200}$")
_DISCORD_HTTPS = re.compile(
    r"^https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/([^/?#]+)/([^/?#]+)/?(\?.*)?$"
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{1,30})://", re.I)
_YES = {"yes", "true", "1", "on"}
_NO = {"no", "false", "0", "off"}


class ChannelError(ValueError):
    """A notification URL that cannot be used; the message names the service and what is
    wrong, never the URL itself (it holds secrets)."""


@attrs.frozen
class Channel:
    """One destination of alerts (one Telegram chat, one webhook, one apprise URL)."""

    #: ``service:hash`` — stable, secret-free; what logs, metrics and the outbox use.
    id: str
    #: What is shown of it: ``telegram``, ``discord``, ``json``, or apprise's scheme.
    service: str
    transport: Transport
    #: Where it is sent (service-specific; see :func:`parse_url`). Secret.
    target: str = attrs.field(repr=False)
    #: The secrets inside :attr:`target`/:attr:`options` (to scrub from any text).
    secrets: tuple[str, ...] = attrs.field(repr=False, default=())
    #: Service options (``silent``, ``preview``, ``topic``, ``thread``, headers, …).
    options: tuple[tuple[str, str], ...] = attrs.field(repr=False, default=())
    #: The URL as configured (for apprise). Secret.
    url: str = attrs.field(repr=False, default="")
    #: Set from the database (``traders.cloud_config.notifyUrls``), not by the machine's
    #: operator: not sent to a private or loopback address unless ``NOTIFY_ALLOW_PRIVATE``.
    remote: bool = False

    def option(self, name: str, default: str = "") -> str:
        """An option's value (the last one given), or ``default``."""
        found = [v for k, v in self.options if k == name]
        return found[-1] if found else default

    def flag(self, name: str, default: bool) -> bool:
        """A yes/no option."""
        value = self.option(name).lower()
        if value in _YES:
            return True
        if value in _NO:
            return False
        return default

    def redact(self, text: str) -> str:
        """``text`` with every secret of this channel replaced by ``***``."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def __str__(self) -> str:
        return self.id


def _channel_id(service: str, canonical: str) -> str:
    return f"{service}:{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


def _query(query: str) -> list[tuple[str, str]]:
    """``key=value&…`` pairs, percent-decoded; a ``+`` stays a ``+`` (apprise's ``+Header``)."""
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((urllib.parse.unquote(key), urllib.parse.unquote(value)))
    return pairs


def _telegram(rest: str) -> list[Channel]:
    path, _, query = rest.partition("?")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ChannelError("telegram: a bot token is required (tgram://BOT_TOKEN/CHAT_ID)")
    token_match = _TELEGRAM_TOKEN.match(urllib.parse.unquote(parts[0]))
    if token_match is None:
        raise ChannelError("telegram: the bot token is not of the form 123456:ABC-def…")
    token = token_match.group(1)
    chats = [urllib.parse.unquote(p) for p in parts[1:]]
    if not chats:
        raise ChannelError("telegram: at least one chat id is required (tgram://BOT_TOKEN/CHAT_ID)")
    options = tuple(_query(query))
    channels = []
    for chat in dict.fromkeys(chats):
        if _TELEGRAM_CHAT.match(chat) is None:
            raise ChannelError("telegram: a chat id must be a number or an @channel name")
        channels.append(
            Channel(
                id=_channel_id("telegram", f"{token}/{chat}"),
                service="telegram",
                transport="telegram",
                target=f"{token}/{chat}",
                secrets=(token,),
                options=options,
            )
        )
    return channels


def _discord(webhook_id: str, token: str, query: str, botname: str = "") -> Channel:
    if _DISCORD_ID.match(webhook_id) is None:
        raise ChannelError("discord: the webhook id must be a number")
    if _DISCORD_TOKEN.match(token) is None:
        raise ChannelError("discord: the webhook token is malformed")
    options = list(_query(query))
    if botname:
        options.append(("botname", urllib.parse.unquote(botname)))
    return Channel(
        id=_channel_id("discord", f"{webhook_id}/{token}"),
        service="discord",
        transport="discord",
        target=f"{webhook_id}/{token}",
        secrets=(token,),
        options=tuple(options),
    )


def _discord_url(rest: str) -> Channel:
    path, _, query = rest.partition("?")
    botname, _at, path = path.rpartition("@") if "@" in path else ("", "", path)
    parts = [p for p in path.split("/") if p]
    if len(parts) != 2:
        raise ChannelError("discord: expected discord://WEBHOOK_ID/WEBHOOK_TOKEN")
    return _discord(parts[0], parts[1], query, botname)


def _json(scheme: str, rest: str) -> Channel:
    split = urllib.parse.urlsplit(f"http://{rest}")
    try:
        port = split.port
    except ValueError:
        raise ChannelError("json: the port is not a number from 1 to 65535") from None
    if not split.hostname:
        raise ChannelError("json: a host is required (json://HOST[:PORT]/PATH)")
    options: list[tuple[str, str]] = []
    for key, value in _query(split.query):
        if key.startswith(("+", "-")) and len(key) > 1:
            options.append((key, value))
        elif key == "method" and value.upper() == "POST":
            continue
        elif key in {"format", "overflow", "rto", "cto"}:
            continue  # apprise's generic options; the payload is always the same here
        else:
            raise ChannelError(
                f"json: option {key!r} is not supported (only +Header and -param options)"
            )
    secrets = tuple(s for s in (split.password, split.username) if s)
    if split.username is not None:
        user = urllib.parse.unquote(split.username)
        password = urllib.parse.unquote(split.password or "")
        options.append(("auth", f"{user}:{password}"))
        secrets += (user, password) if password else (user,)
    secrets += tuple(v for k, v in options if k.startswith(("+", "-")) and v)
    host = split.hostname if ":" not in split.hostname else f"[{split.hostname}]"
    base = f"{'https' if scheme == 'jsons' else 'http'}://{host}"
    target = base + (f":{port}" if port else "") + (split.path or "/")
    return Channel(
        id=_channel_id("json", f"{target}|{sorted(options)}"),
        service="json",
        transport="json",
        target=target,
        secrets=secrets,
        options=tuple(options),
    )


def _apprise(scheme: str, url: str) -> Channel:
    service = "apprise" if scheme in {"http", "https"} else scheme
    split = urllib.parse.urlsplit(url)
    secrets = tuple(
        s
        for s in (split.password, split.username, *split.path.split("/"), *split.query.split("&"))
        if s and len(s) >= 4
    )
    return Channel(
        id=_channel_id(service, url),
        service=service,
        transport="apprise",
        target=url,
        secrets=secrets,
        url=url,
    )


def parse_url(url: str) -> list[Channel]:
    """The channels of one apprise URL (a Telegram URL with several chats gives several);
    raises :class:`ChannelError`."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise ChannelError(f"a notification URL is longer than {MAX_URL_CHARS} characters")
    match = _SCHEME.match(url)
    if match is None:
        raise ChannelError("a notification URL must start with a service, like tgram://")
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    if scheme in {"tgram", "telegram"}:
        return _telegram(rest)
    if scheme == "discord":
        return [_discord_url(rest)]
    if scheme in {"json", "jsons"}:
        return [_json(scheme, rest)]
    if scheme == "https" and (hook := _DISCORD_HTTPS.match(url)) is not None:
        return [_discord(hook.group(1), hook.group(2), (hook.group(3) or "?")[1:])]
    return [_apprise(scheme, url)]


def split_urls(text: str) -> list[str]:
    """The URLs of a list as apprise writes it: separated by spaces, commas or new lines."""
    return [u for u in re.split(r"[\s,]+", text) if u]


def parse_urls(urls: str | Iterable[str], *, where: str = "NOTIFY_URLS") -> tuple[Channel, ...]:
    """Every channel of a URL list (a string as :func:`split_urls` reads it, or URLs), without
    duplicates; raises :class:`ChannelError` naming ``where`` and the URL's position."""
    items = split_urls(urls) if isinstance(urls, str) else [u for u in urls if u.strip()]
    if len(items) > MAX_URLS:
        raise ChannelError(f"{where}: at most {MAX_URLS} notification URLs, got {len(items)}")
    channels: dict[str, Channel] = {}
    for i, url in enumerate(items, 1):
        try:
            found = parse_url(url)
        except ChannelError as exc:
            raise ChannelError(f"{where}: URL #{i}: {exc}") from None
        for channel in found:
            channels.setdefault(channel.id, channel)
    return tuple(channels.values())


#: apprise services whose URL's host is where the message goes (generic webhooks); the host
#: part of most others is a token.
_HOSTED = frozenset({"xml", "xmls", "form", "forms", "apprise"})
#: Names that are never on the public internet.
_LOCAL_NAMES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def destination(channel: Channel) -> tuple[str, bool] | None:
    """The host a channel's messages go to as its URL names it, and whether that host is
    surely where they go (a JSON or generic apprise webhook: worth resolving) or only maybe
    (another apprise service's host part, often a token); None for Telegram and Discord
    (their API addresses are the machine's settings)."""
    if channel.transport in ("telegram", "discord"):
        return None
    url = channel.target if channel.transport == "json" else channel.url
    host = urllib.parse.urlsplit(url).hostname
    if not host:
        return None
    return host, channel.transport == "json" or channel.service in _HOSTED


def local_address(host: str) -> bool:
    """Is ``host`` off the public internet: a local name (``localhost``, ``*.internal``, …) or
    an address — in any form a resolver reads, ``127.1`` and ``2130706433`` included — that is
    loopback, private, link-local (cloud metadata), unique-local, reserved or unspecified?"""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(_LOCAL_NAMES):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global


def describe(channels: Iterable[Channel]) -> str:
    """What may be shown of some channels: their services, e.g. ``telegram ×2, json``."""
    counts: dict[str, int] = {}
    for channel in channels:
        counts[channel.service] = counts.get(channel.service, 0) + 1
    return ", ".join(f"{s} ×{n}" if n > 1 else s for s, n in counts.items()) or "none"
