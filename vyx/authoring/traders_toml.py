"""Writing the local traders file (``vyx trader new --save``, ``edit``, ``remove``, ``import``;
a browser's edits under ``vyx run --traders FILE``: :func:`save_trader`).

Edits go through tomlkit, so the user's comments and layout survive. Every edit is checked
before it lands: the whole new text must read back with :func:`vyx.traders_file.parse_traders`
(the daemon's own reader), and it replaces the file atomically (a temporary file renamed over
it), so a failed edit leaves the file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import tomlkit
from tomlkit.items import AoT, String, StringType, Table, Trivia

from vyx.traders import TraderInfo
from vyx.traders_file import TradersFileError, parse_traders, slug

#: Traders file the CLI uses when none is named.
DEFAULT_TRADERS_FILE = Path("traders.toml")


@attrs.frozen
class NewTrader:
    """A trader to write: what the file's ``[[traders]]`` table holds."""

    name: str
    filter: str
    timeframe: str = "5m"
    enabled: bool = True
    auto_analyze: bool = False
    instructions: str = ""
    #: A comment written above the table (where it came from).
    note: str = ""


def _document(path: Path) -> tomlkit.TOMLDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tomlkit.document()
    except OSError as exc:
        raise TradersFileError(f"{path}: {exc.strerror}") from None
    parse_traders(text, str(path))  # a file the daemon cannot read is not edited
    return tomlkit.parse(text)


def _tables(doc: tomlkit.TOMLDocument) -> AoT:
    tables = doc.get("traders")
    if tables is None:
        tables = tomlkit.aot()
        doc.append("traders", tables)
    assert isinstance(tables, AoT)
    return tables


def _write(path: Path, doc: tomlkit.TOMLDocument) -> list[TraderInfo]:
    text = tomlkit.dumps(doc)
    entries = parse_traders(text, str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileNotFoundError):  # keeps its mode (mkstemp makes 0600)
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return entries


def _table(trader: NewTrader, trader_id: str) -> Table:
    table = tomlkit.table()
    if trader.note:
        for line in trader.note.splitlines():
            table.add(tomlkit.comment(line))
    table.add("id", trader_id)
    table.add("name", trader.name)
    table.add("timeframe", trader.timeframe)
    table.add("filter", _multiline(trader.filter))
    table.add("enabled", trader.enabled)
    if trader.auto_analyze:
        table.add("auto_analyze", True)
    if trader.instructions:
        table.add("instructions", trader.instructions)
    table.add(tomlkit.nl())
    return table


def _multiline(text: str) -> String:
    """A multi-line string written as three quotes, a newline, the text: TOML drops that first
    newline on reading, and the filter reads well in the file."""
    value = f"{text.strip()}\n"
    escaped = tomlkit.string(value, multiline=True).as_string()[3:-3]
    return String(StringType.MLB, value, f"\n{escaped}", Trivia())


def add_traders(path: Path, traders: list[NewTrader]) -> list[str]:
    """Append ``traders`` to the file (created if missing); their ids (slugs of their names,
    made unique with ``-2``, ``-3``...). Raises :class:`TradersFileError`."""
    doc = _document(path)
    tables = _tables(doc)
    taken = {str(t.get("id") or slug(str(t.get("name", "")))) for t in tables}
    ids = []
    for trader in traders:
        base = slug(trader.name)
        trader_id, n = base, 1
        while trader_id in taken:
            n += 1
            trader_id = f"{base}-{n}"
        taken.add(trader_id)
        tables.append(_table(trader, trader_id))
        ids.append(trader_id)
    _write(path, doc)
    return ids


def _find(tables: AoT, trader_id: str) -> int:
    for i, table in enumerate(tables):
        if str(table.get("id") or slug(str(table.get("name", "")))) == trader_id:
            return i
    known = ", ".join(str(t.get("id") or slug(str(t.get("name", "")))) for t in tables)
    raise TradersFileError(f"no trader {trader_id!r} (the file has: {known or 'none'})")


def update_trader(path: Path, trader_id: str, changes: Mapping[str, Any]) -> TraderInfo:
    """Set ``changes`` (keys of the file's format; None removes the key) on one trader; the
    trader after the edit. Raises :class:`TradersFileError` (unknown trader, or an edit the
    reader would refuse)."""
    if not path.exists():
        raise TradersFileError(f"{path}: no such file")
    doc = _document(path)
    tables = _tables(doc)
    table = tables[_find(tables, trader_id)]
    if "id" not in table:
        table["id"] = trader_id  # pin the id before a rename changes its slug
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
            continue
        if key == "filter":
            value = _multiline(str(value))
        table[key] = value
    entries = _write(path, doc)
    return next(e for e in entries if e.definition.id == trader_id)


def remove_trader(path: Path, trader_id: str) -> None:
    """Remove one trader. Raises :class:`TradersFileError`."""
    if not path.exists():
        raise TradersFileError(f"{path}: no such file")
    doc = _document(path)
    tables = _tables(doc)
    del tables[_find(tables, trader_id)]
    _write(path, doc)


#: A browser-editable setting's value when the file leaves its key out (written only if not).
_DEFAULTS: Mapping[str, Any] = {
    "timeframe": "5m",
    "enabled": True,
    "auto_analyze": False,
    "instructions": None,
    "direction": "long",
    "cooldown_bars": None,
    "notify_on_signal": True,
    "notify_on_analysis": True,
    "mute": False,
}


def file_fields(info: TraderInfo) -> dict[str, Any]:
    """The traders file's keys of what a trader runs with (None: the key left out), but its
    own channels (``notify``: URLs, never set from a browser)."""
    d = info.definition
    return {
        "name": d.name or d.id,
        "timeframe": d.timeframe,
        "filter": d.filter.strip(),
        "enabled": info.enabled,
        "auto_analyze": info.auto_analyze,
        "instructions": info.instructions or None,
        "direction": d.direction,
        "cooldown_bars": d.cooldown,
        "notify_on_signal": info.alerts.on_signal,
        "notify_on_analysis": info.alerts.on_analysis,
        "mute": info.alerts.muted,
    }


def save_trader(path: Path, info: TraderInfo) -> None:
    """Write ``info`` (a trader as it runs: a browser's edit) into the file: an edit of one of
    its traders changes only the keys whose values differ (the rest of the file, comments and
    layout included, stays as it is); a new one is appended as a ``[[traders]]`` table with its
    id. Atomic, checked by the daemon's reader first. Raises :class:`TradersFileError` (the
    file unreadable or broken by hand, or the result refused) or ``OSError`` (not writable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TradersFileError(f"{path}: {exc.strerror}") from None
    # A file the daemon cannot read is not edited (one read: the file's traders as they are).
    found = next((e for e in parse_traders(text, str(path)) if e.id == info.id), None)
    doc = tomlkit.parse(text)
    tables = _tables(doc)
    wanted = file_fields(info)
    if found is None:
        table = tomlkit.table()
        table.add("id", info.id)
        for key, value in wanted.items():
            if key in ("name", "filter") or value != _DEFAULTS[key]:
                table.add(key, _multiline(value) if key == "filter" else value)
        table.add(tomlkit.nl())
        tables.append(table)
    else:
        table = tables[_find(tables, info.id)]
        if "id" not in table:
            table["id"] = info.id  # pin the id before a rename changes its slug
        kept = file_fields(found)
        for key, value in wanted.items():
            if kept[key] == value:
                continue
            if value is None:
                table.pop(key, None)
            else:
                table[key] = _multiline(value) if key == "filter" else value
    _write(path, doc)
