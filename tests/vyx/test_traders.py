"""A trader's direction (how its signals' outcomes are scored) from every source."""

from __future__ import annotations

import pytest

from vyx.traders import TraderRejected, from_mapping, to_record
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
