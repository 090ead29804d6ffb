"""The local traders file (``--traders traders.toml``).

Format — one ``[[traders]]`` table per trader::

    [[traders]]
    id = "rsi-dip"                 # optional: defaults to a slug of the name
    name = "RSI dip in an uptrend"
    timeframe = "5m"               # optional, default 5m
    filter = '''
    rsi(14) < 30
    and close > ema(close, 200)
    '''
    enabled = true                 # optional, default true
    auto_analyze = true            # optional: ask the analyst about each signal
    instructions = "Prefer entries near support."   # optional strategy text
    direction = "long"             # optional: "long" (default) or "short", scores outcomes
    cooldown_bars = 12             # optional: bars between two of its signals on a symbol
                                   #   (0..10000; default: the machine's SIGNAL_COOLDOWN_BARS)
    notify = ["tgram://BOT_TOKEN/CHAT_ID"]           # optional: this trader's own channels
    notify_on_signal = true        # optional, default true
    notify_on_analysis = true      # optional, default true (the verdict as a follow-up)
    mute = false                   # optional: no alerts at all for this trader

Unknown keys are errors (a typo must not silently change a trader). Notification URLs are
secrets: errors name the trader, the service and the URL's position, never the URL.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from kernels.timeframes import TIMEFRAME_MS
from vyx.notify.notices import AlertsError, TraderAlerts
from vyx.traders import TraderInfo, TraderRejected, admit, parse_cooldown

_KEYS = {
    "id",
    "name",
    "timeframe",
    "filter",
    "enabled",
    "auto_analyze",
    "instructions",
    "direction",
    "cooldown_bars",
    "notify",
    "notify_on_signal",
    "notify_on_analysis",
    "mute",
}


class TradersFileError(ValueError):
    """A traders file that cannot be used; the message names the file and the trader."""


def slug(name: str) -> str:
    """The id a trader named ``name`` gets when it has none."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "trader"


def parse_traders(text: str, origin: str = "<traders>") -> list[TraderInfo]:
    """Parse the TOML text of a traders file into the daemon's traders, each admitted (and its
    filter compiled) by :func:`vyx.traders.admit` (``instructions`` go into the strategy);
    raises :class:`TradersFileError`. Blocking."""
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TradersFileError(f"{origin}: {exc}") from None
    except ValueError:  # an integer of thousands of digits (Python's int-from-text limit)
        raise TradersFileError(f"{origin}: a number in it is too long to read") from None
    unknown_top = set(doc) - {"traders"}
    if unknown_top:
        raise TradersFileError(f"{origin}: unknown top-level key(s) {sorted(unknown_top)}")
    tables = doc.get("traders", [])
    if not isinstance(tables, list):
        raise TradersFileError(f"{origin}: 'traders' must be an array of tables ([[traders]])")
    entries: list[TraderInfo] = []
    seen: set[str] = set()
    for i, table in enumerate(tables, 1):
        where = f"{origin}: trader #{i}"
        if not isinstance(table, dict):
            raise TradersFileError(f"{where}: must be a table")
        unknown = set(table) - _KEYS
        if unknown:
            raise TradersFileError(f"{where}: unknown key(s) {sorted(unknown)}")
        name = table.get("name")
        source = table.get("filter")
        if not isinstance(name, str) or not name.strip():
            raise TradersFileError(f"{where}: 'name' (a non-empty string) is required")
        where = f"{origin}: trader {name!r}"
        if not isinstance(source, str) or not source.strip():
            raise TradersFileError(f"{where}: 'filter' (a non-empty string) is required")
        trader_id = table.get("id", slug(name))
        timeframe = table.get("timeframe", "5m")
        if not isinstance(trader_id, str) or not trader_id:
            raise TradersFileError(f"{where}: 'id' must be a non-empty string")
        if trader_id in seen:
            raise TradersFileError(f"{where}: duplicate id {trader_id!r}")
        seen.add(trader_id)
        if timeframe not in TIMEFRAME_MS:
            raise TradersFileError(
                f"{where}: timeframe {timeframe!r} is not one of {', '.join(TIMEFRAME_MS)}"
            )
        flags = {k: table.get(k, d) for k, d in (("enabled", True), ("auto_analyze", False))}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise TradersFileError(f"{where}: {key!r} must be true or false")
        instructions = table.get("instructions", "")
        if not isinstance(instructions, str):
            raise TradersFileError(f"{where}: 'instructions' must be a string")
        direction = table.get("direction", "long")
        if direction not in ("long", "short"):
            raise TradersFileError(f'{where}: \'direction\' must be "long" or "short"')
        try:
            alerts = TraderAlerts.from_table(table)
            cooldown = parse_cooldown(table.get("cooldown_bars"), "'cooldown_bars'")
        except (AlertsError, ValueError) as exc:
            raise TradersFileError(f"{where}: {exc}") from None
        try:
            entries.append(
                admit(
                    trader_id,
                    source.strip(),
                    language=None,
                    timeframe=timeframe,
                    name=name,
                    enabled=flags["enabled"],
                    auto_analyze=flags["auto_analyze"],
                    strategy={"instructions": instructions} if instructions else {},
                    direction=direction,
                    alerts=alerts,
                    cooldown=cooldown,
                )
            )
        except TraderRejected as exc:  # what is checked above, said as the file says it
            raise TradersFileError(f"{where}: {exc.reason}") from None
    return entries


def load_traders(path: str | Path) -> list[TraderInfo]:
    """Read a traders file; raises :class:`TradersFileError`. Blocking."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TradersFileError(f"{path}: {exc.strerror}") from None
    return parse_traders(text, str(path))
