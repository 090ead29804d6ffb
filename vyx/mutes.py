"""The user's mutes: symbols and traders whose signals raise no alert, kept on the machine.

A mute is a setting of the user, not of a browser: the alert path
(:meth:`vyx.notify.service.Notifier.route`) sends nothing for a signal of a muted symbol or of a
muted trader, nor for its analysis; the signal is still screened, stored, analysed and shown
(the dashboard marks it muted). Mutes are set and unset from the dashboard (``mute {symbol? |
traderId?, muted}``), kept in the store (the ``alert_mutes`` table of SQLite or Supabase; a
copy in the data directory for a start while the database is down) and announced to every
browser (``mutes_updated``). A trader's own ``mute`` setting (traders file, ``cloud_config.
notifyMuted``) is separate: it travels with the trader.

At most :data:`MAX_MUTES` together; a symbol is 2–20 capital letters or digits, a trader one of
the machine's (checked by :class:`~vyx.daemon.control.Control`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import attrs

#: Most mutes of a user (symbols and traders together).
MAX_MUTES = 200
#: Longest trader id a stored mute may name (a browser's ids are bounded alike).
MAX_TRADER_CHARS = 128
#: What a mute names.
Kind = Literal["symbol", "trader"]
KINDS: tuple[Kind, ...] = ("symbol", "trader")
_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")


class MuteError(ValueError):
    """A mute that cannot be set (the message says why, for the user)."""


def check_symbol(symbol: str) -> str:
    """``symbol`` as a mute names it (upper case); raises :class:`MuteError` unless it is 2–20
    letters or digits."""
    upper = symbol.upper()
    # ASCII only: "\ufb00" (a ligature) is "FF" upper-cased.
    if not symbol.isascii() or not _SYMBOL.fullmatch(upper):
        raise MuteError("a symbol to mute is 2 to 20 letters or digits, e.g. BTCUSDT")
    return upper


@attrs.frozen
class Mute:
    """One mute: a symbol (every trader's signals on it) or a trader (all its signals)."""

    kind: Kind
    target: str


@attrs.frozen
class Mutes:
    """The user's mutes (at most :data:`MAX_MUTES`)."""

    symbols: frozenset[str] = frozenset()
    traders: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.symbols) + len(self.traders)

    @classmethod
    def of(cls, mutes: Iterable[Mute]) -> Mutes:
        """The mutes listed (the first :data:`MAX_MUTES`; unknown kinds are left out)."""
        symbols: set[str] = set()
        traders: set[str] = set()
        for mute in mutes:
            if len(symbols) + len(traders) >= MAX_MUTES:
                break
            (symbols if mute.kind == "symbol" else traders).add(mute.target)
        return cls(frozenset(symbols), frozenset(traders))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> Mutes:
        """The mutes of stored ``(kind, target)`` rows; a row of another kind, a symbol that is
        not 2–20 letters or digits or a trader id that is empty or over
        :data:`MAX_TRADER_CHARS` is left out (rows written elsewhere than by this machine)."""
        return cls.of(mute for kind, target in rows if (mute := _stored(kind, target)))

    def covers(self, trader_id: str, symbol: str | None = None) -> bool:
        """Is an alert of ``trader_id`` on ``symbol`` muted?"""
        return trader_id in self.traders or (symbol is not None and symbol in self.symbols)

    def has(self, mute: Mute) -> bool:
        """Is ``mute`` one of these?"""
        return mute.target in (self.symbols if mute.kind == "symbol" else self.traders)

    def changed(self, mute: Mute, muted: bool) -> Mutes:
        """These mutes with ``mute`` set (``muted``) or unset; raises :class:`MuteError` when
        setting one more would pass :data:`MAX_MUTES`."""
        if self.has(mute) == muted:
            return self
        if muted and len(self) >= MAX_MUTES:
            raise MuteError(f"at most {MAX_MUTES} mutes: unmute one first")
        field = "symbols" if mute.kind == "symbol" else "traders"
        current: frozenset[str] = getattr(self, field)
        new = current | {mute.target} if muted else current - {mute.target}
        return attrs.evolve(self, **{field: new})

    def items(self) -> list[Mute]:
        """Every mute, symbols first, each kind sorted."""
        return [Mute("symbol", s) for s in sorted(self.symbols)] + [
            Mute("trader", t) for t in sorted(self.traders)
        ]

    def to_message(self) -> dict[str, Any]:
        """As browsers see them (``snapshot.status.mutes``, ``mutes_updated``)."""
        return {"symbols": sorted(self.symbols), "traders": sorted(self.traders)}


def _stored(kind: str, target: str) -> Mute | None:
    """A stored row's mute (None when it is not one: :meth:`Mutes.from_rows`)."""
    if kind == "symbol":
        try:
            return Mute("symbol", check_symbol(target))
        except MuteError:
            return None
    if kind == "trader" and 0 < len(target) <= MAX_TRADER_CHARS:
        return Mute("trader", target)
    return None


def read_copy(path: Path, user_id: str) -> Mutes | None:
    """The copy :func:`write_copy` kept of ``user_id``'s mutes (None when there is none, it is
    unreadable, or it is another user's: a data directory reused under another USER_ID)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["user"] != user_id:
            return None
        return Mutes.from_rows((str(row["kind"]), str(row["target"])) for row in data["mutes"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def write_copy(path: Path, mutes: Mutes, user_id: str) -> None:
    """Keep ``user_id``'s ``mutes`` in ``path`` (written whole, then renamed: never half a file;
    private, 0600, like every file of the data directory). Blocking."""
    body = json.dumps({"user": user_id, "mutes": [attrs.asdict(m) for m in mutes.items()]})
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
