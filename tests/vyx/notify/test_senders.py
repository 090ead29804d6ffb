"""Each native sender against its fake over TCP (port 0): the wire format, and every failure
mode read into the right outcome (429 with ``retry_after``, 5xx, an HTML proxy page, a hang,
a malformed body, a bad token, a closed port). Trio's autojump clock: hangs cost no time."""

from __future__ import annotations

import base64
import json

import httpx
import trio

from tests.vyx.notify.conftest import HOOK_ID, HOOK_TOKEN, TOKEN, notice, serve, verdict
from tests.vyx.notify.fakes import FakeDiscord, FakeReceiver, FakeTelegram
from vyx.notify import discord, telegram, webhook
from vyx.notify.channels import Channel, parse_url
from vyx.notify.outbox import Batch


def one(channel: Channel, n: int = 1) -> Batch:
    s = notice(n)
    return Batch(channel, signals=((s, None),), keys=(s.key,))


def follow_up(channel: Channel, ref: str | None, n: int = 1) -> Batch:
    s = notice(n)
    return Batch(channel, verdicts=((verdict(s), s),), ref=ref, keys=(verdict(s).key,))


async def test_telegram_sends_html_replies_edits_and_reads_its_errors(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    fake = FakeTelegram(TOKEN)
    base = await serve(nursery, fake)
    chat = parse_url(f"tgram://{TOKEN}/-1001234567890?silent=yes&topic=9")[0]
    first = await telegram.send(http, one(chat), api_url=base, link_base="http://d.example")
    assert first.outcome == "ok"
    assert first.ref == "100"
    (msg,) = fake.sent("-1001234567890")
    assert msg["silent"]
    assert "<b>COIN1USDT</b>" in msg["text"]
    assert "?signal=" in msg["text"]
    assert "rsi(14) = 28.51" in msg["visible"]
    await trio.sleep(1.0)  # the chat's 1 message/s
    reply = await telegram.send(http, follow_up(chat, first.ref), api_url=base)
    assert reply.outcome == "ok"
    assert fake.sent("-1001234567890")[-1]["reply_to"] == 100

    edit_chat = parse_url(f"tgram://{TOKEN}/42?verdicts=edit")[0]
    sent = await telegram.send(http, one(edit_chat), api_url=base)
    await trio.sleep(1.0)  # the chat's 1 message/s
    edited = await telegram.send(http, follow_up(edit_chat, sent.ref), api_url=base)
    assert edited.outcome == "ok"
    assert edited.ref == sent.ref
    (msg,) = fake.sent("42")
    assert msg["edits"] == 1
    assert "ENTER TRADE" in msg["visible"]
    again = await telegram.send(http, follow_up(edit_chat, sent.ref), api_url=base)
    assert again.outcome == "ok"  # "message is not modified": the lost answer's edit was done


async def test_telegram_failure_modes(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    fake = FakeTelegram(TOKEN)
    fake.retry_after = 17
    base = await serve(nursery, fake)
    chat = parse_url(f"tgram://{TOKEN}/42")[0]
    fake.script.extend(["429", "500", "502", "hang", "malformed"])
    limited = await telegram.send(http, one(chat), api_url=base)
    assert (limited.outcome, limited.retry_after_s) == ("rate_limited", 17.0)
    assert limited.reason == "HTTP 429: Too Many Requests: retry after 17"
    assert (await telegram.send(http, one(chat), api_url=base)).outcome == "server"
    assert (await telegram.send(http, one(chat), api_url=base)).outcome == "server"
    start = trio.current_time()
    hung = await telegram.send(http, one(chat), api_url=base, timeout_s=5.0)
    assert hung.outcome == "timeout"
    assert trio.current_time() - start >= 5.0
    malformed = await telegram.send(http, one(chat), api_url=base)
    assert (malformed.outcome, malformed.ref) == ("ok", None)  # 2xx is the acknowledgement

    wrong = parse_url("tgram://999:WrongTokenValue/42")[0]
    refused = await telegram.send(http, one(wrong), api_url=base)
    assert refused.outcome == "client"
    assert refused.reason == "HTTP 401: Unauthorized"
    stranger = parse_url(f"tgram://{TOKEN}/777")[0]
    missing = await telegram.send(http, one(stranger), api_url=base)
    assert missing.outcome == "client"
    assert "chat not found" in missing.reason
    closed = await telegram.send(http, one(chat), api_url="http://127.0.0.1:1")
    assert closed.outcome == "transport"
    assert TOKEN not in closed.reason


async def test_discord_webhook_execute_edit_and_rate_limits(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    fake = FakeDiscord({HOOK_ID: HOOK_TOKEN})
    base = await serve(nursery, fake) + "/api"
    hook = parse_url(f"discord://vyx@{HOOK_ID}/{HOOK_TOKEN}?thread=321")[0]
    sent = await discord.send(http, one(hook), api_url=base)
    assert sent.outcome == "ok"
    assert sent.ref is not None
    (msg,) = fake.sent()
    assert msg["username"] == "vyx"
    assert msg["thread"] == "321"
    assert msg["mentions"] == {"parse": []}
    assert "**COIN1USDT**" in msg["content"]
    edited = await discord.send(http, follow_up(hook, sent.ref), api_url=base)
    assert edited.outcome == "ok"
    assert fake.sent()[0]["edits"] == 1
    assert "ENTER TRADE" in fake.sent()[0]["content"]
    # the fifth request of 2 s spends the bucket: the answer says how long to hold
    results = [await discord.send(http, one(hook, i), api_url=base) for i in range(3)]
    assert results[-1].outcome == "ok"
    assert results[-1].hold_s is not None
    over = await discord.send(http, one(hook, 9), api_url=base)
    assert over.outcome == "rate_limited"
    assert 0 < (over.retry_after_s or 0) <= 2.0
    assert fake.limit_violations == 1

    fake.retry_after = 0.75
    fake.script.append("429")
    await trio.sleep(2.0)
    limited = await discord.send(http, one(hook), api_url=base)
    assert (limited.outcome, limited.retry_after_s) == ("rate_limited", 0.75)  # body over header
    gone = parse_url(f"discord://1234567/{HOOK_TOKEN}")[0]
    unknown = await discord.send(http, one(gone), api_url=base)
    assert unknown.outcome == "client"
    assert unknown.reason == "HTTP 404: Unknown Webhook"
    fake.script.append("hang")
    assert (await discord.send(http, one(hook), api_url=base, timeout_s=3)).outcome == "timeout"


async def test_json_webhook_payload_headers_auth_and_retry_after(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    fake = FakeReceiver()
    base = await serve(nursery, fake)
    host = base.removeprefix("http://")
    hook = parse_url(f"json://me:pw123456@{host}/in/vyx?+X-Api-Key=k3y-value&-source=vyx")[0]
    s = notice(1)
    batch = Batch(hook, signals=((s, verdict(s)),), keys=(s.key, verdict(s).key))
    assert (await webhook.send(http, batch, link_base="http://d")).outcome == "ok"
    (body,) = fake.bodies
    (headers,) = fake.headers
    assert body["version"] == "1.0"
    assert body["type"] == "info"
    assert body["attachments"] == []
    assert body["title"] == "COIN1USDT 5m: Rsi Dip"
    assert "ENTER TRADE" in body["message"]
    data = body["vyx"]
    assert data["event"] == "signal"
    assert data["deliveryId"] == batch.delivery_id
    assert data["signals"][0]["signalId"] == s.signal_id
    assert data["signals"][0]["analysis"]["decision"] == "enter_trade"
    assert data["signals"][0]["clauses"][0] == {
        "label": "rsi(14) < 35",
        "held": True,
        "values": {"rsi(14)": 28.51},
    }
    assert headers["idempotency-key"] == batch.delivery_id
    assert headers["x-api-key"] == "k3y-value"
    assert headers["path"] == "/in/vyx"
    assert headers["query"] == "source=vyx"
    assert base64.b64decode(headers["authorization"].split()[1]) == b"me:pw123456"
    json.dumps(body)  # what was received is plain JSON
    fake.retry_after = 42
    fake.script.extend(["429", "500"])
    limited = await webhook.send(http, batch)
    assert (limited.outcome, limited.retry_after_s) == ("rate_limited", 42.0)
    assert (await webhook.send(http, batch)).outcome == "server"
