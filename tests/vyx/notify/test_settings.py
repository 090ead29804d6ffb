"""Where alert settings come from: the environment (NOTIFY_URLS, quiet hours), the traders file
(notify, mute, …) and the traders table (cloud_config.notifyOnSignal/notifyOnAnalysis); errors
name the setting and never quote a URL."""

from __future__ import annotations

import datetime as dt

import pytest

from vyx.config import Config, ConfigError
from vyx.notify.notices import TraderAlerts
from vyx.traders import TraderRejected, from_mapping
from vyx.traders_file import TradersFileError, parse_traders

TOKEN = "123456789:AAFakeTokenForTests_xyz"


def test_notify_urls_and_quiet_hours_come_from_the_environment() -> None:
    cfg = Config.from_env(
        {
            "NOTIFY_URLS": f"tgram://{TOKEN}/-1001 tgram://{TOKEN}/42, json://127.0.0.1:9/hook",
            "NOTIFY_QUIET_HOURS": "22:30-06:00",
            "NOTIFY_TIMEZONE": "Europe/Paris",
            "DASHBOARD_URL": "https://vyx.example",
        }
    )
    n = cfg.notify
    assert [c.service for c in n.channels] == ["telegram", "telegram", "json"]
    assert n.quiet_hours is not None
    assert n.quiet_hours.start == dt.time(22, 30)
    assert n.quiet_hours.zone == "Europe/Paris"
    assert n.dashboard_url == "https://vyx.example"
    assert TOKEN not in repr(cfg)
    assert Config.from_env({}).notify.channels == ()


def test_bad_alert_variables_are_named_without_their_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(
            {
                "NOTIFY_URLS": f"tgram://{TOKEN}/not-a-chat",
                "NOTIFY_QUIET_HOURS": "late",
                "NOTIFY_TIMEZONE": "Mars/Olympus",
            }
        )
    text = str(caught.value)
    assert "NOTIFY_URLS=<hidden>: expected apprise URLs" in text
    assert "URL #1: telegram: a chat id must be a number" in text
    assert "NOTIFY_TIMEZONE='Mars/Olympus': unknown time zone" in text
    assert "NOTIFY_QUIET_HOURS='late'" in text
    assert TOKEN.split(":")[1] not in text


FILE = f"""
[[traders]]
name = "Loud"
filter = "rsi(14) < 30"
notify = ["tgram://{TOKEN}/42"]
notify_on_analysis = false

[[traders]]
name = "Hushed"
filter = "rsi(14) > 70"
mute = true
"""


def test_the_traders_file_sets_each_traders_channels_and_mute() -> None:
    loud, hushed = parse_traders(FILE)
    assert [c.service for c in loud.alerts.channels] == ["telegram"]
    assert (loud.alerts.on_signal, loud.alerts.on_analysis, loud.alerts.muted) == (
        True,
        False,
        False,
    )
    assert hushed.alerts == TraderAlerts(muted=True)
    bad = FILE.replace("/42", "/forty-two")
    with pytest.raises(TradersFileError, match=r"trader 'Loud': traders file: notify: URL #1"):
        parse_traders(bad)
    with pytest.raises(TradersFileError) as caught:
        parse_traders(bad)
    assert TOKEN.split(":")[1] not in str(caught.value)
    with pytest.raises(TradersFileError, match="mute must be true or false"):
        parse_traders(FILE.replace("mute = true", 'mute = "yes"'))


def test_the_traders_table_reads_the_original_cloud_config_switches() -> None:
    row = {"id": "t-1", "name": "T", "filter": {"code": "rsi(14) < 30"}}
    assert from_mapping(row).alerts == TraderAlerts()
    off = from_mapping({**row, "cloud_config": {"notifyOnSignal": False, "notifyOnAnalysis": True}})
    assert (off.alerts.on_signal, off.alerts.on_analysis) == (False, True)
    as_text = from_mapping({**row, "cloud_config": '{"notifyOnAnalysis": false}'})
    assert as_text.alerts.on_analysis is False
    with pytest.raises(TraderRejected, match="notify on signal must be true or false"):
        from_mapping({**row, "cloud_config": {"notifyOnSignal": "sometimes"}})
