"""A trader's direction (how its signals' outcomes are scored) from every source."""

from __future__ import annotations

import pytest

from vyx.traders import BrowserEdit, TraderRejected, from_mapping, to_record
from vyx.traders_file import TradersFileError, parse_traders


def test_the_traders_file_says_long_or_short() -> None:
    text = (
        '[[traders]]\nname = "a"\nfilter = "close > open"\n'
        '[[traders]]\nname = "b"\nfilter = "close < open"\ndirection = "short"\n'
    )
    a, b = parse_traders(text)
    assert (a.definition.direction, b.definition.direction) == ("long", "short")
    with pytest.raises(TradersFileError, match="'direction' must be"):
        parse_traders('[[traders]]\nname = "c"\nfilter = "close > open"\ndirection = "up"\n')


def test_a_row_keeps_its_direction_in_strategy() -> None:
    row = {"id": "t1", "name": "t", "filter": {"code": "close < open"}, "direction": "short"}
    info = from_mapping(row)
    assert info.definition.direction == "short"
    record = to_record(info, "00000000-0000-0000-0000-000000000001").to_row()
    assert record["strategy"]["direction"] == "short"
    assert from_mapping(record).definition.direction == "short"
    assert info.to_message()["direction"] == "short"
    assert from_mapping({**row, "direction": None}).definition.direction == "long"
    with pytest.raises(TraderRejected, match="direction"):
        from_mapping({**row, "direction": "sideways"})


def test_a_traders_own_cooldown_from_every_source() -> None:
    """The traders file's ``cooldown_bars``, the browser's ``cooldownBars`` and the table's
    ``cloud_config.cooldownBars`` (a JSON string inside jsonb too) give a trader its own
    cooldown; none is the machine's; out of range is refused naming the setting."""
    text = '[[traders]]\nname = "a"\nfilter = "close > open"\ncooldown_bars = 12\n'
    (a,) = parse_traders(text)
    assert a.definition.cooldown == 12
    (b,) = parse_traders('[[traders]]\nname = "b"\nfilter = "close > open"\n')
    assert b.definition.cooldown is None
    for bad in ("-1", "10001", "1.5", '"12"', "true"):
        with pytest.raises(TradersFileError, match=r"trader 'c': 'cooldown_bars' must be a whole"):
            parse_traders(f'[[traders]]\nname = "c"\nfilter = "x > 1"\ncooldown_bars = {bad}\n')
    row = {"id": "t1", "name": "t", "filter": {"code": "close < open"}}
    assert from_mapping({**row, "cooldownBars": 3}).definition.cooldown == 3
    assert from_mapping({**row, "cooldownBars": None}).definition.cooldown is None
    assert from_mapping({**row, "cloud_config": {"cooldownBars": 7}}).definition.cooldown == 7
    assert from_mapping({**row, "cloud_config": '{"cooldownBars": 0}'}).definition.cooldown == 0
    for bad_value in (-1, 10_001, "5", True, 2.5, float("nan"), float("inf"), 10**40, [3], {}):
        with pytest.raises(TraderRejected, match="from 0 to 10,000"):
            from_mapping({**row, "cooldownBars": bad_value})
    with pytest.raises(TraderRejected, match=r"not 'true'$"):  # as JSON and TOML write it
        from_mapping({**row, "cooldownBars": True})
    with pytest.raises(TraderRejected, match=r"cloud_config\.cooldownBars must be"):
        from_mapping({**row, "cloud_config": {"cooldownBars": 99_999}})
    snake = BrowserEdit.of({**row, "cooldown_bars": 4})
    assert (snake.cooldown_set, snake.cooldown, snake.cloud_config()) == (
        True,
        4,
        {"cooldownBars": 4},
    )
    info = from_mapping({**row, "cooldownBars": 3})
    assert info.to_message()["cooldownBars"] == 3
    assert b.to_message()["cooldownBars"] is None


def test_a_number_too_long_to_read_is_a_file_error_not_a_traceback() -> None:
    """Python refuses to read an integer of thousands of digits (a ``ValueError`` that is not
    TOML's): the traders file's error names the file instead."""
    text = '[[traders]]\nname = "a"\nfilter = "x > 1"\ncooldown_bars = ' + "9" * 5000 + "\n"
    with pytest.raises(TradersFileError, match=r"traders\.toml: a number in it is too long"):
        parse_traders(text, "traders.toml")


def test_a_cloud_config_nested_thousands_deep_rejects_the_trader_only() -> None:
    """A browser's (or a row's) ``cloud_config`` as a JSON string nested past Python's
    recursion limit is the trader's error, not a RecursionError out of the command."""
    row = {"id": "t1", "name": "t", "filter": {"code": "close < open"}}
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(TraderRejected, match="cloud_config is not JSON"):
        from_mapping({**row, "cloud_config": deep})
