"""Fly regions and whether Binance serves them: where a user's machine may run.

Binance answers requests from the places its Terms ("b. Eligibility") restrict with HTTP 451, on
REST and the stream handshake alike (:mod:`vyx.market.restriction`): a machine there never sees a
candle. :data:`FLY_REGIONS` names each Fly region's city and country; :data:`RESTRICTED_COUNTRIES`
the countries Binance refuses among them: the United States (Binance answers 451 there) and
Canada (Binance left it in 2023). This is a table kept by hand, as of 2026: Binance alone decides,
so ``vyx doctor`` run on the machine checks it for real.

:data:`DEFAULT_REGION` is ``nrt`` (Tokyo): served, and next to Binance's own servers (AWS
ap-northeast-1), so a closed candle reaches the machine soonest.
"""

from __future__ import annotations

import attrs

#: A new machine's region when none is asked for.
DEFAULT_REGION = "nrt"

#: Fly region code -> (city, ISO country code).
FLY_REGIONS: dict[str, tuple[str, str]] = {
    "ams": ("Amsterdam", "NL"),
    "arn": ("Stockholm", "SE"),
    "atl": ("Atlanta", "US"),
    "bog": ("Bogotá", "CO"),
    "bom": ("Mumbai", "IN"),
    "bos": ("Boston", "US"),
    "cdg": ("Paris", "FR"),
    "den": ("Denver", "US"),
    "dfw": ("Dallas", "US"),
    "ewr": ("Secaucus", "US"),
    "eze": ("Ezeiza", "AR"),
    "fra": ("Frankfurt", "DE"),
    "gdl": ("Guadalajara", "MX"),
    "gig": ("Rio de Janeiro", "BR"),
    "gru": ("São Paulo", "BR"),
    "hkg": ("Hong Kong", "HK"),
    "iad": ("Ashburn", "US"),
    "jnb": ("Johannesburg", "ZA"),
    "lax": ("Los Angeles", "US"),
    "lhr": ("London", "GB"),
    "mad": ("Madrid", "ES"),
    "mia": ("Miami", "US"),
    "nrt": ("Tokyo", "JP"),
    "ord": ("Chicago", "US"),
    "otp": ("Bucharest", "RO"),
    "phx": ("Phoenix", "US"),
    "qro": ("Querétaro", "MX"),
    "scl": ("Santiago", "CL"),
    "sea": ("Seattle", "US"),
    "sin": ("Singapore", "SG"),
    "sjc": ("San Jose", "US"),
    "syd": ("Sydney", "AU"),
    "waw": ("Warsaw", "PL"),
    "yul": ("Montreal", "CA"),
    "yyz": ("Toronto", "CA"),
}

#: Countries (of Fly regions) whose addresses Binance answers with HTTP 451.
RESTRICTED_COUNTRIES: dict[str, str] = {
    "US": "the United States",
    "CA": "Canada",
}


class RegionRefused(ValueError):
    """A region a machine must not run in (unknown to Fly, or refused by Binance)."""


@attrs.frozen
class Region:
    """A Fly region and Binance's verdict on it."""

    code: str
    city: str
    country: str

    @property
    def restricted(self) -> bool:
        """Binance refuses addresses of this region's country."""
        return self.country in RESTRICTED_COUNTRIES

    def describe(self) -> str:
        """``nrt (Tokyo, JP)``."""
        return f"{self.code} ({self.city}, {self.country})"


def region_of(code: str | None) -> Region | None:
    """The Fly region ``code`` (case-insensitive), None when Fly has no such region (or None)."""
    if code is None:
        return None
    known = FLY_REGIONS.get(code.strip().lower())
    return None if known is None else Region(code.strip().lower(), *known)


def served_regions() -> list[str]:
    """The Fly regions Binance serves, sorted."""
    return sorted(code for code in FLY_REGIONS if not _restricted(code))


def _restricted(code: str) -> bool:
    return FLY_REGIONS[code][1] in RESTRICTED_COUNTRIES


def check_region(code: str) -> Region:
    """The region a machine may be created in.

    Raises:
        RegionRefused: Fly has no such region, or Binance refuses its country (the message says
            which and names the default and the served regions).
    """
    found = region_of(code)
    if found is None:
        raise RegionRefused(
            f"{code[:20]!r} is not a Fly region; use one Binance serves, e.g. {DEFAULT_REGION} "
            f"(Tokyo, nearest to Binance): {', '.join(served_regions())}"
        )
    if found.restricted:
        raise RegionRefused(
            f"Binance refuses {RESTRICTED_COUNTRIES[found.country]} (HTTP 451), so a machine in "
            f"{found.describe()} would never see a candle; use {DEFAULT_REGION} (Tokyo, nearest "
            f"to Binance) or another region it serves: {', '.join(served_regions())}"
        )
    return found
