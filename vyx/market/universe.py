"""Which symbols to screen: top-N USDT pairs by 24 h quote volume, or an explicit list.

Pure functions over the decoded bodies of ``/api/v3/exchangeInfo`` and ``/api/v3/ticker/24hr``.
Exclusions are by *exact base asset*: a stablecoin base (USDC, FDUSD, ...) or a leveraged token
(``BTCUP``, ``ETHDOWN``, ``BNBBULL``, ``EOSBEAR``: a tradable base followed by UP/DOWN/BULL/BEAR).
``JUPUSDT`` stays because JUP is not ``<base>UP`` for a base that is listed; ``BTCUPUSDT`` goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

#: Bases that are fiat-pegged stablecoins or fiat itself: a USDT pair of these does not move.
STABLECOIN_BASES: frozenset[str] = frozenset(
    {
        "USDT",
        "USDC",
        "BUSD",
        "TUSD",
        "USDP",
        "PAX",
        "DAI",
        "FDUSD",
        "USDD",
        "SUSD",
        "UST",
        "USTC",
        "GUSD",
        "PYUSD",
        "USDS",
        "USDSB",
        "USD1",
        "EURI",
        "AEUR",
        "EUR",
        "GBP",
        "AUD",
        "BIDR",
        "IDRT",
        "TRY",
        "BRL",
        "RUB",
        "UAH",
        "NGN",
        "ZAR",
        "BVND",
        "XUSD",
        "USDE",
        "RLUSD",
    }
)

#: Suffixes of Binance leveraged tokens (BTCUP, BTCDOWN, BNBBULL, BNBBEAR, and BULL/BEAR alone).
LEVERAGED_SUFFIXES: tuple[str, ...] = ("UP", "DOWN", "BULL", "BEAR")

#: Leveraged tokens whose underlying is not itself listed against USDT.
_BARE_LEVERAGED = frozenset({"BULL", "BEAR"})


class UniverseError(ValueError):
    """The exchange bodies do not have the expected shape."""


def _symbols(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


@attrs.frozen
class UniverseConfig:
    """How to choose the symbols.

    Args:
        count: how many symbols to keep (``SYMBOL_COUNT``).
        quote: quote asset of the pairs.
        symbols: an explicit list; when set, ``count`` and volume ranking are ignored, but a
            symbol that is not TRADING is still dropped.
    """

    count: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    quote: str = "USDT"
    symbols: tuple[str, ...] = attrs.field(default=(), converter=_symbols)


@attrs.frozen
class Listing:
    """One spot symbol of ``exchangeInfo``."""

    symbol: str
    base: str
    quote: str
    trading: bool
    #: Marked LEVERAGED in ``permissions``/``permissionSets`` (older bodies have it).
    leveraged_permission: bool = False

    @classmethod
    def from_binance(cls, obj: Mapping[str, Any]) -> Listing:
        """One element of ``exchangeInfo.symbols``; raises :class:`UniverseError`."""
        try:
            symbol, base, quote = obj["symbol"], obj["baseAsset"], obj["quoteAsset"]
            status = obj["status"]
        except (KeyError, TypeError):
            raise UniverseError(
                f"exchangeInfo symbol without symbol/assets/status: {obj!r}"
            ) from None
        if not all(isinstance(x, str) for x in (symbol, base, quote, status)):
            raise UniverseError(f"exchangeInfo symbol with non-string fields: {obj!r}")
        permissions = set(obj.get("permissions") or ())
        for group in obj.get("permissionSets") or ():
            permissions.update(group)
        return cls(symbol, base, quote, status == "TRADING", "LEVERAGED" in permissions)


def listings(exchange_info: Mapping[str, Any]) -> list[Listing]:
    """Every symbol of an ``exchangeInfo`` body."""
    symbols = exchange_info.get("symbols")
    if not isinstance(symbols, list):
        raise UniverseError("exchangeInfo has no 'symbols' list")
    return [Listing.from_binance(obj) for obj in symbols]


def request_weight_limit(exchange_info: Mapping[str, Any]) -> int | None:
    """The REQUEST_WEIGHT per minute limit announced in ``rateLimits``, if any."""
    for limit in exchange_info.get("rateLimits", ()):
        if (
            isinstance(limit, dict)
            and limit.get("rateLimitType") == "REQUEST_WEIGHT"
            and limit.get("interval") == "MINUTE"
            and limit.get("intervalNum") == 1
            and isinstance(limit.get("limit"), int)
        ):
            return int(limit["limit"])
    return None


def is_leveraged(base: str, bases: Iterable[str]) -> bool:
    """True if ``base`` is a leveraged token: a listed base (or nothing) plus UP/DOWN/BULL/BEAR."""
    if base in _BARE_LEVERAGED:
        return True
    known = set(bases)
    for suffix in LEVERAGED_SUFFIXES:
        if base.endswith(suffix) and base[: -len(suffix)] in known:
            return True
    return False


def eligible(all_listings: Sequence[Listing], quote: str = "USDT") -> dict[str, Listing]:
    """TRADING pairs of ``quote`` that are neither stablecoin bases nor leveraged tokens."""
    # Underlyings are looked up across every quote: BTCUP must go even if only BTCUSDT exists.
    bases = {item.base for item in all_listings}
    out: dict[str, Listing] = {}
    for item in all_listings:
        if not item.trading or item.quote != quote:
            continue
        if item.base in STABLECOIN_BASES or item.leveraged_permission:
            continue
        if is_leveraged(item.base, bases - {item.base}):
            continue
        out[item.symbol] = item
    return out


def quote_volumes(tickers: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Symbol -> 24 h quote volume from a ``/ticker/24hr`` body (bad rows are skipped)."""
    out: dict[str, float] = {}
    for row in tickers:
        try:
            out[str(row["symbol"])] = float(row["quoteVolume"])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def select_universe(
    cfg: UniverseConfig,
    exchange_info: Mapping[str, Any],
    tickers: Iterable[Mapping[str, Any]],
) -> tuple[str, ...]:
    """The symbols to screen, highest quote volume first (or in the explicit list's order)."""
    pool = eligible(listings(exchange_info), cfg.quote)
    if cfg.symbols:
        trading = {item.symbol for item in listings(exchange_info) if item.trading}
        return tuple(dict.fromkeys(s for s in cfg.symbols if s in trading))
    volume = quote_volumes(tickers)
    ranked = sorted(pool, key=lambda s: (-volume.get(s, 0.0), s))
    return tuple(s for s in ranked if s in volume)[: cfg.count]


@attrs.frozen
class UniverseChange:
    """Difference between two universes, in a stable order."""

    joined: tuple[str, ...]
    left: tuple[str, ...]

    @classmethod
    def between(cls, old: Iterable[str], new: Iterable[str]) -> UniverseChange:
        """What changed going from ``old`` to ``new``."""
        old_t, new_t = tuple(old), tuple(new)
        old_s, new_s = set(old_t), set(new_t)
        return cls(
            tuple(s for s in new_t if s not in old_s), tuple(s for s in old_t if s not in new_s)
        )

    def __bool__(self) -> bool:
        return bool(self.joined or self.left)
