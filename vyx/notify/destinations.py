"""Where a trader's channel from the database may send (``cloud_config.notifyUrls``: whoever can
write the row, not the machine's operator): never to a private or loopback address.

The host is checked as written (a literal in any form, a local name) and, for a JSON or generic
webhook, as it resolves. A JSON webhook is then sent to the very address that was checked — its
name kept for ``Host`` and TLS (SNI and the certificate's check) — so a name whose answer changes
between the check and the send (DNS rebinding) cannot reach a private address. A name that does
not resolve in time is not sent to (the send would look it up again). Other apprise services'
hosts are checked but cannot be pinned (apprise resolves on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import trio
import trio.socket

from vyx.notify.channels import Channel, destination, local_address

REFUSED = (
    "refused: a channel from the database may not send to a private or loopback address "
    "(NOTIFY_ALLOW_PRIVATE=true on the machine allows it)"
)


@dataclass(frozen=True, slots=True)
class Vetted:
    """What the check of a channel's destination found."""

    #: Why it may not be sent to now (None: it may): :data:`REFUSED`, or the lookup's failure.
    refused: str | None = None
    #: The lookup failed or timed out (worth retrying) rather than the address being private.
    unresolved: bool = False
    #: The checked address a JSON webhook's send connects to (None: its URL's host as is).
    address: str | None = None


async def vet(channel: Channel, timeout_s: float) -> Vetted:
    """Check where ``channel`` (from the database) sends: its host as written and, for a
    webhook, every address its name resolves to (within ``timeout_s``)."""
    found = destination(channel)
    if found is None:
        return Vetted()
    host, resolve = found
    if local_address(host):
        return Vetted(REFUSED)
    if not resolve:
        return Vetted()
    with trio.move_on_after(timeout_s):
        try:
            infos = await trio.socket.getaddrinfo(host, None, type=trio.socket.SOCK_STREAM)
        except OSError as exc:
            return Vetted(f"the webhook's host did not resolve ({type(exc).__name__})", True)
        addresses = [str(info[4][0]) for info in infos]
        if any(local_address(a) for a in addresses):
            return Vetted(REFUSED)
        if not addresses:
            return Vetted("the webhook's host did not resolve (no address)", True)
        return Vetted(address=addresses[0] if channel.transport == "json" else None)
    return Vetted(f"the webhook's host did not resolve within {timeout_s:g}s", True)
