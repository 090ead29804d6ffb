"""The notifier against the Telegram, Discord and JSON fakes over TCP, on Trio's autojump clock:
closes of 300 signals as digests within every rate limit, a 10-minute outage, a lost
acknowledgement, mutes and quiet hours, and no secret in any log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import attrs
import httpx
import pytest
import trio
from loguru import logger

from tests.vyx.notify.conftest import HOOK_ID, HOOK_TOKEN, TOKEN, notice, serve, verdict
from tests.vyx.notify.fakes import FakeDiscord, FakeReceiver, FakeTelegram
from tests.vyx.store.factory import make_signal
from tests.vyx.store.supabase.factory import make_analysis
from vyx.mutes import Mutes
from vyx.notify import Notifier, NotifySettings, QuietHours, TraderAlerts, parse_urls
from vyx.notify.notices import SignalNotice
from vyx.notify.stats import NotifierStatistics


async def start(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    *,
    telegram: FakeTelegram | None = None,
    discord: FakeDiscord | None = None,
    receiver: FakeReceiver | None = None,
    **options: object,
) -> Notifier:
    urls = []
    tg_url = dc_url = "http://127.0.0.1:1"
    if telegram is not None:
        tg_url = await serve(nursery, telegram)
        urls.append(f"tgram://{TOKEN}/-1001234567890")
    if discord is not None:
        dc_url = await serve(nursery, discord) + "/api"
        urls.append(f"discord://{HOOK_ID}/{HOOK_TOKEN}")
    if receiver is not None:
        host = (await serve(nursery, receiver)).removeprefix("http://")
        urls.append(f"json://{host}/alerts")
    settings = NotifySettings(
        channels=parse_urls(urls),
        telegram_url=tg_url,
        discord_url=dc_url,
        dashboard_url="http://127.0.0.1:8080",
        **options,  # type: ignore[arg-type]
    )
    notifier = Notifier(settings)
    await nursery.start(notifier.serve, http)
    return notifier


def accounted(digest: str) -> int:
    """How many signals a digest accounts for."""
    listed = sum(1 for line in digest.splitlines() if line.startswith("•"))
    more = sum(int(k) for k in re.findall(r"^and (\d+) more$", digest, re.M))
    traders = sum(int(k) for k in re.findall(r"more traders \((\d+) signals\)", digest))
    return listed + more + traders


def received_ids(receiver: FakeReceiver) -> list[str]:
    return [s["signalId"] for body in receiver.bodies for s in body["vyx"]["signals"]]


async def test_closes_of_300_signals_arrive_as_digests_within_the_rate_limits(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    telegram: FakeTelegram,
    discord: FakeDiscord,
    receiver: FakeReceiver,
) -> None:
    notifier = await start(nursery, http, telegram=telegram, discord=discord, receiver=receiver)
    fired = []
    for close in range(3):
        bar = 1_700_000_100_000 + close * 300_000
        burst = [notice(i, trader=f"trader-{i % 10}", bar=bar) for i in range(300)]
        fired += [n.signal_id for n in burst]
        notifier.signals(burst)
        await trio.sleep(300.0)
    assert len(telegram.sent()) == len(discord.sent()) == len(receiver.bodies) == 3
    assert sorted(received_ids(receiver)) == sorted(fired)  # each once
    for text in [m["visible"] for m in telegram.sent()] + [m["content"] for m in discord.sent()]:
        assert text.startswith(("300 signals", "**300 signals**"))
        assert accounted(text) == 300  # listed lines + "and K more" + "K more traders (N …)"
    assert all(len(m["content"]) <= 2000 for m in discord.sent())
    # a stream: 4 signals every 0.25 s for a minute — never over a limit, none lost, none twice
    stream = []
    for step in range(240):
        batch = [notice(i, trader="scalper", bar=step) for i in range(4)]
        stream += [n.signal_id for n in batch]
        notifier.signals(batch)
        await trio.sleep(0.25)
    await trio.sleep(120.0)
    assert telegram.limit_violations == discord.limit_violations == 0
    assert sorted(received_ids(receiver)) == sorted(fired + stream)
    stats = notifier.statistics()
    assert stats.pending == 0
    assert not stats.failing
    assert all(c.delivered == 900 + 960 and c.failed == 0 for c in stats.channels)


async def test_ten_minute_outage_delivers_every_signal_once_afterwards(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    telegram: FakeTelegram,
    receiver: FakeReceiver,
) -> None:
    notifier = await start(nursery, http, telegram=telegram, receiver=receiver)
    telegram.down = receiver.down = True
    fired = []
    seen_failing = False
    for minute in range(10):
        n = notice(minute, bar=minute * 60_000)
        fired.append(n.signal_id)
        notifier.signals([n])
        await trio.sleep(60.0)
        seen_failing |= len(notifier.statistics().failing) == 2
    assert seen_failing
    down = notifier.statistics()
    assert down.pending == 20
    assert all(c.breaker == "open" for c in down.channels)
    assert all("HTTP 502" in (c.last_error or "") for c in down.channels)
    telegram.down = receiver.down = False
    await trio.sleep(700.0)  # the breaker's longest pause (600 s) plus a margin
    assert sorted(received_ids(receiver)) == sorted(fired)
    (backlog,) = telegram.sent()  # the outage's backlog: one digest
    assert backlog["visible"].startswith("10 signals")
    assert accounted(backlog["visible"]) == 10
    up = notifier.statistics()
    assert up.pending == 0
    assert not up.failing
    assert all(c.breaker == "closed" and c.retried >= 1 for c in up.channels)


async def test_a_lost_acknowledgement_is_the_one_duplicate_and_carries_the_same_key(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    receiver = FakeReceiver()
    notifier = await start(nursery, http, receiver=receiver, timeout_s=5.0)
    receiver.script.append("accept_hang")
    notifier.signals([notice(1)])
    await trio.sleep(60.0)
    assert len(receiver.bodies) == 2  # taken, answer lost, sent again: at least once
    assert receiver.headers[0]["idempotency-key"] == receiver.headers[1]["idempotency-key"]
    assert len(receiver.unique()) == 1


async def test_mutes_switches_trader_channels_and_analyses(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    telegram: FakeTelegram,
    receiver: FakeReceiver,
) -> None:
    host = (await serve(nursery, receiver)).removeprefix("http://")
    settings = NotifySettings(
        channels=parse_urls(f"json://{host}/all"), telegram_url=await serve(nursery, telegram)
    )
    notifier = Notifier(settings)
    await nursery.start(notifier.serve, http)
    notifier.set_traders(
        {
            "loud": TraderAlerts(channels=parse_urls(f"tgram://{TOKEN}/42")),
            "hushed": TraderAlerts(muted=True),
            "no-ai": TraderAlerts(on_analysis=False),
        }
    )
    loud, hushed, no_ai = (
        notice(1, trader="loud"),
        notice(2, trader="hushed"),
        notice(3, trader="no-ai"),
    )
    assert notifier.signals([loud, hushed, no_ai]) == 3  # loud ×2 channels, no-ai ×1
    await trio.sleep(5.0)
    for n in (loud, hushed, no_ai):
        notifier.verdict(verdict(n))
    await trio.sleep(5.0)
    assert sorted(received_ids(receiver)) == sorted([loud.signal_id, no_ai.signal_id])
    analyses = [a["signalId"] for b in receiver.bodies for a in b["vyx"]["analyses"]]
    assert analyses == [loud.signal_id]
    chat = telegram.sent("42")
    assert len(chat) == 2
    assert chat[1]["reply_to"] == chat[0]["message_id"]
    assert notifier.statistics().muted == 3  # hushed's signal and analysis, no-ai's analysis


async def test_quiet_hours_hold_alerts_and_provisional_signals_are_not_announced(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    receiver = FakeReceiver()
    wall0 = 1_700_000_000.0  # 22:13 UTC
    clock0 = trio.current_time()
    host = (await serve(nursery, receiver)).removeprefix("http://")
    settings = NotifySettings(
        channels=parse_urls(f"json://{host}/q"), quiet_hours=QuietHours.parse("22:00-06:00")
    )
    notifier = Notifier(settings, wall=lambda: wall0 + trio.current_time() - clock0)
    await nursery.start(notifier.serve, http)
    notifier.signals([notice(1), notice(2), attrs.evolve(notice(3), provisional=True)])
    await trio.sleep(7 * 3600.0)
    assert receiver.bodies == []
    assert notifier.statistics().pending == 2
    await trio.sleep(3600.0)
    (body,) = receiver.bodies
    assert body["vyx"]["event"] == "digest"
    assert len(body["vyx"]["signals"]) == 2


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE")
    root = logging.getLogger()
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        logger.remove(sink)


async def test_secrets_never_reach_logs_errors_or_statistics(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    telegram: FakeTelegram,
    discord: FakeDiscord,
    log_lines: list[str],
) -> None:
    discord.hooks[HOOK_ID] = "another-token-entirely"  # every Discord call: 401
    notifier = await start(nursery, http, telegram=telegram, discord=discord, timeout_s=2.0)
    telegram.script.extend(["429", "hang", "500"])
    notifier.signals([notice(i) for i in range(3)])
    await trio.sleep(120.0)
    stats: NotifierStatistics = notifier.statistics()
    text = "\n".join(log_lines) + repr(stats) + repr(notifier.settings)
    assert "alert to discord:" in text
    assert "HTTP 401: Invalid Webhook Token" in text
    for secret in (TOKEN, TOKEN.split(":")[1], HOOK_TOKEN):
        assert secret not in text


async def test_the_users_mutes_silence_a_symbol_or_a_trader_and_their_analyses() -> None:
    """A muted symbol (any trader) or trader (any symbol) owes no alert, nor does the analysis
    of such a signal; the others do; unmuting restores them. Counted as muted."""
    notifier = Notifier(NotifySettings(channels=parse_urls("json://127.0.0.1:9/all")))
    made = [
        attrs.evolve(make_signal(n, trader=trader), symbol=symbol)
        for n, symbol, trader in ((1, "BTCUSDT", "a"), (2, "ETHUSDT", "a"), (3, "ETHUSDT", "b"))
    ]
    assert set(notifier.signal_alerts(made)) == {s.id for s in made}
    notifier.set_mutes(Mutes(symbols=frozenset({"BTCUSDT"}), traders=frozenset({"b"})))
    assert set(notifier.signal_alerts(made)) == {made[1].id}
    analysed = [{**make_analysis(s), "trader_id": s.trader_id} for s in made]
    assert [bool(notifier.verdict_alerts(a, s)) for a, s in zip(analysed, made, strict=True)] == [
        False,
        True,
        False,
    ]
    assert notifier.signals([SignalNotice.of(s) for s in made]) == 1
    assert notifier.statistics().muted == 2 + 2 + 2
    notifier.set_mutes(Mutes())
    assert set(notifier.signal_alerts(made)) == {s.id for s in made}
