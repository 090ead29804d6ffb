"""Apprise URLs → channels: what is accepted, what is refused, and that no secret is shown."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.vyx.notify.conftest import HOOK_ID, HOOK_TOKEN, TOKEN
from vyx.notify.channels import ChannelError, describe, parse_url, parse_urls
from vyx.notify.notices import AlertsError, QuietHours, TraderAlerts, VerdictNotice


def test_telegram_url_gives_one_channel_per_chat_with_options() -> None:
    channels = parse_url(f"tgram://{TOKEN}/42/-1001234567890/@vyx_alerts?silent=yes&topic=7")
    assert [c.service for c in channels] == ["telegram"] * 3
    assert [c.target.split("/")[1] for c in channels] == ["42", "-1001234567890", "@vyx_alerts"]
    assert len({c.id for c in channels}) == 3
    assert channels[0].flag("silent", False) is True
    assert channels[0].option("topic") == "7"
    # apprise also accepts the token with a "bot" prefix: the same channel
    assert parse_url(f"tgram://bot{TOKEN}/42")[0].id == channels[0].id


def test_discord_both_spellings_are_one_channel() -> None:
    short = parse_url(f"discord://vyxbot@{HOOK_ID}/{HOOK_TOKEN}?thread=55")[0]
    long = parse_url(f"https://discord.com/api/webhooks/{HOOK_ID}/{HOOK_TOKEN}")[0]
    assert short.id == long.id
    assert short.service == "discord"
    assert short.option("botname") == "vyxbot"
    assert short.option("thread") == "55"


def test_json_url_headers_params_and_auth() -> None:
    (c,) = parse_url("jsons://user:s3cr3tpw@hooks.example:8443/in/vyx?+X-Api-Key=abcd1234&-tag=x")
    assert c.service == "json"
    assert c.target == "https://hooks.example:8443/in/vyx"
    assert ("+X-Api-Key", "abcd1234") in c.options
    assert ("-tag", "x") in c.options
    assert c.option("auth") == "user:s3cr3tpw"
    assert "s3cr3tpw" in c.secrets
    assert "abcd1234" in c.secrets


def test_other_services_go_to_apprise_unchanged() -> None:
    (c,) = parse_url("ntfy://ntfy.example/vyx-topic")
    assert (c.transport, c.service, c.url) == ("apprise", "ntfy", "ntfy://ntfy.example/vyx-topic")
    (slack,) = parse_url("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX")
    assert slack.transport == "apprise"
    assert slack.service == "apprise"


def test_ids_are_stable_and_reveal_nothing() -> None:
    url = f"tgram://{TOKEN}/42"
    first, again = parse_url(url)[0], parse_url(url)[0]
    assert first.id == again.id
    assert first.id.startswith("telegram:")
    secret = TOKEN.split(":")[1]
    for text in (first.id, str(first), repr(first), describe([first])):
        assert secret not in text
    assert describe(parse_urls(f"{url} tgram://{TOKEN}/43, json://127.0.0.1/x")) == (
        "telegram ×2, json"
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("hooks.example/x", "must start with a service"),
        ("tgram://", "bot token is required"),
        ("tgram://notatoken/42", "not of the form"),
        (f"tgram://{TOKEN}", "at least one chat id"),
        (f"tgram://{TOKEN}/not a chat", "chat id must be"),
        (f"discord://{HOOK_ID}", "expected discord://"),
        (f"discord://abc/{HOOK_TOKEN}", "webhook id must be a number"),
        ("json://", "a host is required"),
        ("json://host:99999/x", "port"),
        ("json://host/x?:message=body", "not supported"),
        ("json://host/x?method=GET", "not supported"),
        ("x" * 3000, "longer than"),
    ],
)
def test_bad_urls_are_named_without_their_secrets(url: str, says: str) -> None:
    with pytest.raises(ChannelError, match=says) as info:
        parse_urls([url])
    assert "URL #1" in str(info.value)
    if "AAFake" in url:
        assert "AAFake" not in str(info.value)


def test_too_many_urls() -> None:
    with pytest.raises(ChannelError, match="at most 20"):
        parse_urls(" ".join(f"json://h/{i}" for i in range(21)))


def test_redact_scrubs_every_secret() -> None:
    (c,) = parse_url(f"tgram://{TOKEN}/42")
    text = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed"
    assert "AAFakeTokenForTests" not in c.redact(text)
    assert "***" in c.redact(text)


def test_trader_alerts_from_the_original_cloud_config_and_the_traders_file() -> None:
    assert TraderAlerts.from_cloud_config(None) == TraderAlerts()
    off = TraderAlerts.from_cloud_config('{"enabledInCloud": true, "notifyOnSignal": false}')
    assert (off.on_signal, off.on_analysis) == (False, True)
    own = TraderAlerts.from_table({"notify": [f"tgram://{TOKEN}/42"], "mute": True})
    assert own.muted
    assert [c.service for c in own.channels] == ["telegram"]
    with pytest.raises(AlertsError, match="true or false"):
        TraderAlerts.from_cloud_config({"notifyOnSignal": "yes"})
    with pytest.raises(AlertsError, match="list of apprise URLs"):
        TraderAlerts.from_table({"notify": [1]})
    with pytest.raises(AlertsError, match="URL #1"):
        TraderAlerts.from_table({"notify": "tgram://nope"})


def test_quiet_hours_across_midnight_and_within_a_day() -> None:
    night = QuietHours.parse("22:00-07:00", "Europe/Berlin")
    at = dt.datetime(2024, 3, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()
    end = dt.datetime(2024, 3, 6, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()
    assert night.until(at) == end
    early = dt.datetime(2024, 3, 6, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()
    assert night.until(early) == end
    noon = dt.datetime(2024, 3, 6, 12, 0, tzinfo=dt.UTC).timestamp()
    assert night.until(noon) is None
    lunch = QuietHours.parse("12:00-13:00")
    assert lunch.until(noon) == noon + 3600
    assert QuietHours.parse("08:00-08:00").until(noon) is None
    with pytest.raises(ValueError, match="22:00-07:00"):
        QuietHours.parse("10pm-7am")
    with pytest.raises(ValueError, match="time zone"):
        QuietHours.parse("22:00-07:00", "Mars/Olympus")


def test_verdict_notice_from_an_analysis_row() -> None:
    row = {
        "signal_id": "s1",
        "trader_id": "t1",
        "decision": "bad_setup",
        "confidence": 40,
        "reasoning": "x" * 5000,
        "key_levels": {"entry": 1.5, "stopLoss": None, "takeProfit": [2.0, 3.0]},
        "technical_indicators": {"analysis_status": "ok"},
    }
    v = VerdictNotice.from_row(row)
    assert v is not None
    assert v.levels == (("entry", 1.5), ("takeProfit", 2.0))
    assert len(v.reasoning) == 600
    assert v.key == "s1/analysis"
    failed = {**row, "technical_indicators": {"analysis_status": "failed"}}
    assert VerdictNotice.from_row(failed) is None
