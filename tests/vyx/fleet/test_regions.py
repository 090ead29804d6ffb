"""Where a machine may run: Fly regions and Binance's verdict on each."""

from __future__ import annotations

import pytest

from vyx.fleet.regions import (
    DEFAULT_REGION,
    FLY_REGIONS,
    RESTRICTED_COUNTRIES,
    RegionRefused,
    check_region,
    region_of,
    served_regions,
)


def test_the_default_is_tokyo_and_served() -> None:
    assert DEFAULT_REGION == "nrt"
    assert check_region(DEFAULT_REGION).describe() == "nrt (Tokyo, JP)"
    assert DEFAULT_REGION in served_regions()


@pytest.mark.parametrize("code", ["iad", "ord", "sjc", "ewr", "yyz", "yul"])
def test_us_and_canadian_regions_are_refused_saying_why_and_where_instead(code: str) -> None:
    with pytest.raises(RegionRefused) as info:
        check_region(code)
    message = str(info.value)
    assert "Binance refuses" in message
    assert "(HTTP 451)" in message
    assert "use nrt (Tokyo, nearest to Binance)" in message
    assert code not in message.split(": ")[-1].split(", ")  # not offered as an alternative


def test_served_regions_are_exactly_those_outside_restricted_countries() -> None:
    served = served_regions()
    assert served == sorted(served)
    for code, (_, country) in FLY_REGIONS.items():
        assert (code in served) == (country not in RESTRICTED_COUNTRIES)
    assert {"fra", "sin", "ams", "lhr", "nrt"} <= set(served)


def test_codes_are_case_insensitive_and_unknown_ones_refused() -> None:
    found = region_of(" NRT ")
    assert found is not None
    assert found.code == "nrt"
    assert region_of(None) is None
    assert region_of("xyz") is None
    with pytest.raises(RegionRefused, match="'xyz' is not a Fly region"):
        check_region("xyz")
    long = "x" * 5000
    with pytest.raises(RegionRefused) as info:
        check_region(long)
    assert len(str(info.value)) < 400  # a hostile argument is not echoed in full
