"""Every other service (Slack, e-mail, ntfy, Pushover, Matrix, …) through apprise, in worker
threads.

apprise is blocking (``requests``) and heavy: importing it costs ~16 MiB and resolving the first
URL imports all its ~190 plugins (~24 MiB more, 1.3–2 s on this machine), so it is imported
only when such a URL is configured, inside a worker thread, never on the event loop. Threads are
bounded by one :class:`trio.CapacityLimiter`. apprise's own pacing (``request_rate_per_sec``,
a real ``time.sleep`` between calls) is switched off — the outbox paces — and its logging is
silenced below errors (its debug lines print URLs with their tokens).

apprise answers only "sent" or "not sent": there is no status, no ``Retry-After`` and no message
id, so a failure is retried with the outbox's backoff and an analysis is always a follow-up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import trio

from vyx.notify import render
from vyx.notify.channels import Channel
from vyx.notify.outbox import Attempt, Batch


class AppriseSender:
    """Sends batches to apprise channels, at most ``limiter.total_tokens`` at once."""

    def __init__(self, limiter: trio.CapacityLimiter, *, link_base: str | None = None) -> None:
        self.limiter = limiter
        self.link_base = link_base
        self._plugins: dict[str, Any] = {}
        self._lock = threading.Lock()

    async def send(self, batch: Batch) -> Attempt:
        """Send ``batch`` in a worker thread. On cancellation the thread is abandoned (it may
        still deliver: the alert stays pending and may be sent again after a restart)."""
        if batch.kind == "signal":
            n = batch.signals[0][0]
            title = f"{n.symbol} {n.interval}: {n.trader_name}"
        elif batch.kind == "verdict":
            title = "Analysis"
        else:
            title = render.digest_title(len(batch.signals), len(batch.verdicts))
        body = render.batch_text(batch, render.PLAIN, self.link_base)
        return await trio.to_thread.run_sync(
            self._send, batch.channel, title, body, limiter=self.limiter, abandon_on_cancel=True
        )

    def _plugin(self, channel: Channel) -> Any:
        with self._lock:
            if channel.id in self._plugins:
                return self._plugins[channel.id]
            import apprise  # lazily: only when an apprise channel is used

            logging.getLogger("apprise").setLevel(logging.ERROR)
            plugin = apprise.Apprise.instantiate(channel.url, suppress_exceptions=True)
            if plugin is not None:
                plugin.request_rate_per_sec = 0
            self._plugins[channel.id] = plugin
            return plugin

    def _send(self, channel: Channel, title: str, body: str) -> Attempt:
        try:
            plugin = self._plugin(channel)
        except Exception as exc:  # apprise failing to load is the channel's failure, not ours
            return Attempt("client", reason=f"apprise could not load: {type(exc).__name__}")
        if plugin is None:
            return Attempt("client", reason=f"apprise does not accept this {channel.service} URL")
        try:
            ok = plugin.notify(body=body, title=title)
        except Exception as exc:
            return Attempt("server", reason=f"apprise failed: {type(exc).__name__}")
        if ok:
            return Attempt("ok")
        return Attempt("server", reason=f"apprise could not send to {channel.service}")
