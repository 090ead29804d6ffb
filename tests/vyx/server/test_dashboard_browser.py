"""The dashboard in real headless Chromium, driven over the Chrome DevTools Protocol.

The test serves the page with a one-time local token, opens the printed dashboard address,
waits until the page has authenticated over /ws, broadcasts a signal and asserts that the page
rendered it with its "why it fired" values. Needs Debian's ``chromium`` package; skipped with a
reason when it is absent, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from vyx.server import AuthConfig, Snapshot

from .harness import FakeDaemon, config, serving
from .test_session import make_signal
from .wsclient import WsClient, connect

BROWSER_S = 60.0


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    reason = "headless Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Cdp:
    """Sequential CDP calls over the browser's DevTools WebSocket."""

    def __init__(self, ws: WsClient) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._ws.send_text(json.dumps(message))
        while True:
            reply = json.loads(await self._ws.get_message())
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"page error: {result['exceptionDetails']}")
        return result["result"].get("value")


def wait_for(selector: str, contains: str = "", timeout_ms: int = 20_000) -> str:
    """JS: a promise of the text of the first ``selector`` element containing ``contains``."""
    return f"""new Promise((resolve, reject) => {{
        const find = () => [...document.querySelectorAll({json.dumps(selector)})]
            .find((e) => e.textContent.includes({json.dumps(contains)}));
        const done = (e) => {{ observer.disconnect(); resolve(e.textContent); }};
        const observer = new MutationObserver(() => {{ const e = find(); if (e) done(e); }});
        observer.observe(document, {{ subtree: true, childList: true, characterData: true }});
        const now = find(); if (now) done(now);
        setTimeout(() => reject(new Error({json.dumps("timed out: " + selector)})), {timeout_ms});
    }})"""


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Cdp]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    log: list[str] = []
    found = trio.Event()
    endpoint: list[str] = []

    async def drain() -> None:
        # Keep reading so Chromium never blocks on a full stderr pipe.
        buffer = ""
        async for chunk in process.stderr:  # type: ignore[union-attr]
            buffer += chunk.decode(errors="replace")
            log.append(chunk.decode(errors="replace"))
            match = re.search(r"DevTools listening on (ws://\S+)", buffer)
            if match and not found.is_set():
                endpoint.append(match.group(1))
                found.set()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            with trio.fail_after(BROWSER_S):
                await found.wait()
            async with connect(endpoint[0]) as ws:
                yield Cdp(ws)
            nursery.cancel_scope.cancel()
    except BaseException:
        print("".join(log)[-4000:])
        raise
    finally:
        with trio.move_on_after(10) as cleanup:
            cleanup.shield = True
            process.terminate()
            await process.wait()
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.stderr.aclose()


async def test_the_dashboard_shows_a_live_signal_in_chromium(tmp_path: Path) -> None:
    daemon = FakeDaemon(
        snap=Snapshot(
            traders=[
                {"id": "t1", "name": "Oversold bounce", "state": "running", "timeframe": "5m"}
            ],
            status={"status": "running", "symbols": 100, "market": "backfilling"},
        )
    )
    cfg = config(auth=AuthConfig(local_token=True))
    with trio.fail_after(BROWSER_S):
        async with serving(cfg, daemon=daemon) as running, chromium(tmp_path / "profile") as cdp:
            target = await cdp.call("Target.createTarget", url=running.handle.dashboard_url)
            attached = await cdp.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            session = attached["sessionId"]
            await running.handle.wait_for_clients(1)  # the page authenticated with the token

            signal = make_signal("SOLUSDT")
            assert running.handle.broadcast(signal.to_message()) == 1
            card = await cdp.evaluate(
                session, wait_for(f'[data-signal-id="{signal.id}"]', "SOLUSDT")
            )
            assert "Oversold bounce" in card  # trader name from the snapshot
            assert "rsi(14) < 30" in card  # the clause ...
            assert "✓" in card  # ... held ...
            assert "27.4" in card  # ... with its operand value
            assert "42,000.5" in card

            traders = await cdp.evaluate(session, wait_for('[data-trader-id="t1"]', "running"))
            assert "Oversold bounce" in traders
            health = await cdp.evaluate(session, wait_for('[data-component="server"]', "ok"))
            assert "listening" in health
            # The market's start-up is on the page until it streams.
            assert await cdp.evaluate(session, wait_for("#market-pill", "backfilling"))
            update = {"type": "status_update", "data": {"market": "unreachable"}}
            assert running.handle.broadcast(update) == 1
            pill = await cdp.evaluate(session, wait_for("#market-pill", "unreachable"))
            assert pill == "market: unreachable"
            # Binance refusing the location: the pill names it and the region.
            detail = "restricted location (HTTP 451) from region iad"
            update = {
                "type": "status_update",
                "data": {"market": "restricted", "marketDetail": detail},
            }
            assert running.handle.broadcast(update) == 1
            pill = await cdp.evaluate(session, wait_for("#market-pill", "HTTP 451"))
            assert pill == f"market: {detail}"
            pill_class = 'document.getElementById("market-pill").className'
            assert await cdp.evaluate(session, pill_class) == "pill bad"
            # The token left the address bar (and so history and referrers).
            assert await cdp.evaluate(session, "location.search") == ""
            await cdp.call("Target.closeTarget", targetId=target["targetId"])
