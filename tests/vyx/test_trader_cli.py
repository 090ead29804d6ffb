"""``vyx trader`` and ``vyx traders import`` (offline: the phrasebook; the Gemini loop is tested
against the fake in tests/vyx/authoring)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kernels.backtest import run_backtest
from kernels.outcomes import HORIZON, Outcome
from kernels.program import Program, TraderDef
from tests.vyx.test_cli import _write_csv
from vyx.cli import cli
from vyx.cli.klines_args import load_klines_args
from vyx.outcomes.live import OutcomeUpdate
from vyx.store.sqlite import SqliteDatabase
from vyx.traders_file import load_traders

WORDS = "RSI below 40 and price below the 20 EMA"
FILTER = "rsi(14) < 40\nand close < ema(20)"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"GEMINI_API_KEY": "", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def klines(tmp_path: Path) -> list[str]:
    paths = []
    for i, symbol in enumerate(("AAAUSDT", "BBBUSDT", "CCCUSDT")):
        path = tmp_path / f"{symbol}-5m.csv"
        _write_csv(path, 10 + i, 600, "5m")
        paths.append(str(path))
    return paths


def test_new_prints_the_filter_clauses_and_a_preview_equal_to_the_backtest(
    klines: list[str], tmp_path: Path
) -> None:
    args = ["--klines", klines[0], "--klines", klines[1], "--klines", klines[2]]
    code, out, err = run("trader", "new", WORDS, *args, "--traders", str(tmp_path / "t.toml"))
    assert code == 0, err
    assert "  rsi(14) < 40\n  and close < ema(20)" in out
    assert "RSI(14) is below 40" in out
    assert "The close is below the 20-bar EMA" in out
    fires = run_backtest(Program([TraderDef("x", FILTER)]), load_klines_args(klines))
    assert len(fires) > 0
    assert f"would have fired {len(fires)} times" in out
    assert "not saved: add --save" in out
    assert not (tmp_path / "t.toml").exists()

    code, out, err = run("trader", "new", WORDS, *args, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["draft"]["filter"] == FILTER
    assert doc["preview"]["fires"] == len(fires)
    assert len(doc["preview"]["last"]) == min(5, len(fires))
    assert doc["preview"]["last"][-1]["openTime"] == fires[-1].open_time


def test_new_save_appends_to_the_traders_file(klines: list[str], tmp_path: Path) -> None:
    traders = tmp_path / "traders.toml"
    traders.write_text('# mine\n[[traders]]\nname = "keep"\nfilter = "close > 1"\n')
    for _ in range(2):
        code, _, err = run(
            "trader", "new", WORDS, "--klines", klines[0], "--save", "--traders", str(traders)
        )
        assert code == 0, err
    entries = load_traders(traders)
    assert [e.definition.id for e in entries] == [
        "keep",
        "rsi-below-40-and-price-below-the-20-ema",
        "rsi-below-40-and-price-below-the-20-ema-2",
    ]
    assert entries[1].definition.filter == FILTER
    assert traders.read_text().startswith("# mine\n")
    assert f"# from: {WORDS}" in traders.read_text()


def test_new_on_the_demo_market_when_no_klines_are_given() -> None:
    code, out, err = run("trader", "new", "RSI below 30 on the 15m", "--symbols", "3")
    assert code == 0, err
    assert "timeframe: 15m" in out
    assert "preview on the demo's synthetic market (3 symbols" in out


def test_new_drafts_on_the_shortest_klines_timeframe_unless_told(tmp_path: Path) -> None:
    hourly = tmp_path / "AAAUSDT-1h.csv"
    _write_csv(hourly, 3, 300, "1h")
    code, out, err = run("trader", "new", WORDS, "--klines", str(hourly), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["draft"]["timeframe"] == "1h"
    fires = run_backtest(Program([TraderDef("x", FILTER, "1h")]), load_klines_args([str(hourly)]))
    assert doc["preview"]["fires"] == len(fires) > 0
    code, out, err = run("trader", "new", WORDS, "--klines", str(hourly), "-t", "5m")
    assert code == 0, err
    assert "timeframe: 5m" in out
    assert "cannot preview: no bars of 5m" in out


def test_words_it_cannot_read_exit_2_with_the_part_named(klines: list[str]) -> None:
    code, out, err = run(
        "trader", "new", "RSI below 30 and the moon is full", "--klines", klines[0]
    )
    assert code == 2
    assert "1:18: could not understand 'the moon is full'" in err
    assert out == ""
    code, _, err = run("trader", "new", "RSI below 30", "-t", "7m")
    assert code == 2
    assert "'7m' is not one of" in err


def test_list_show_edit_remove(tmp_path: Path) -> None:
    traders = tmp_path / "traders.toml"
    traders.write_text(
        '[[traders]]\nname = "Dip"\nfilter = "rsi(14) < 30"\n\n'
        '[[traders]]\nid = "bad"\nname = "Broken"\nfilter = "foo(1) > 0"\n'
    )
    t = ["--traders", str(traders)]
    code, out, _ = run("trader", "list", *t)
    assert code == 0
    assert [line.split()[:4] for line in out.splitlines()] == [
        ["dip", "5m", "on", "ok"],
        ["bad", "5m", "on", "1"],
    ]
    code, out, _ = run("trader", "show", "dip", *t)
    assert (code, "1. rsi(14) < 30" in out) == (0, True)
    code, _, err = run("trader", "show", "bad", *t)
    assert code == 2
    assert "1:1: unknown function 'foo'" in err

    before = traders.read_text()
    code, _, err = run("trader", "edit", "dip", "--filter", "rsi(14) < clse", *t)
    assert code == 2
    assert "1:11: unknown name 'clse'" in err
    assert traders.read_text() == before  # nothing written
    edit = ["--filter", "rsi(close, 14) < 25", "--disable", "-t", "15m"]
    code, out, err = run("trader", "edit", "dip", *edit, *t)
    assert code == 0, err
    dip = load_traders(traders)[0]
    assert (dip.definition.filter, dip.definition.timeframe, dip.enabled) == (
        "rsi(14) < 25",
        "15m",
        False,
    )
    # Its own cooldown from the command line, then the machine's again.
    code, _, err = run("trader", "edit", "dip", "--cooldown", "12", *t)
    assert code == 0, err
    assert load_traders(traders)[0].definition.cooldown == 12
    code, out, _ = run("trader", "show", "dip", *t)
    assert "cooldown:  12 bars" in out
    for bad in (
        ["--cooldown", "10001"],
        ["--cooldown", "x"],
        ["--cooldown", "3", "--machine-cooldown"],
    ):
        code, _, err = run("trader", "edit", "dip", *bad, *t)
        assert code == 2
        assert "--cooldown" in err
    code, _, err = run("trader", "edit", "dip", "--machine-cooldown", *t)
    assert code == 0, err
    assert load_traders(traders)[0].definition.cooldown is None
    assert "cooldown_bars" not in traders.read_text()
    code, _, err = run("trader", "remove", "nope", *t)
    assert code == 2
    assert "no trader 'nope' (the file has: dip, bad)" in err
    code, _, _ = run("trader", "remove", "bad", *t)
    assert code == 0
    assert [e.definition.id for e in load_traders(traders)] == ["dip"]


def test_import_proposes_disabled_traders_and_lists_the_rest(tmp_path: Path) -> None:
    stored = {"code": "return rsi < 30;", "description": ["RSI below 30"], "interval": "15m"}
    rows = [
        {"id": "a1", "name": "RSI dip", "filter": json.dumps(stored)},
        {"id": "a2", "name": "Pattern", "filter": {"description": ["Elliott wave three starts"]}},
        {"id": "a3", "name": "Empty", "filter": {}},
    ]
    export = tmp_path / "traders.json"
    export.write_text(json.dumps(rows))
    out_file = tmp_path / "imported.toml"
    for group in (["trader", "import"], ["traders", "import"]):
        code, out, err = run(*group, str(export), "--out", str(out_file))
        assert code == 0, err
        assert "✓ RSI dip (a1), 15m:\n    rsi(14) < 30" in out
        assert "✗ Pattern (a2): 1:1: could not understand 'Elliott wave three starts'" in out
        assert "✗ a3: neither a description nor code to draft from" in out
        assert "1 of 3 traders converted" in out
    entries = load_traders(out_file)
    assert [(e.definition.id, e.enabled, e.definition.timeframe) for e in entries] == [
        ("rsi-dip", False, "15m"),
        ("rsi-dip-2", False, "15m"),
    ]
    assert "# imported from original trader a1: RSI below 30" in out_file.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code, _, err = run("traders", "import", str(bad))
    assert code == 2
    assert "not JSON" in err


def test_phrases_lists_the_phrasebook() -> None:
    code, out, _ = run("trader", "phrases")
    assert code == 0
    assert "volume twice its 20-bar average" in out
    assert '→ on("1h", close > ema(50))' in out


def test_trader_show_prints_its_record_from_the_local_database(tmp_path: Path) -> None:
    traders = tmp_path / "traders.toml"
    traders.write_text(
        '[[traders]]\nid = "dip"\nname = "Dip"\nfilter = "rsi(14) < 30"\ndirection = "short"\n'
        "cooldown_bars = 6\n"
    )
    data = tmp_path / "data"
    env = {"VYX_DATA_DIR": str(data)}
    code, out, _ = run("trader", "show", "dip", "--traders", str(traders), env=env)
    assert code == 0
    assert "direction: short" in out
    assert "cooldown:  6 bars" in out
    assert "no signal scored yet" in out
    data.mkdir()
    db = SqliteDatabase.open(data / "vyx.sqlite3")
    nil = "00000000-0000-0000-0000-000000000000"
    for i, r24 in enumerate((0.02, -0.01, 0.03)):
        returns = (0.01, 0.01, 0.01, 0.01, r24)
        o = Outcome(
            "short", 100.0, 101.0, 97.0, "atr", HORIZON, returns, 0.03, -0.005, "none", None
        )
        update = OutcomeUpdate(f"s{i}", "dip" if i < 2 else "other", nil, "BTCUSDT", "5m", i, o)
        db.upsert("signal_outcomes", update.to_row(0))
    db.close()
    code, out, _ = run("trader", "show", "dip", "--traders", str(traders), env=env)
    assert code == 0
    assert "record of its newest 2 complete signals" in out
    whole, recent = [line.split() for line in out.splitlines() if line.startswith("Dip ")]
    assert whole[1:7] == ["2", "100%", "100%", "100%", "100%", "50%"]
    assert recent[1:5] == ["last", "7d", "0", "-"]  # signals of 1970: none in the last 7 days
