"""A browser's trader edits under ``vyx run --traders FILE`` are written back to the file (the
user's text kept), refused with the reason when the write fails, and kept in memory with the
page told why when the file cannot be written at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vyx.control_harness import control_over
from tests.vyx.screener.rings import ScreenerRun, filled_rings
from vyx.daemon.file_edits import TradersFileEdits, file_edits_for, unwritable
from vyx.server.interface import CommandRejected
from vyx.server.protocol import TraderRemove, TraderUpsert
from vyx.traders_file import load_traders

USER = "local"

FILE = """# the desk's traders
[[traders]]
id = "dip"
name = "Dip"
filter = "rsi(14) < 30"   # oversold

[[traders]]
id = "up"
name = "Up bar"
filter = "close > open"
"""


async def test_browser_edits_are_written_back_to_the_traders_file(tmp_path: Path) -> None:
    path = tmp_path / "traders.toml"
    path.write_text(FILE)
    run = ScreenerRun(filled_rings())
    async with control_over(run, tmp_path, user_id=USER, persist=False) as (control, _):
        control.file_edits = TradersFileEdits(path)
        await control.apply(load_traders(path))
        assert control.snapshot().status["editsKept"] is True
        edit = {
            "id": "dip",
            "name": "Deep dip",
            "filter": {"code": "rsi(14) < 25", "language": "vyx"},
            "cooldownBars": 12,
            "notify": {"onAnalysis": False},
        }
        await control.handle(TraderUpsert(edit))
        new = {"id": "b-1", "name": "Breakout", "filter": {"code": "close > high[1]"}}
        await control.handle(TraderUpsert(new))
        await control.handle(TraderRemove("up"))
        # what a restart reads
        kept = {e.id: e for e in load_traders(path)}
        assert set(kept) == {"dip", "b-1"}
        dip = kept["dip"]
        assert (dip.definition.name, dip.definition.filter.strip()) == ("Deep dip", "rsi(14) < 25")
        assert (dip.definition.cooldown, dip.alerts.on_analysis) == (12, False)
        assert path.read_text().startswith('# the desk\'s traders\n[[traders]]\nid = "dip"\n')
        # the file broken by hand meanwhile: the edit is refused, saying why; nothing changed
        path.write_text(path.read_text() + "\n[[traders]]\nname = 'x'\ncolour = 'red'\n")
        broken = path.read_text()
        with pytest.raises(CommandRejected, match=r"not saved to the traders file .*unknown key"):
            await control.handle(TraderUpsert({**edit, "name": "Dip again"}))
        assert control.traders["dip"].definition.name == "Deep dip"
        assert path.read_text() == broken
        with pytest.raises(CommandRejected, match="not saved to the traders file"):
            await control.handle(TraderRemove("b-1"))
        assert "b-1" in control.traders


async def test_a_symlinked_traders_file_is_edited_where_it_is(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "traders.toml"
    real.parent.mkdir()
    real.write_text(FILE)
    link = tmp_path / "traders.toml"
    link.symlink_to(real)
    (dip, _) = load_traders(link)
    await file_edits_for(link)["file_edits"].remove("up")
    assert link.is_symlink()  # the link stays; the file it points at changed
    assert [e.id for e in load_traders(real)] == [dip.id]


async def test_a_file_that_cannot_be_written_keeps_edits_in_memory_and_says_why(
    tmp_path: Path,
) -> None:
    assert file_edits_for(None) == {}
    path = tmp_path / "traders.toml"
    path.write_text(FILE)
    assert unwritable(path) is None
    assert isinstance(file_edits_for(path)["file_edits"], TradersFileEdits)
    gone = tmp_path / "gone" / "traders.toml"  # as the machine sees a file it may not write
    assert unwritable(gone) == f"the file {gone} is not writable"
    options = file_edits_for(gone)
    assert "file_edits" not in options
    run = ScreenerRun(filled_rings())
    async with control_over(run, tmp_path, user_id=USER, persist=False) as (control, _):
        control.edits_note = options["edits_note"]
        status = control.snapshot().status
        assert status["editsKept"] is False
        assert status["editsNote"].startswith(f"the file {gone} is not writable: a change")
