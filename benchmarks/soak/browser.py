"""The one browser connected on ``/ws`` for the whole run."""

from __future__ import annotations

import time

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from benchmarks.soak.state import SoakState


class BrowserMixin(SoakState):
    """Keeps a browser connected (reconnecting after a drop) and counts what it receives."""

    async def run_browser(self, url: str, token: str) -> None:
        ws_url = url.replace("http://", "ws://") + f"/ws?access_token={token}"
        while True:
            try:
                async with open_websocket_url(
                    ws_url,
                    max_message_size=64 * 2**20,
                    message_queue_size=100_000,
                    receive_buffer_size=2**16,
                ) as ws:
                    self.browser.connects += 1
                    while True:
                        # Not parsed: at hundreds of signals a second, this process must keep
                        # up on a shared CPU (a browser that does not is dropped, by design).
                        text = await ws.get_message()
                        self.browser.messages += 1
                        if isinstance(text, str) and text.startswith('{"type":"signal_created"'):
                            self.browser.signals += 1
            except (ConnectionClosed, HandshakeError, OSError) as exc:
                self.browser.drops.append(f"{time.monotonic() - self.ready_at:.1f}s: {exc!r}")
                await trio.sleep(0.5)
