"""Editing the traders file: comments kept, ids unique, a refused edit changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from vyx.authoring.traders_toml import NewTrader, add_traders, remove_trader, update_trader
from vyx.traders_file import TradersFileError, load_traders

ORIGINAL = """# my traders
[[traders]]
name = "Dip"   # the first one
filter = "rsi(14) < 30"
"""


def test_added_traders_read_back_and_the_users_text_stays(tmp_path: Path) -> None:
    path = tmp_path / "traders.toml"
    path.write_text(ORIGINAL)
    new = [
        NewTrader("Dip", "rsi(14) < 25\nand close > ema(200)", "15m", note="from: words"),
        NewTrader('Quote "and" \\ slash', "close > 1", enabled=False, instructions="a\nb"),
    ]
    ids = add_traders(path, new)
    assert ids == ["dip-2", "quote-and-slash"]
    text = path.read_text()
    assert text.startswith(ORIGINAL)
    entries = load_traders(path)
    assert [(e.definition.id, e.definition.timeframe, e.enabled) for e in entries] == [
        ("dip", "5m", True),
        ("dip-2", "15m", True),
        ("quote-and-slash", "5m", False),
    ]
    assert entries[1].definition.filter == "rsi(14) < 25\nand close > ema(200)"
    assert entries[2].definition.name == 'Quote "and" \\ slash'
    assert entries[2].instructions == "a\nb"
    assert 'filter = """\nrsi(14) < 25\nand close > ema(200)\n"""' in text


def test_a_refused_edit_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "traders.toml"
    path.write_text(ORIGINAL)
    with pytest.raises(TradersFileError, match="'7m' is not one of"):
        update_trader(path, "dip", {"timeframe": "7m"})
    with pytest.raises(TradersFileError, match="no trader 'nope'"):
        remove_trader(path, "nope")
    assert path.read_text() == ORIGINAL
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    broken = tmp_path / "broken.toml"
    broken.write_text("[[traders]]\nname = 'x'\nfilter = 'close > 1'\ncolour = 'red'\n")
    with pytest.raises(TradersFileError, match="unknown key"):
        add_traders(broken, [NewTrader("y", "close > 2")])


def test_a_rename_keeps_the_id(tmp_path: Path) -> None:
    path = tmp_path / "traders.toml"
    path.write_text(ORIGINAL)
    entry = update_trader(path, "dip", {"name": "Deep dip"})
    assert (entry.definition.id, entry.definition.name) == ("dip", "Deep dip")
    assert "# the first one" in path.read_text()
