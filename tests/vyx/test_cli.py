"""The kernel-facing CLI: vyx filter check, vyx eval, vyx backtest, vyx demo."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import talib
from click.testing import CliRunner

from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import random_klines
from vyx.cli import cli
from vyx.cli.klines_args import load_klines_args, start_loading

HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)


def _write_csv(path: Path, seed: int, n: int, tf: str, header: bool = True) -> np.ndarray:
    k = random_klines(seed, n, timeframe_ms(tf))
    lines = [HEADER] if header else []
    for t in range(n):
        b = k.bars[t].tolist()
        ot = int(k.open_time[t])
        lines.append(
            f"{ot},{b[0]!r},{b[1]!r},{b[2]!r},{b[3]!r},{b[4]!r},{ot + timeframe_ms(tf) - 1},"
            f"{b[5]!r},{int(b[6])},{b[7]!r},0,0"
        )
    path.write_text("\n".join(lines) + "\n")
    return k.bars[:, 3]


def test_filter_check_prints_clauses_and_warmup() -> None:
    result = CliRunner().invoke(cli, ["filter", "check", "rsi(14) < 30 and close > ema(close, 50)"])
    assert result.exit_code == 0, result.output
    assert "1. rsi(14) < 30" in result.output
    assert "2. close > ema(50)" in result.output
    assert "warm-up:" in result.output


def test_filter_check_reports_every_error_with_line_column_and_caret() -> None:
    result = CliRunner().invoke(cli, ["filter", "check", "rsi(14) < 30 and\nfoo(3) > clse"])
    assert result.exit_code == 2
    assert "2:1:" in result.output
    assert "2:10:" in result.output
    assert "^" in result.output


def test_filter_check_json() -> None:
    result = CliRunner().invoke(cli, ["filter", "check", "--json", 'on("1h", rsi(14) > 50)'])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["timeframes"] == ["5m", "1h"]
    assert doc["warmup_bars"]["1h"] > 14


def test_eval_prints_talib_values_and_null_while_warming(tmp_path: Path) -> None:
    path = tmp_path / "AAAUSDT-5m.csv"
    close = _write_csv(path, 1, 300, "5m")
    result = CliRunner().invoke(cli, ["eval", "sma(close, 20)", "--klines", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 300
    assert rows[18]["value"] is None
    ref = talib.SMA(close, 20)
    assert rows[19]["value"] == ref[19]
    assert rows[-1]["value"] == ref[-1]


def test_eval_of_a_condition_gives_booleans_and_bad_files_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "AAAUSDT-5m.csv"
    _write_csv(path, 2, 100, "5m", header=False)
    result = CliRunner().invoke(cli, ["eval", "close > open", "--klines", f"5m={path}"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith(("True", "False"))
    bad = tmp_path / "BAD.csv"
    bad.write_text("1,2,3\n")
    result = CliRunner().invoke(cli, ["eval", "close", "--klines", str(bad)])
    assert result.exit_code == 2
    assert "expected 12 columns" in result.output


def test_backtest_filter_and_traders_file(tmp_path: Path) -> None:
    a = tmp_path / "AAAUSDT-5m-x.csv"
    b = tmp_path / "BBBUSDT-5m-x.csv"
    _write_csv(a, 3, 500, "5m")
    _write_csv(b, 4, 500, "5m")
    result = CliRunner().invoke(
        cli,
        [
            "backtest",
            "--filter",
            "crosses_above(close, sma(close, 10))",
            "--klines",
            str(a),
            "--klines",
            str(b),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    fires = [json.loads(line) for line in result.stdout.splitlines()]
    assert {f["symbol"] for f in fires} == {"AAAUSDT", "BBBUSDT"}
    assert all("crosses_above(close, sma(10))" in f["clauses"] for f in fires)
    traders = tmp_path / "traders.toml"
    traders.write_text(
        '[[traders]]\nname = "cross"\nfilter = "crosses_above(close, sma(close, 10))"\n'
        '[[traders]]\nname = "broken"\nfilter = "rsi(14 <"\n'
    )
    result = CliRunner().invoke(
        cli, ["backtest", "--traders", str(traders), "--klines", str(a), "--klines", str(b)]
    )
    assert result.exit_code == 2, "a trader that does not compile is reported, not skipped"
    assert "trader broken: does not compile" in result.output
    assert f"{len(fires)} signals from 1 traders" in result.output
    # Each trader's own cooldown (the file's cooldown_bars), --cooldown for the others.
    traders.write_text(
        '[[traders]]\nname = "cross"\nfilter = "crosses_above(close, sma(close, 10))"\n'
        "cooldown_bars = 50\n"
    )
    args = ["backtest", "--traders", str(traders), "--klines", str(a), "--klines", str(b)]
    cooled = CliRunner().invoke(cli, [*args, "--json", "--cooldown", "0"])
    assert cooled.exit_code == 0, cooled.output
    spaced = [json.loads(line) for line in cooled.output.splitlines()]
    assert 0 < len(spaced) < len(fires)
    for symbol in ("AAAUSDT", "BBBUSDT"):
        times = sorted(f["open_time"] for f in spaced if f["symbol"] == symbol)
        assert all(b - a >= 50 * 300_000 for a, b in itertools.pairwise(times))
    # --cooldown has the traders' bound (one too big for a 64-bit count was a traceback).
    for too_big in ("10001", str(10**20)):
        refused = CliRunner().invoke(cli, [*args, "--cooldown", too_big])
        assert refused.exit_code == 2
        assert "Invalid value for '--cooldown'" in refused.output
        assert "0<=x<=10000" in refused.output


def test_backtest_needs_the_timeframes_its_traders_use(tmp_path: Path) -> None:
    a = tmp_path / "AAAUSDT-5m-x.csv"
    _write_csv(a, 3, 100, "5m")
    result = CliRunner().invoke(
        cli, ["backtest", "--filter", 'on("1h", close > open)', "--klines", str(a)]
    )
    assert result.exit_code == 2
    assert "need klines for 1h (given: 5m)" in result.output
    # A --filter runs on the shortest timeframe given unless -t says otherwise.
    b = tmp_path / "AAAUSDT-1h-x.csv"
    _write_csv(b, 3, 100, "1h")
    args = ["backtest", "--filter", "close > open", "--klines", str(b), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    fires = [json.loads(line) for line in result.stdout.splitlines()]
    assert fires
    assert {f["timeframe"] for f in fires} == {"1h"}
    result = CliRunner().invoke(cli, [*args, "-t", "5m"])
    assert result.exit_code == 2
    assert "need klines for 5m (given: 1h)" in result.output


@pytest.mark.slow
def test_demo_runs_offline_and_shows_signals() -> None:
    result = CliRunner().invoke(cli, ["demo", "--backtest", "--symbols", "3", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "signals from 6 traders over 3 symbols" in result.output


def test_backtest_outcomes_table_json_and_html(tmp_path: Path) -> None:
    a = tmp_path / "AAAUSDT-5m-x.csv"
    closes = _write_csv(a, 3, 600, "5m")
    traders = tmp_path / "traders.toml"
    traders.write_text(
        '[[traders]]\nname = "cross <up>"\nfilter = "crosses_above(close, sma(close, 10))"\n'
        '[[traders]]\nname = "cross down"\ndirection = "short"\n'
        'filter = "crosses_below(close, sma(close, 10))"\n'
    )
    base = ["backtest", "--traders", str(traders), "--klines", str(a), "--outcomes"]
    result = CliRunner().invoke(cli, [*base, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    fires, records = lines[:-1], lines[-1]["records"]
    start = int(np.searchsorted(_open_times(a), fires[0]["open_time"]))
    first = fires[0]["outcome"]
    sign = 1 if fires[0]["trader"] == "cross-up" else -1
    assert first["returns"]["1"] == sign * (closes[start + 1] / closes[start] - 1)
    assert first["levels"] == "atr"
    assert first["complete"]
    for tid in ("cross-up", "cross-down"):
        mine = [f for f in fires if f["trader"] == tid]
        assert records[tid]["all"]["signals"] == len(mine) > 0
        assert records[tid]["all"]["targets"] == sum(
            f["outcome"]["touch"] == "target" for f in mine
        )
    assert {f["outcome"]["direction"] for f in fires if f["trader"] == "cross-down"} == {"short"}

    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, [*base, "--html", str(report)])
    assert result.exit_code == 0, result.output
    assert "hit+24" in result.output
    assert "cross <up> last 7d" in result.output
    page = report.read_text()
    assert page.count("<svg") == 4
    assert "<polyline" in page
    assert "cross &lt;up&gt;" in page
    assert "<up>" not in page
    assert "http" not in page
    assert "<script" not in page
    refused = CliRunner().invoke(
        cli, ["backtest", "--traders", str(traders), "--klines", str(a), "--html", str(report)]
    )
    assert refused.exit_code == 2
    assert "--html needs --outcomes" in refused.output


def _open_times(path: Path) -> np.ndarray:
    rows = path.read_text().splitlines()[1:]
    return np.asarray([int(r.split(",")[0]) for r in rows])


def test_help_lists_every_command_with_its_own_help_without_importing_it() -> None:
    """``vyx --help`` shows what each command's docstring says, at any width, and imports no
    command module (a fresh interpreter: numba, the kernels and trio stay out)."""
    from vyx.cli import _LazyGroup

    ctx = click.Context(cli)
    for name, (_, written) in _LazyGroup.lazy.items():
        command = cli.get_command(ctx, name)
        assert command is not None
        for limit in (30, 45, 70, 200):
            stand_in = click.Command(name, help=written)
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit)
    code = (
        "import sys; from vyx.cli import main; sys.argv = ['vyx', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('numba', 'kernels', 'trio', "
        "'google') or m.startswith('vyx.cli.')]\nprint('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout
    assert "backtest   When each trader would have fired" in out.stdout


def test_klines_read_on_a_thread_are_the_files_and_the_first_bad_one_is_named(
    tmp_path: Path,
) -> None:
    good = [tmp_path / f"{s}USDT-5m.csv" for s in ("AAA", "BBB", "CCC")]
    for seed, path in enumerate(good):
        _write_csv(path, seed, 300, "5m", header=seed == 1)
    values = [str(p) for p in good]
    finish = start_loading(values)  # reads on a thread
    read, inline = finish(), load_klines_args(values)
    assert list(read["5m"]) == ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
    for symbol, klines in inline["5m"].items():
        assert np.array_equal(read["5m"][symbol].bars, klines.bars, equal_nan=True)
    short, bad = tmp_path / "DDD.csv", tmp_path / "EEE.csv"
    short.write_text("1,2,3\n")
    bad.write_text("1,2\n")
    finish = start_loading([str(good[0]), str(short), str(bad)])  # no error until finished
    with pytest.raises(click.BadParameter, match=r"DDD\.csv.*expected 12 columns"):
        finish()
