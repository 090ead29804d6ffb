"""A fix for a hypercorn 0.18 WebSocket bug that lets any client crash the whole server.

When a message exceeds ``websocket_max_message_size``, hypercorn closes with 1009 but leaves the
partial message in its buffer; a next message of the other kind (binary after text or the
reverse), already on the wire, is then written into the wrong buffer type and the ``TypeError``
escapes the connection task and brings down the listener (found by this package's protocol
fuzzing). The patched buffer keeps refusing every message once the limit was exceeded, so the
connection just finishes closing. Applied once, when ``vyx.server.service`` is imported.
"""

from __future__ import annotations

from hypercorn.protocol import ws_stream
from wsproto.events import Message

_Base = ws_stream.WebsocketBuffer


class _ClosingWebsocketBuffer(_Base):
    def extend(self, event: Message) -> None:  # type: ignore[type-arg]
        if self.length > self.max_length:
            raise ws_stream.FrameTooLargeError
        super().extend(event)


def apply() -> None:
    """Install the fixed buffer (idempotent)."""
    if ws_stream.WebsocketBuffer is _Base:
        ws_stream.WebsocketBuffer = _ClosingWebsocketBuffer  # type: ignore[misc]
