"""What an operator sees for a bad setting: one line and exit status 2, never a traceback; and
the daemon's data stays private (directory 0700, files 0600)."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from vyx.app import DaemonOptions, run_daemon
from vyx.cli import cli
from vyx.config import Config
from vyx.data_dir import private_files
from vyx.screener.marks import FILE_NAME, save_marks
from vyx.server.service import ServerHandle

KLINES = "binance/klines/spot_5m/BTCUSDT-5m-2025-08-20_2025-09-19.csv"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _refused() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _vyx(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def _one_line_error(output: str) -> str:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith(("vyx: ", "Error: "))]
    assert len(errors) == 1, output
    return errors[0]


def test_a_port_in_use_is_one_line_naming_the_port_and_the_variable(
    busy_port: int, tmp_path: Path
) -> None:
    """Finding 11: ``vyx run`` and ``vyx demo`` printed 120 lines of traceback."""
    where = _refused()
    env = {
        "PORT": str(busy_port),
        "VYX_DATA_DIR": str(tmp_path),
        "BINANCE_REST_URL": f"http://{where}",
        "BINANCE_WS_URL": f"ws://{where}",
    }
    code, out = _vyx("run", env=env)
    assert code == 2
    assert _one_line_error(out) == (
        f"vyx: cannot listen on 127.0.0.1:{busy_port}: the port is already in use; "
        "set PORT to a free port"
    )
    code, out = _vyx("demo", "--port", str(busy_port))
    assert code == 2
    assert _one_line_error(out).endswith("the port is already in use; set --port to a free port")


def _not_usable(tmp_path: Path) -> list[tuple[Path, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = [
        (a_file, "it is not a directory"),
        (a_file / "below", "cannot create it: it is not a directory"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        read_only = tmp_path / "read-only"
        read_only.mkdir(mode=0o500)
        cases.append((read_only, "cannot write in it: permission denied"))
    return cases


def test_an_unusable_data_directory_is_one_line_saying_why(tmp_path: Path) -> None:
    """Finding 11: a read-only or unusable ``VYX_DATA_DIR`` printed 78 lines of traceback."""
    for path, why in _not_usable(tmp_path):
        code, out = _vyx("run", env={"VYX_DATA_DIR": str(path), "PORT": "0"})
        assert code == 2
        line = _one_line_error(out)
        assert line.startswith(f"vyx: VYX_DATA_DIR={str(path)!r}: "), line
        assert why in line


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["backtest", "--filter", "close > open", "-t", "7m"], "'--timeframe' / '-t'"),
        (["eval", "close", "-t", "7m"], "'--timeframe' / '-t'"),
        (["backtest", "--filter", "close > open", "--cooldown", "-1"], "'--cooldown'"),
        (["backtest", "--filter", "close > open", "--limit", "0"], "'--limit'"),
        (["eval", "close", "--tail", "-5"], "'--tail'"),
        (["demo", "--symbols", "0"], "'--symbols'"),
        (["demo", "--symbols", "-3"], "'--symbols'"),
        (["demo", "--speed", "nan"], "'--speed'"),
        (["demo", "--speed", "0"], "'--speed'"),
        # Faster than the simulator can go: it had eaten 1.2 GB and ignored SIGTERM in 40 s.
        (["demo", "--speed", "1e9"], "'--speed'"),
        (["exchange", "--speed", "-1"], "'--speed'"),
        (["demo", "--port", "70000"], "'--port'"),
        (["demo", "--backtest", "--days", "0"], "'--days'"),
    ],
)
def test_bad_command_line_values_are_usage_errors(
    args: list[str], option: str, shared_data: Path
) -> None:
    """Finding 11: ``vyx backtest -t 7m`` ended in a TimeframeError traceback."""
    if args[0] in ("backtest", "eval"):
        args = [*args, "--klines", str(shared_data / KLINES)]
    code, out = _vyx(*args)
    assert code == 2, out
    assert _one_line_error(out).startswith(f"Error: Invalid value for {option}")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_directory_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    """Finding 11: files were created 0644 in a 0755 directory; an existing directory and
    database made by an older version are tightened too."""
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    old.chmod(0o755)
    for name in ("vyx.sqlite3", "traders.json"):
        (old / name).touch()
        (old / name).chmod(0o644)
    for data_dir in (tmp_path / "new" / "vyx", old):
        where = _refused()
        cfg = Config.from_env(
            {
                "VYX_DATA_DIR": str(data_dir),
                "PORT": "0",
                "BINANCE_REST_URL": f"http://{where}",
                "BINANCE_WS_URL": f"ws://{where}",
            }
        )
        listening = trio.Event()

        def announce(_server: ServerHandle, listening: trio.Event = listening) -> None:
            listening.set()

        opts = DaemonOptions(handle_signals=False, announce=announce)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_daemon, cfg, opts)
            await listening.wait()
            nursery.cancel_scope.cancel()
        save_marks(data_dir, {"5m": 1_700_000_100_000})
        assert _mode(data_dir) == 0o700
        files = sorted(p.name for p in data_dir.iterdir())
        assert {"vyx.sqlite3", FILE_NAME} <= set(files)
        assert {p.name: _mode(p) for p in data_dir.iterdir()} == dict.fromkeys(files, 0o600)


def test_the_commands_create_private_files(tmp_path: Path) -> None:
    """``vyx run`` and ``vyx demo`` run with umask 077: a file any part of the daemon creates
    later (a cache, a journal) is 0600 too; the umask is given back afterwards."""
    before = os.umask(0o022)
    try:
        with private_files():
            (tmp_path / "later.json").write_text("{}")
        (tmp_path / "after.txt").write_text("")
    finally:
        os.umask(before)
    assert _mode(tmp_path / "later.json") == 0o600
    assert _mode(tmp_path / "after.txt") == 0o644
