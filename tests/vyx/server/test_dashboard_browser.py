"""The dashboard in real headless Chromium (Playwright driving Debian's ``chromium``).

Behind the page: the real server, and for the editor, chart and history the daemon's real
``Control`` with its authoring desk (the offline drafter, the compiler, previews and charts by
the kernels over rings of synthetic candles), a real screener and a SQLite store. What a user
does: a live signal with its "why", a trader written with a mistake (the error at its caret,
kept until fixed), previewed, saved, and then firing; its signal's chart with candles and the
indicator; the history paged from the store and exported; the layout at 390 px. Screenshots of
each state land in ``bench-results/dashboard/``. No request leaves the machine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import attrs

from vyx.server import AuthConfig, ServerHandle, Snapshot
from vyx.server.protocol import SetMute, mutes_updated, signal_outcomes, signals_created
from vyx.telemetry.health import ComponentState, HealthRegistry

from .browser import Browser, shot
from .dashboard_machine import USER, WAIT_MS, dashboard_machine, open_page
from .harness import FakeDaemon, config, serving
from .test_session import make_signal


async def test_a_live_signal_traders_and_health_in_words(browser: Browser) -> None:
    daemon = FakeDaemon(
        snap=Snapshot(
            traders=[
                {"id": "t1", "name": "Oversold bounce", "state": "running", "timeframe": "5m"},
                {"id": "t2", "name": "Broken", "state": "error", "error": BROKEN},
            ],
            status={
                "status": "running",
                "symbols": 100,
                "market": "backfilling",
                "editsKept": False,  # traders from a file it cannot write
                "editsNote": "the file /etc/vyx/traders.toml is not writable",
            },
        )
    )
    health = HealthRegistry()
    health.report("market", ComponentState.DEGRADED, "restricted location (HTTP 451)")
    cfg = config(auth=AuthConfig(local_token=True))
    async with serving(cfg, daemon=daemon, health=health) as running:
        page = await browser.run(open_page, browser, running.handle.dashboard_url)
        signal = make_signal("SOLUSDT")
        assert running.handle.broadcast(signal.to_message()) == 1

        def check() -> dict[str, str]:
            card = page.wait_for_selector(f'[data-signal-id="{signal.id}"]', timeout=WAIT_MS)
            page.wait_for_selector("#health-pill:has-text('restricted location')", timeout=WAIT_MS)
            shot(page, "live-signal")
            return {
                "card": card.inner_text(),
                "group": page.inner_text(".group-head"),
                "trader": page.inner_text('[data-trader-id="t1"]'),
                "error": page.inner_text('[data-trader-id="t2"] pre'),
                "health": page.inner_text("#health-words"),
                "market": page.inner_text("#market-pill"),
                "status": page.inner_text("#status"),
                "search": page.evaluate("location.search"),
            }

        seen = await browser.run(check)
        assert "SOLUSDT" in seen["card"]
        assert "Oversold bounce" in seen["card"]  # the trader's name from the snapshot
        assert "rsi(14) < 30" in seen["card"]  # the clause ...
        assert "✓" in seen["card"]  # ... held ...
        assert "27.4" in seen["card"]  # ... with its operand value
        assert "42,000.5" in seen["card"]
        assert "5m close" in seen["group"]  # grouped per close, with the date
        assert "2023-11-1" in seen["group"]
        assert "running" in seen["trader"]
        assert seen["error"] == BROKEN  # kept as written: the caret under its column
        assert "market: restricted location (HTTP 451)" in seen["health"]
        assert seen["market"] == "market: backfilling"
        assert "100 symbols" in seen["status"]  # status in words, not raw keys
        assert "uptime_s" not in seen["status"]
        assert seen["search"] == ""  # the token left the address bar

        def kept_note() -> str:
            page.click("[aria-label='Edit Oversold bounce']")
            note = page.wait_for_selector("#ed-kept", state="visible", timeout=WAIT_MS)
            text = note.inner_text()
            page.click("#editor [data-close]")
            return text

        # Traders from a file it cannot write: the editor says a change is not kept, and why.
        note = await browser.run(kept_note)
        assert "Not kept: the file /etc/vyx/traders.toml is not writable" in note
        assert "vyx trader edit" in note

        update = {"type": "status_update", "data": {"market": "unreachable"}}
        assert running.handle.broadcast(update) == 1
        pill = await browser.run(
            lambda: page.wait_for_selector(
                "#market-pill:has-text('unreachable')", timeout=WAIT_MS
            ).inner_text()
        )
        assert pill == "market: unreachable"
        # Binance refusing the location: the pill names it and the region.
        detail = "restricted location (HTTP 451) from region iad"
        update = {"type": "status_update", "data": {"market": "restricted", "marketDetail": detail}}
        assert running.handle.broadcast(update) == 1
        pill = await browser.run(
            lambda: page.wait_for_selector(
                "#market-pill:has-text('HTTP 451')", timeout=WAIT_MS
            ).inner_text()
        )
        assert pill == f"market: {detail}"
        assert await browser.run(page.get_attribute, "#market-pill", "class") == "pill bad"
        # How the signal did, and its trader's record, as the outcomes arrive.
        outcome = {
            "signalId": signal.id,
            "traderId": "t1",
            "returns": {"1": 0.004, "2": 0.012},
            "touch": "target",
            "mfe": 0.015,
            "mae": -0.002,
            "complete": True,
            "record": {
                "all": {
                    "signals": 9,
                    "complete": 8,
                    "hitRate": {"24": 0.625},
                    "meanReturn": {"24": 0.011},
                    "targets": 5,
                    "stops": 2,
                }
            },
        }
        # A close's outcomes in one message (protocol 3), one of them of a signal not shown.
        elsewhere = {**outcome, "signalId": "not-shown", "record": None, "complete": False}
        (batch,) = signal_outcomes([elsewhere, outcome])
        assert running.handle.broadcast(batch) == 1

        def outcomes() -> tuple[str, str]:
            card = page.wait_for_selector(f'[data-signal-id="{signal.id}"] .outcome')
            record = page.wait_for_selector('[data-trader-id="t1"] .record')
            return card.inner_text(), record.inner_text()

        card_outcome, record = await browser.run(outcomes)
        assert card_outcome == (
            "Outcome: +1.20% after 2 bars · target touched first · best 1.50%, worst -0.20%"
        )
        assert "8 of 9 signals followed · 63% up after 24 bars · mean +1.1%" in record
        await _browser_notifications(browser, page, running.handle, daemon)
        assert page.errors == []
        await browser.run(page.context.close)
    assert browser.external == []


# The page hidden, the browser's Notification recorded (headless Chromium shows none).
HIDDEN_TAB = """() => {
    window.shown = [];
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    window.Notification = class {
        constructor(title, options) { window.shown.push([title, options.body, options.tag]); }
        static get permission() { return "granted"; }
        static requestPermission() { return Promise.resolve("granted"); }
    };
    document.getElementById("notify-toggle").click();
}"""


async def _browser_notifications(
    browser: Browser, page: Any, handle: ServerHandle, daemon: FakeDaemon
) -> None:
    """Turned on, the page shows a system notification for a signal while it is hidden, and
    none for one the machine muted."""
    assert "alerts: off" in await browser.run(page.inner_text, "#notify-toggle")
    await browser.run(page.evaluate, HIDDEN_TAB)
    await browser.run(
        lambda: page.wait_for_selector("#notify-toggle:has-text('alerts: on')", timeout=WAIT_MS)
    )
    first, other = make_signal("ADAUSDT"), make_signal("XRPUSDT")
    # The machine marks a signal made while its symbol is muted (``muted``: its own state).
    again = attrs.evolve(first, id="ada-again", alert_muted=True)
    handle.broadcast(first.to_message())
    await browser.run(
        lambda: page.wait_for_selector(f'[data-signal-id="{first.id}"]', timeout=WAIT_MS)
    )
    await browser.run(page.click, "text=Mute ADAUSDT")
    # The page asks the machine (``mute``); the machine's answer (``mutes_updated``) mutes it.
    while not any(isinstance(c, SetMute) for c in daemon.commands):
        await daemon.arrived.wait()
    assert [c for c in daemon.commands if isinstance(c, SetMute)] == [
        SetMute("symbol", "ADAUSDT", True, request_id=ANY)
    ]
    handle.broadcast(mutes_updated({"symbols": ["ADAUSDT"], "traders": []}))
    await browser.run(
        lambda: page.wait_for_selector("#muted-row:has-text('ADAUSDT')", timeout=WAIT_MS)
    )
    # One screen's signals in one message (protocol 2): the muted one notifies nobody.
    (batch,) = signals_created([again.to_message()["data"], other.to_message()["data"]])
    handle.broadcast(batch)
    await browser.run(
        lambda: page.wait_for_selector(f'[data-signal-id="{other.id}"]', timeout=WAIT_MS)
    )
    shown = await browser.run(page.evaluate, "window.shown")
    assert [(title, tag) for title, _, tag in shown] == [
        ("ADAUSDT 5m · Oversold bounce", first.id),
        ("XRPUSDT 5m · Oversold bounce", other.id),
    ]
    assert "rsi(14) < 30" in shown[0][1]
    assert "ADAUSDT" in await browser.run(page.inner_text, "#muted-row")


#: A trader's compile error as the daemon reports it: the caret lines up under the mistake.
BROKEN = "does not compile:\n1:9: expected ')'\n  rsi(14 < 30\n          ^"


def _write_a_trader(page: Any) -> dict[str, str]:
    """Words → draft, then a mistake typed into the filter, then fixed; preview; save."""
    page.keyboard.press("n")  # the keyboard opens the editor
    page.wait_for_selector("#editor[open]", timeout=WAIT_MS)
    page.fill("#ed-words", "RSI below 30 and volume twice its 20-bar average")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ed-preview-summary", timeout=WAIT_MS)
    drafted = page.input_value("#ed-filter")
    drafted_summary = page.inner_text("#ed-preview-summary")
    shot(page, "editor-draft")
    page.fill("#ed-name", "Up bar")
    page.fill("#ed-filter", "close > open\nand rsi(14 > 1")
    problem = page.wait_for_selector("#ed-problems li", timeout=WAIT_MS)
    shot(page, "editor-error")
    error = problem.inner_text()
    # Still typing, still wrong: the error stays on screen.
    page.type("#ed-filter", " ")
    page.wait_for_timeout(400)
    still = page.inner_text("#ed-problems")
    page.fill("#ed-filter", "close > open\nand rsi(14) > 1")
    page.wait_for_selector("#ed-ok:has-text('compiles')", timeout=WAIT_MS)
    gone = page.inner_text("#ed-problems")
    page.click("#ed-preview-btn")
    page.wait_for_function(  # the fixed filter's preview, not the draft's still on screen
        "t => document.querySelector('#ed-preview-summary').textContent !== t",
        arg=drafted_summary,
        timeout=WAIT_MS,
    )
    summary = page.inner_text("#ed-preview-summary")
    shot(page, "editor-preview")
    page.uncheck("#ed-notify-analysis")  # alerts on a signal, not on its analysis; muted
    page.check("#ed-notify-muted")
    machine_cooldown = page.inner_text("#ed-cooldown-note")
    page.fill("#ed-cooldown", "-3")
    page.keyboard.press("Control+Enter")  # refused in the page: the editor stays open
    bad_cooldown = page.inner_text("#ed-cooldown-note")
    page.fill("#ed-cooldown", "")
    page.type("#ed-cooldown", "1e")  # the field reads "" (not a number): not the machine's
    page.keyboard.press("Control+Enter")
    unreadable_cooldown = page.inner_text("#ed-cooldown-note")
    page.fill("#ed-cooldown", "12")  # its own cooldown: at most a signal per 12 bars
    page.wait_for_function(  # the preview on screen is computed again with it
        "t => document.querySelector('#ed-preview-summary').textContent !== t",
        arg=summary,
        timeout=WAIT_MS,
    )
    cooled = page.inner_text("#ed-preview-summary")
    shot(page, "editor-cooldown")
    page.keyboard.press("Control+Enter")  # saves
    page.wait_for_selector("#editor:not([open])", state="attached", timeout=WAIT_MS)
    row = page.wait_for_selector(
        "tr:has-text('Up bar'):has-text('cooldown 12 bars')", timeout=WAIT_MS
    ).inner_text()
    return {
        "drafted": drafted,
        "error": error,
        "still": still,
        "gone": gone,
        "summary": summary,
        "row": row,
        "machine_cooldown": machine_cooldown,
        "cooled": cooled,
        "bad_cooldown": bad_cooldown,
        "unreadable_cooldown": unreadable_cooldown,
    }


def _chart_of(page: Any, trader: str) -> dict[str, Any]:
    card = page.wait_for_selector(f"article.signal:has-text('{trader}')", timeout=WAIT_MS)
    card.query_selector("text=Chart").click()
    page.wait_for_selector("#chart-box[data-candles]:not([data-candles='0'])", timeout=WAIT_MS)
    page.wait_for_selector("#chart-box canvas", timeout=WAIT_MS)
    page.wait_for_timeout(300)  # one frame for the canvas
    shot(page, "chart")
    box = page.query_selector("#chart-box")
    seen = {
        "candles": int(box.get_attribute("data-candles")),
        "series": int(box.get_attribute("data-series")),
        "panes": int(box.get_attribute("data-panes")),
        "legend": page.inner_text("#chart-legend"),
        "side": page.inner_text("#chart-side"),
    }
    page.keyboard.press("Escape")
    page.wait_for_selector("#chart-dialog:not([open])", state="attached", timeout=WAIT_MS)
    return seen


async def test_write_a_trader_in_words_see_its_error_preview_save_it_fire_and_chart_it(
    browser: Browser, tmp_path: Path
) -> None:
    async with dashboard_machine(tmp_path) as machine:
        page = await browser.run(open_page, browser, machine.handle.dashboard_url)
        seen = await browser.run(_write_a_trader, page)
        assert seen["drafted"] == "rsi(14) < 30\nand volume > 2 * sma(volume, 20)"
        assert "line 2, column" in seen["error"]
        assert "^" in seen["error"]  # the caret under the column
        assert "and rsi(14 > 1" in seen["error"]  # the line it points into
        assert "line 2" in seen["still"]
        assert seen["gone"] == ""
        assert "Would have fired" in seen["summary"]
        assert "over 4 symbols" in seen["summary"]
        assert "Up bar" in seen["row"]
        saved = next(t for t in machine.control.traders.values() if t.definition.name == "Up bar")
        assert saved.definition.filter == "close > open\nand rsi(14) > 1"
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", saved.id
        )
        assert [t.name for t in await machine.store.load_traders(USER)] == ["Up bar"]
        alerts = saved.alerts
        assert (alerts.on_signal, alerts.on_analysis, alerts.muted) == (True, False, True)
        assert "every 0 bars (the machine's cooldown)" in seen["machine_cooldown"]
        assert "from 0 to 10,000" in seen["bad_cooldown"]
        assert "from 0 to 10,000" in seen["unreadable_cooldown"]
        fired = [int(re.search(r"fired (\d+) time", seen[k])[1]) for k in ("summary", "cooled")]
        assert 0 < fired[1] < fired[0]  # the preview fires as the machine will, 12 bars apart
        assert saved.definition.cooldown == 12
        assert machine.run.screener.executor.traders[saved.id].definition.cooldown == 12
        assert await browser.run(_alert_switches, page, saved.id) == [True, False, True, "12"]
        (stored,) = await machine.store.load_traders(USER)
        assert stored.cloud_config["notifyOnAnalysis"] is False
        assert stored.cloud_config["notifyMuted"] is True
        assert stored.cloud_config["cooldownBars"] == 12

        # It fires: a down bar, then an up bar on every symbol.
        await machine.close(up=False)
        fired = await machine.close(up=True)
        assert {s.trader_id for s in fired} == {saved.id}
        assert len(fired) == 4

        def table() -> str:
            page.wait_for_selector(
                f'[data-trader-id="{saved.id}"]:has-text("last signal")', timeout=WAIT_MS
            )
            return str(page.inner_text(f'[data-trader-id="{saved.id}"]'))

        row = await browser.run(table)
        assert row.rstrip().endswith("4")  # matches, live
        chart = await browser.run(_chart_of, page, "Up bar")
        assert chart["candles"] == 150
        assert chart["series"] == 1  # rsi(14); close and open are the candles
        assert chart["panes"] == 2  # the price, and the RSI's own pane below
        assert "rsi(14)" in chart["legend"]
        assert "close > open" in chart["side"]
        # Its cooldown holds: two bars later it matches again, and does not fire.
        await machine.close(up=False)
        assert await machine.close(up=True) == []
        assert await browser.run(_disable_then_delete, page, saved.id) == "disabled"
        assert saved.id not in machine.control.traders
        assert await machine.store.load_traders(USER, include_disabled=True) == []
        assert page.errors == []
        await browser.run(page.context.close)
    assert browser.external == []


def _alert_switches(page: Any, trader_id: str) -> list[bool | str]:
    """The editor's alert checkboxes and cooldown of a saved trader, as it reopens it."""
    page.click(f'[data-trader-id="{trader_id}"] >> text=Edit')
    page.wait_for_selector("#editor[open]", timeout=WAIT_MS)
    ids = ("#ed-notify-signal", "#ed-notify-analysis", "#ed-notify-muted")
    switches: list[bool | str] = [bool(page.is_checked(i)) for i in ids]
    switches.append(page.input_value("#ed-cooldown"))
    page.keyboard.press("Escape")
    page.wait_for_selector("#editor:not([open])", state="attached", timeout=WAIT_MS)
    return switches


def _disable_then_delete(page: Any, trader_id: str) -> str:
    row = f'[data-trader-id="{trader_id}"]'
    page.click(f"{row} >> text=Disable")
    state = page.wait_for_selector(f"{row}:has-text('disabled')", timeout=WAIT_MS).inner_text()
    page.click(f"{row} >> text=Delete")
    page.wait_for_selector("#confirm[open]", timeout=WAIT_MS)
    shot(page, "delete-confirm")
    page.click("#confirm-yes")
    page.wait_for_selector(row, state="detached", timeout=WAIT_MS)
    return "disabled" if "disabled" in state else state
