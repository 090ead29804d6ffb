"""Editing the traders file: comments kept, ids unique, a refused edit changes nothing."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from vyx.authoring.traders_toml import (
    NewTrader,
    add_traders,
    remove_trader,
    save_trader,
    update_trader,
)
from vyx.traders_file import TradersFileError, load_traders, parse_traders

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


FILE_WITH_COMMENTS = """# my traders: the desk's morning list
[[traders]]
name = "Dip"   # the first one
filter = "rsi(14) < 30"
cooldown_bars = 6   # an hour on 5m

# kept for later
[[traders]]
id = "trend"
name = "Trend"
timeframe = "15m"
filter = '''
close > ema(close, 50)
'''
notify = ["json://127.0.0.1:9/hook"]
"""


def test_a_browsers_edit_changes_only_its_keys_and_keeps_the_users_text(tmp_path: Path) -> None:
    path = tmp_path / "traders.toml"
    path.write_text(FILE_WITH_COMMENTS)
    path.chmod(0o644)
    dip, trend = load_traders(path)
    # the browser: a new filter and no own cooldown for "dip", "trend" disabled and muted
    save_trader(
        path,
        attrs.evolve(
            dip,
            definition=attrs.evolve(dip.definition, filter="rsi(14) < 25", cooldown=None),
        ),
    )
    save_trader(
        path,
        attrs.evolve(trend, enabled=False, alerts=attrs.evolve(trend.alerts, muted=True)),
    )
    text = path.read_text()
    assert text.startswith(
        '# my traders: the desk\'s morning list\n[[traders]]\nname = "Dip"   # the first one\n'
    )
    assert "# kept for later" in text
    assert "cooldown_bars" not in text
    assert 'notify = ["json://127.0.0.1:9/hook"]' in text  # its own channel: untouched
    again = {e.id: e for e in load_traders(path)}
    assert again["dip"].definition.filter.strip() == "rsi(14) < 25"
    assert again["dip"].definition.cooldown is None
    assert (again["trend"].enabled, again["trend"].alerts.muted) == (False, True)
    assert len(again["trend"].alerts.channels) == 1
    # unchanged: the file is not rewritten differently
    save_trader(path, again["trend"])
    assert path.read_text() == text
    # a new trader is appended with its id; deleting it leaves the file as it was
    (new,) = parse_traders(
        '[[traders]]\nid = "b-1"\nname = "Breakout"\nfilter = "close > open"\ncooldown_bars = 3\n',
        "browser",
    )
    save_trader(path, new)
    assert path.read_text().startswith(text)
    assert [(e.id, e.definition.cooldown) for e in load_traders(path)][-1] == ("b-1", 3)
    remove_trader(path, "b-1")
    assert [e.id for e in load_traders(path)] == ["dip", "trend"]
    assert path.stat().st_mode & 0o777 == 0o644  # the replace kept the file's mode
    assert list(tmp_path.iterdir()) == [path]
