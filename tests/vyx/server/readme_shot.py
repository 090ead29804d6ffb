"""The README's screenshot of the dashboard (``docs/dashboard.png``), taken from ``vyx demo``.

    uv run python -m tests.vyx.server.readme_shot [OUT]

Runs the offline demo on a free port, opens its dashboard in Debian's Chromium (Playwright, as
the browser tests do), waits for signals, mutes the symbol of the first one and one trader,
gives another trader its own cooldown in the editor, waits for a signal marked *muted*, and
saves the page (1280 × 860) to ``OUT`` (default ``docs/dashboard.png``). Not a test: run it
when the page changes; the browser tests (``test_dashboard_*.py``) check what it shows.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.vyx.server.browser import chromium_path

ROOT = Path(__file__).resolve().parents[3]
WAIT_MS = 120_000


def _start_demo() -> tuple[subprocess.Popen[str], str]:
    """``vyx demo`` on a free port and its dashboard's address."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "vyx", "demo", "--port", "0", "--speed", "600"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert demo.stderr is not None
    for line in demo.stderr:
        found = re.search(r"Dashboard: (\S+)", line)
        if found:
            # Keep reading its log, or the pipe fills and the demo blocks.
            threading.Thread(target=demo.stderr.read, daemon=True).start()
            return demo, found.group(1)
    raise RuntimeError("vyx demo stopped before it served the dashboard")


def _stage(page: Any) -> None:
    """Signals, a muted symbol and trader, a trader with its own cooldown."""
    page.wait_for_selector("#signals article.signal >> nth=3", timeout=WAIT_MS)
    label = page.get_attribute("#signals button[aria-label^='Mute '] >> nth=0", "aria-label")
    symbol = str(label).removeprefix("Mute ")
    page.click(f"#signals button[aria-label='Mute {symbol}'] >> nth=0")
    page.wait_for_selector(f"#muted-row:has-text('{symbol}')", timeout=WAIT_MS)
    page.click("#traders button[aria-label^='Mute '] >> nth=-1")
    page.click("#traders button[aria-label^='Edit '] >> nth=0")
    page.fill("#ed-cooldown", "12")
    page.click("#ed-save")
    page.wait_for_selector("#traders :text('cooldown 12 bars')", timeout=WAIT_MS)
    page.wait_for_selector(
        f"article.signal:has(.muted-badge):has-text('{symbol}')", timeout=WAIT_MS
    )
    page.evaluate("window.scrollTo(0, 0)")


def main(out: Path) -> None:
    """Take the screenshot into ``out``."""
    from playwright.sync_api import sync_playwright

    demo, url = _start_demo()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url)
            _stage(page)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        demo.terminate()
        demo.wait(timeout=30)
    print(f"saved {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.png")
