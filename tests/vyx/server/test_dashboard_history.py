"""The dashboard's signal history and mutes in real headless Chromium (see
``test_dashboard_browser``): the history paged from the store, filtered, exported and laid out
at 390 px; a symbol muted in the page raises no alert on the machine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vyx.server.protocol import TraderUpsert
from vyx.signal import Signal, signal_id

from .browser import Browser, shot
from .dashboard_machine import USER, WAIT_MS, dashboard_machine, open_page


def _stored(n: int) -> list[Signal]:
    start = 1_700_000_000_000
    return [
        Signal(
            id=signal_id("old", f"S{i % 7}USDT", "5m", start + i * 300_000),
            trader_id="old",
            user_id=USER,
            symbol=f"S{i % 7}USDT",
            interval="5m",
            price=100.0 + i,
            bar_open_time=start + i * 300_000,
            matched_conditions=("close > open",),
            indicator_data={"close > open": {"held": True, "values": {"close": 100.0 + i}}},
            # Three at each close: pages must not split or repeat a close's signals.
            created_at=start + (i // 3) * 300_000 + 300_000,
        )
        for i in range(n)
    ]


def _page_through_history(page: Any) -> dict[str, Any]:
    counts = []
    for _ in range(4):
        before = page.text_content("#signal-count")
        page.click("#older")
        page.wait_for_function(
            "n => document.querySelector('#signal-count').textContent !== n",
            arg=before,
            timeout=WAIT_MS,
        )
        counts.append(page.text_content("#signal-count"))
        if page.is_disabled("#older"):
            break
    note = page.inner_text("#history-note")
    page.fill("#f-search", "S3USDT")
    filtered = page.text_content("#signal-count")
    with page.expect_download() as download:
        page.click("#export")
    csv = Path(download.value.path()).read_text()
    page.fill("#f-search", "")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    shot(page, "phone")
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return {"counts": counts, "note": note, "filtered": filtered, "csv": csv, "widths": widths}


async def test_the_history_pages_from_the_store_exports_and_fits_a_phone(
    browser: Browser, tmp_path: Path
) -> None:
    async with dashboard_machine(tmp_path) as machine:
        await machine.store.save_signals(_stored(250))
        await machine.store.flush()
        page = await browser.run(open_page, browser, machine.handle.dashboard_url)
        seen = await browser.run(_page_through_history, page)
        assert seen["counts"] == ["100", "200", "250"]
        assert "every stored signal" in seen["note"]
        on_s3 = sum(1 for s in _stored(250) if s.symbol == "S3USDT")
        assert seen["filtered"] == f"{on_s3} of 250"
        rows = seen["csv"].strip().splitlines()
        assert rows[0].startswith("created_at,bar_open_time,symbol")
        assert len(rows) == 1 + on_s3
        assert all('"S3USDT"' in r for r in rows[1:])
        # Each on its own bar, as stored (not the bar closed when it was made).
        bars = {
            datetime.fromtimestamp(s.bar_open_time / 1000, UTC).isoformat()[:19]
            for s in _stored(250)
            if s.symbol == "S3USDT"
        }
        assert {r.split(",")[1].strip('"')[:19] for r in rows[1:]} == bars
        scroll, client = seen["widths"]
        assert scroll <= client == 390  # nothing wider than the phone
        assert page.errors == []
        await browser.run(page.context.close)
    assert browser.external == []


def _mute_a_symbol(page: Any, symbol: str) -> dict[str, str]:
    """The signal card's *Mute SYMBOL*: the machine's answer lists it as muted."""
    page.click(f"button[aria-label='Mute {symbol}'] >> nth=0")
    row = page.wait_for_selector(f"#muted-row:has-text('{symbol}')", timeout=WAIT_MS)
    return {"row": row.inner_text()}


def _badges(page: Any, signal_id: str) -> str:
    """The badges of a signal's card (``muted``, a verdict), as shown."""
    card = page.wait_for_selector(f'[data-signal-id="{signal_id}"]', timeout=WAIT_MS)
    return " ".join(b.inner_text() for b in card.query_selector_all(".badge"))


