"""Trader changes through :class:`vyx.daemon.control.Control`: a change that cannot run is
refused with its reason and the running traders stay; foreign traders are rejected one by one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio

from tests.vyx.control_harness import control_over
from tests.vyx.screener.rings import ScreenerRun, filled_rings
from vyx.cloud.traders import TraderChanges, TraderSet, TraderUpdate
from vyx.daemon.cloud import TraderBridge
from vyx.daemon.control import Control
from vyx.daemon.delivery import Delivery
from vyx.server.interface import CommandRejected
from vyx.server.protocol import (
    ChartData,
    ConfigUpdate,
    SignalHistory,
    TraderCheck,
    TraderDraft,
    TraderRemove,
    TraderUpsert,
    encode,
)
from vyx.store.records import Trader
from vyx.telemetry.metrics import Metrics
from vyx.traders_file import parse_traders

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"

#: Traders as the original product stored them: JavaScript function bodies.
JS_TRADERS = [
    {
        "id": "js-1",
        "name": "RSI dip (JS)",
        "language": "javascript",
        "filter": {
            "code": "const rsi = helpers.calculateRSI(klines, 14);\nreturn rsi < 30;",
            "description": ["RSI under 30"],
        },
    },
    {
        "id": "js-2",
        "name": "volume (no language)",
        "filter": json.dumps(
            {"code": "\n".join(f"const v{i} = klines[{i}][5];" for i in range(300))}
        ),
    },
    {"id": "js-3", "name": "no code", "filter": {"description": ["nothing"]}},
]


def _row(tid: str, code: str, timeframe: str = "5m") -> dict[str, Any]:
    filter_ = {"code": code, "language": "vyx"}
    return {"id": tid, "name": tid, "filter": filter_, "executionInterval": timeframe}


class _Browser:
    """What the daemon broadcast."""

    def __init__(self) -> None:
        self.messages: list[Mapping[str, Any]] = []

    def __call__(self, message: Mapping[str, Any]) -> None:
        assert len(encode(message)) < 16_384
        self.messages.append(message)

    def errors(self) -> dict[str | None, str]:
        return {
            m["data"].get("traderId"): m["data"]["message"]
            for m in self.messages
            if m["type"] == "error"
        }


@asynccontextmanager
async def _control(tmp_path: Path) -> AsyncIterator[tuple[Control, ScreenerRun, _Browser]]:
    run = ScreenerRun(filled_rings())
    browser = _Browser()
    async with control_over(run, tmp_path, user_id=USER, persist=False) as (control, _):
        control.broadcast = browser
        await control.handle(TraderUpsert(_row("up", "close > open")))
        await run.load()
        yield control, run, browser


async def test_a_trader_that_cannot_run_is_refused_and_later_edits_work(tmp_path: Path) -> None:
    """Finding 4: ``on("4h")`` on a 5m machine made every later upsert fail ("trader_upsert
    failed"), because the new list was kept before the screener accepted it."""
    async with _control(tmp_path) as (control, run, _):
        with pytest.raises(CommandRejected, match="timeframe '4h' is not streamed") as refused:
            await control.handle(TraderUpsert(_row("mtf", 'on("4h", close > open)')))
        assert refused.value.trader_id == "mtf"
        assert set(control.traders) == {"up"}
        await control.handle(TraderUpsert(_row("rising", "close > sma(close, 20)")))
        assert set(control.traders) == {"up", "rising"}
        assert set(run.screener.executor.traders) == {"up", "rising"}


async def test_a_trader_on_a_timeframe_not_streamed_is_refused(tmp_path: Path) -> None:
    """Finding 9: it was acknowledged and then dropped silently."""
    async with _control(tmp_path) as (control, _, _):
        with pytest.raises(CommandRejected, match="timeframe '1h' is not streamed here"):
            await control.handle(TraderUpsert(_row("hourly", "close > open", "1h")))
        assert set(control.traders) == {"up"}


async def test_foreign_traders_are_rejected_one_by_one_and_the_rest_runs(tmp_path: Path) -> None:
    async with _control(tmp_path) as (control, run, browser):
        rows = [*JS_TRADERS, _row("up", "close > open"), _row("down", "close < open")]
        await control.handle(ConfigUpdate(version=2, traders=tuple(rows)))
        assert set(run.screener.executor.traders) == {"up", "down"}
        errors = browser.errors()
        assert "'javascript', not the Vyx filter language" in errors["js-1"]
        assert errors["js-2"].startswith("trader 'volume (no language)': does not compile")
        assert "filter.code" in errors["js-3"]
        await run.close_next(up=False)
        await run.close_next(up=True)
        assert {s.trader_id for s in run.signals} == {"up", "down"}


async def test_status_counts_drop_removed_traders(tmp_path: Path) -> None:
    async with _control(tmp_path) as (control, run, browser):
        await control.handle(TraderUpsert(_row("down", "close < open")))
        await run.close_next()
        await control.handle(TraderRemove("down"))
        assert set(run.screener.statistics().traders) == {"up"}
        assert control.snapshot().traders[0]["id"] == "up"
        assert {"type": "trader_removed", "data": {"traderId": "down"}} in browser.messages


async def test_the_cloud_reload_survives_any_trader_content(tmp_path: Path) -> None:
    """Finding 4: the reload let a trader's exception out, and the machine exited."""
    rows = [
        _row("up", "close > open"),
        _row("mtf", 'close > open and on("4h", close > open)'),
        _row("long", "close > sma(close, 4000)"),
    ]
    traders = tuple(Trader.from_row({**r, "user_id": USER}) for r in rows)
    update = TraderUpdate(TraderSet(traders, ()), TraderChanges(added=traders), entitled=True)
    async with _control(tmp_path) as (control, run, browser):
        bridge = TraderBridge()
        await bridge.on_update(update)
        await bridge.attach(control)
        assert set(run.screener.executor.traders) == {"up"}
        assert set(browser.errors()) == {"mtf", "long"}
        assert control.snapshot().traders[1]["state"] == "error"


async def test_changes_at_once_are_all_kept(tmp_path: Path) -> None:
    """Browsers editing at the same time: each change builds on the one before."""
    async with _control(tmp_path) as (control, run, _):
        async with trio.open_nursery() as nursery:
            for k in range(6):
                row = _row(f"t{k}", f"close > sma(close, {k + 2})")
                nursery.start_soon(control.handle, TraderUpsert(row))
        assert set(control.traders) == {"up"} | {f"t{k}" for k in range(6)}
        assert set(run.screener.executor.traders) == set(control.traders)


async def test_words_to_a_checked_previewed_trader_then_the_upsert_saves_it(tmp_path: Path) -> None:
    """``trader_draft`` → draft + explanations + preview; ``trader_check`` → the compiler's
    errors at their line:column as the user types; then ``trader_upsert`` saves it."""
    async with _control(tmp_path) as (control, run, _):
        drafted = await control.handle(
            TraderDraft("RSI below 30 and volume twice its 20-bar average")
        )
        assert drafted is not None
        assert drafted["ok"] is True
        draft = drafted["draft"]
        assert draft["filter"] == "rsi(14) < 30\nand volume > 2 * sma(volume, 20)"
        assert [c["checks"] for c in draft["clauses"]] == [
            "RSI(14) is below 30",
            "The volume is more than 2× its 20-bar average",
        ]
        assert drafted["preview"]["symbols"] == 3
        assert drafted["timeframes"] == ["5m"]
        assert len(encode(drafted)) < 16_384

        typing = await control.handle(TraderCheck("rsi(14) < 30\nand  rsx(14) > 1"))
        assert typing == {
            "ok": False,
            "draft": None,
            "problems": [
                {"message": "unknown function 'rsx'; did you mean rsi?", "line": 2, "column": 6}
            ],
            "preview": None,
            "timeframes": ["5m"],
        }
        hourly = await control.handle(TraderCheck('on("4h", close > open)'))
        assert hourly is not None
        assert "'4h' is not available here (one of 5m)" in hourly["problems"][0]["message"]

        # The preview fires where an up bar follows a bar that was not: an oracle from the rings.
        fixed = await control.handle(TraderCheck("close > open", preview=True))
        assert fixed is not None
        assert fixed["ok"] is True
        ring = run.rings["5m"]
        expected = 0
        for symbol in ring.symbols:
            _, values = ring.window(ring.slot(symbol), 1000)
            up = values[3] > values[0]
            expected += int(up[0]) + int(np.sum(up[1:] & ~up[:-1]))
        assert fixed["preview"]["fires"] == expected > 0

        await control.handle(TraderUpsert(_row("words", draft["filter"])))
        assert set(run.screener.executor.traders) == {"up", "words"}


async def test_authoring_requests_edit_only_this_machines_traders(tmp_path: Path) -> None:
    async with _control(tmp_path) as (control, _, _):
        with pytest.raises(CommandRejected, match="no trader 'theirs'"):
            await control.handle(TraderCheck("close > open", trader_id="theirs"))
        with pytest.raises(CommandRejected, match="no trader 'theirs'"):
            await control.handle(ChartData("S0USDT", trader_id="theirs"))
        drawn = await control.handle(ChartData("S0USDT", filter="rsi(14) > 50", bars=50))
        assert drawn is not None
        assert [s["label"] for s in drawn["series"]] == ["rsi(14)"]
        assert len(drawn["candles"]) == 50
        page = await control.handle(SignalHistory(limit=10))
        assert page == {"signals": [], "more": False, "after": None}
        mine = await control.handle(TraderCheck("close > open", trader_id="up"))
        assert mine is not None
        assert mine["ok"] is True
        unread = await control.handle(TraderDraft("buy when the moon is full"))
        assert unread is not None
        assert unread["ok"] is False
        assert unread["preview"] is None
        assert unread["problems"]


async def test_trader_states_reach_browsers_as_they_change(tmp_path: Path) -> None:
    """The traders table is live: matches and the last signal after a screen, nothing
    re-sent when only a screen's timings changed."""
    async with _control(tmp_path) as (control, run, browser):
        delivery = Delivery(
            store=control.store,
            broadcast=browser,
            metrics=Metrics(),
            analyzer=None,
            rings=run.rings,
            running=control.running,
        )
        control.trader_changes()  # what browsers know now
        await run.close_next(up=False)
        await run.close_next(up=True)
        fired = [s for s in run.signals if s.trader_id == "up"]
        assert fired
        await delivery.handle(fired, [])
        changes = control.trader_changes()
        assert [m["type"] for m in changes] == ["trader_updated"]
        trader = changes[0]["data"]["trader"]
        assert trader["signals"] == len(fired)
        assert trader["lastSignal"] == {"symbol": fired[-1].symbol, "time": fired[-1].created_at}
        assert trader["state"] == "running"
        assert trader["warmupBars"] == 1
        assert control.trader_changes() == []


TRADERS_FILE = """
[[traders]]
id = "quiet"
name = "quiet"
filter = "close > open"
notify = ["json://user:s3cret-pass@127.0.0.1:9/hook"]
notify_on_signal = false
mute = true
"""


async def test_an_upsert_keeps_the_traders_alert_settings_unless_it_sets_them(
    tmp_path: Path,
) -> None:
    """Embedded mode (traders file): the browser sees the switches and the channels' ids,
    never a URL; an edit that omits them (an older page, ``setEnabled``) keeps them; one that
    sets a switch changes only that one; channels are never set from a browser."""
    async with _control(tmp_path) as (control, _, browser):
        await control.apply(parse_traders(TRADERS_FILE))
        kept = control.traders["quiet"].alerts
        (sent,) = [t for t in control.snapshot().traders if t["id"] == "quiet"]
        assert sent["notify"] == {
            "onSignal": False,
            "onAnalysis": True,
            "muted": True,
            "channels": [kept.channels[0].id],
        }
        assert kept.channels[0].id.startswith("json:")
        assert "s3cret" not in json.dumps(control.snapshot().traders)
        await control.handle(TraderUpsert({**_row("quiet", "close >= open"), "enabled": True}))
        assert control.traders["quiet"].alerts == kept
        assert control.traders["quiet"].definition.filter == "close >= open"
        edit = {"onAnalysis": False, "channels": ["json://evil.example/x"]}
        await control.handle(TraderUpsert({**_row("quiet", "close > open"), "notify": edit}))
        now = control.traders["quiet"].alerts
        assert (now.on_signal, now.on_analysis, now.muted) == (False, False, True)
        assert now.channels == kept.channels
        with pytest.raises(CommandRejected, match=r"notify\.muted must be true or false"):
            await control.handle(
                TraderUpsert({**_row("quiet", "close > open"), "notify": {"muted": "yes"}})
            )
        assert control.traders["quiet"].alerts == now
        updated = [m for m in browser.messages if m["type"] == "trader_updated"]
        assert updated[-1]["data"]["trader"]["notify"]["onAnalysis"] is False
        assert "s3cret" not in json.dumps(browser.messages)


async def test_an_upsert_keeps_the_traders_cooldown_unless_it_sets_it(tmp_path: Path) -> None:
    """The browser's ``cooldownBars``: set, kept by an edit that omits it, back to the
    machine's with null, refused out of range (the running trader unchanged); the screener
    runs each trader with its own."""
    async with _control(tmp_path) as (control, run, browser):
        await control.handle(TraderUpsert({**_row("up", "close > open"), "cooldownBars": 12}))
        assert control.traders["up"].definition.cooldown == 12
        assert run.screener.executor.traders["up"].definition.cooldown == 12
        await control.handle(TraderUpsert({**_row("up", "close >= open"), "enabled": True}))
        assert control.traders["up"].definition.cooldown == 12
        assert control.traders["up"].definition.filter == "close >= open"
        with pytest.raises(CommandRejected, match=r"cooldownBars must be a whole number"):
            await control.handle(TraderUpsert({**_row("up", "close > open"), "cooldownBars": -2}))
        assert control.traders["up"].definition.cooldown == 12
        updated = [m for m in browser.messages if m["type"] == "trader_updated"]
        assert updated[-1]["data"]["trader"]["cooldownBars"] == 12
        await control.handle(TraderUpsert({**_row("up", "close > open"), "cooldownBars": None}))
        assert control.traders["up"].definition.cooldown is None
        # The row's spelling is an edit too (it was read for a new trader only: an edit kept
        # the running cooldown, and nothing of it went into cloud_config).
        await control.handle(TraderUpsert({**_row("up", "close > open"), "cooldown_bars": 3}))
        assert control.traders["up"].definition.cooldown == 3
