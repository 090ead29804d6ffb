"""The Gemini fake over TCP, for a daemon running in another process.

:class:`~tests.vyx.analysis.fake_gemini.FakeGemini` is an httpx transport; this serves its
``handle`` as an ASGI app with hypercorn on 127.0.0.1 (a free port), so ``GEMINI_BASE_URL`` can
point at it. Two switches on top of the fake's own script: :meth:`GeminiServer.rate_limit`
(the next requests answer 429 with a ``RetryInfo`` delay) and :meth:`GeminiServer.hang` (the
next requests get no answer for longer than the daemon's ``GEMINI_TIMEOUT_S``, then a late one
nobody reads).
"""

from __future__ import annotations

import httpx
import trio

from tests.vyx.analysis.fake_gemini import FakeGemini
from tests.vyx.store.supabase.fake_postgrest import (
    Receive,
    Scope,
    Send,
    read_body,
    serve_lifespan,
    serve_tcp,
)


class GeminiServer:
    """An ASGI app forwarding every request to :attr:`fake`."""

    def __init__(self, fake: FakeGemini, *, hang_s: float = 3.0) -> None:
        self.fake = fake
        self.hang_s = hang_s
        self._hangs = 0
        #: Requests answered by behaviour (``ok``, ``429``, ``hang``...).
        self.served: dict[str, int] = {}
        #: The behaviour of every request, in arrival order.
        self.log: list[str] = []

    def rate_limit(self, n: int, *, retry_delay_s: float = 1.0) -> None:
        """Answer the next ``n`` requests with 429 asking to retry after ``retry_delay_s``."""
        self.fake.retry_delay = f"{retry_delay_s:g}s"
        self.fake.script.extend(["429"] * n)

    def hang(self, n: int) -> None:
        """Hold the next ``n`` requests for :attr:`hang_s` (past the client's deadline)."""
        self._hangs += n

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = await read_body(receive)
        query = scope["query_string"].decode()
        request = httpx.Request(
            scope["method"],
            f"http://gemini.test{scope['path']}" + (f"?{query}" if query else ""),
            headers=[(k.decode(), v.decode()) for k, v in scope["headers"]],
            content=body,
        )
        if self._hangs > 0:
            self._hangs -= 1
            self._count("hang")
            await trio.sleep(self.hang_s)
        else:
            self._count(self.fake.script[0] if self.fake.script else self.fake.default)
        response = await self.fake.handle(request)
        content = await response.aread()
        headers = [(b"content-type", b"application/json; charset=utf-8")]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": content})

    def _count(self, behaviour: str) -> None:
        self.served[behaviour] = self.served.get(behaviour, 0) + 1
        self.log.append(behaviour)


async def serve_gemini(server: GeminiServer, *, task_status: trio.TaskStatus[str]) -> None:
    """Serve ``server`` on 127.0.0.1 until cancelled; ``started`` with its base URL."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_tcp, server)
        task_status.started(f"http://127.0.0.1:{port}")