def _after_the_next_close(page: Any, signal_id: str, earlier_id: str) -> dict[str, str]:
    card = page.wait_for_selector(f'[data-signal-id="{signal_id}"]', timeout=WAIT_MS)
    shot(page, "muted-symbol")
    return {
        "card": card.inner_text(),
        "badges": _badges(page, signal_id),
        "earlier": _badges(page, earlier_id),
    }


def _unmute_from_the_list(page: Any, symbol: str, signal_id: str) -> str:
    page.click(f"#muted-row button[aria-label='Unmute {symbol}']")
    page.wait_for_selector("#muted-row", state="hidden", timeout=WAIT_MS)
    return _badges(page, signal_id)


def _muted_list(page: Any, label: str) -> str:
    return str(
        page.wait_for_selector(f"#muted-row:has-text('{label}')", timeout=WAIT_MS).inner_text()
    )


async def test_a_symbol_muted_in_the_page_raises_no_alert_on_the_machine(
    browser: Browser, tmp_path: Path
) -> None:
    """Mute is the machine's: muting a symbol on a signal card stores the mute and the next
    close's signal on it is stored and shown (marked muted) but owes no alert; unmuting
    from the list removes it. The mark is the signal's own: the signal alerted before the mute
    is never marked, the muted one stays marked after the unmute. A mute of a trader the
    machine does not run is listed as not on this machine."""
    async with dashboard_machine(tmp_path) as machine:
        row = {"id": "up", "name": "Up bar", "filter": {"code": "close > open"}}
        await machine.control.handle(TraderUpsert(row))
        page = await browser.run(open_page, browser, machine.handle.dashboard_url)
        await machine.close(up=False)
        before = await machine.close(up=True)
        symbols = {s.symbol for s in before}
        assert len(symbols) == 4
        seen = await browser.run(_mute_a_symbol, page, "S1USDT")
        assert "S1USDT" in seen["row"]
        assert machine.mutes.mutes.symbols == {"S1USDT"}
        assert await machine.store.load_mutes(USER, 10) == [("symbol", "S1USDT")]
        await machine.close(up=False)
        after = await machine.close(up=True)
        assert {s.symbol for s in after} == symbols  # still screened, stored and pushed
        await machine.store.flush()
        owed = await machine.store.outbox.pending(limit=100)
        alerted = {e.key: e.notice["symbol"] for e in owed}
        assert {alerted[s.id] for s in before} == symbols  # before the mute: every one
        assert {alerted[s.id] for s in after if s.id in alerted} == symbols - {"S1USDT"}
        (muted,) = [s for s in after if s.symbol == "S1USDT"]
        assert muted.id not in alerted
        stored = {r["id"] for r in await machine.store.recent_signals(muted.user_id, 20)}
        assert muted.id in stored
        (alerted_first,) = [s for s in before if s.symbol == "S1USDT"]
        card = await browser.run(_after_the_next_close, page, muted.id, alerted_first.id)
        assert "muted" in card["badges"]
        assert "Unmute S1USDT" in card["card"]
        assert "muted" not in card["earlier"]  # alerted before the mute: shown as it happened
        badges = await browser.run(_unmute_from_the_list, page, "S1USDT", muted.id)
        assert "muted" in badges  # muted when it fired: it stays so
        assert machine.mutes.mutes.symbols == frozenset()
        assert await machine.store.load_mutes(USER, 10) == []
        await machine.store.set_mute(USER, "trader", "gone-trader", muted=True)  # set elsewhere
        assert await machine.mutes.refresh()
        listed = await browser.run(_muted_list, page, "gone-trader")
        assert "gone-trader (not on this machine)" in listed
        assert page.errors == []
        await browser.run(page.context.close)
    assert browser.external == []
