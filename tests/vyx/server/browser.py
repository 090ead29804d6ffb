"""Playwright driving Debian's Chromium (``/usr/bin/chromium``) from Trio tests.

Playwright's sync API runs its own event loop and must be called from the thread that started
it: every call goes to one browser thread (:meth:`Browser.run`), while the test's Trio thread
serves the daemon. One browser per test module; each test opens its own context (cookies,
storage) and page. Requests to anything but the machine under test are recorded and refused.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

T = TypeVar("T")

#: Screenshots for review (not committed).
SHOTS = Path(__file__).resolve().parents[3] / "bench-results" / "dashboard"


def chromium_path() -> str:
    """Debian's Chromium; skipped with a reason when absent (a failure under ``CI=true``)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    reason = "headless Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Browser:
    """A Chromium driven by Playwright on a thread of its own."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._playwright: Any = None
        self.browser: Any = None
        #: Requests the pages made to other hosts (refused).
        self.external: list[str] = []

    def _start(self, executable: str) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )

    def start(self, executable: str) -> None:
        self._thread.submit(self._start, executable).result(timeout=60)

    def stop(self) -> None:
        def close() -> None:
            if self.browser is not None:
                self.browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self._thread.submit(close).result(timeout=30)
        finally:
            self._thread.shutdown(wait=False)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on the browser thread (Trio keeps serving meanwhile)."""
        future = self._thread.submit(work, *args)
        return await trio.to_thread.run_sync(future.result)

    def new_page(self, origin: str, width: int = 1280, height: int = 860) -> Any:
        """A page in a fresh context that may only reach ``origin`` (call on the thread)."""
        context = self.browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        ws_origin = origin.replace("http://", "ws://", 1)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith((origin, ws_origin, "data:", "blob:")):
                r.continue_()
            else:
                self.external.append(url)
                r.abort()

        context.route("**/*", route)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.errors = errors
        return page


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    """A screenshot of ``page`` under ``bench-results/dashboard/`` (call on the thread)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
