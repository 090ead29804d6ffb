"""What Dockerfile.prod does, without Docker: the locked production environment, the kernel
cache warm-up with the image's variables, and a fresh process loading every kernel from that
cache without compiling. Plus the deploy files' own consistency (fly.toml, Dockerfile.prod).

The environment build takes ~3 s with uv's cache warm (as in CI, after ``uv sync``); the
warm-up compiles the interpreter once (~20 s on this machine), so the test is marked ``slow``
(still part of the suite).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kernels.warmup import all_opcodes, filters
from vyx.config import Config

REPO = Path(__file__).resolve().parents[3]

#: A fresh process: run the daemon's kernel paths, report numba's cache statistics.
PROBE = """
import json, sys
import numba
from kernels import warmup as warm_cache
from kernels import interp
report = warm_cache.warm()
stats = interp.run_nb.stats
print(json.dumps({
    "module": interp.__file__,
    "hits": sum(stats.cache_hits.values()),
    "misses": sum(stats.cache_misses.values()),
    "signatures": len(interp.run_nb.signatures),
    "cpu_name": numba.config.CPU_NAME,
}))
"""


def _image_env(cache: Path) -> dict[str, str]:
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "NUMBA_", "UV_PROJECT_ENVIRONMENT")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {
        **keep,
        "NUMBA_CPU_NAME": "generic",
        "NUMBA_CACHE_DIR": str(cache),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@pytest.mark.slow
def test_the_image_environment_loads_every_kernel_from_the_warmed_cache(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for package in ("vyx", "kernels"):
        shutil.copytree(
            REPO / package,
            src / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"),
        )
    venv = tmp_path / "venv"
    env = {**_image_env(tmp_path / "numba-cache"), "UV_PROJECT_ENVIRONMENT": str(venv)}
    # What Dockerfile.prod's builder stage runs.
    synced = subprocess.run(
        [uv, "sync", "--locked", "--no-dev", "--no-editable", "--python", sys._base_executable],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert synced.returncode == 0, synced.stderr
    python = str(venv / "bin" / "python")
    shutil.rmtree(src)  # the image runs the installed package, not the sources
    dev = subprocess.run([python, "-c", "import pytest"], capture_output=True, cwd=tmp_path)
    assert dev.returncode != 0, "dev dependencies must not be in the production environment"

    warm = subprocess.run(
        [python, "-m", "kernels.warmup"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert warm.returncode == 0, warm.stderr
    assert f"{len(all_opcodes())} opcodes" in warm.stdout
    index = list((tmp_path / "numba-cache").rglob("*.nbi"))
    assert any("run_nb" in p.name for p in index)

    debug_env = {**env, "NUMBA_DEBUG_CACHE": "1"}
    probe = subprocess.run(
        [python, "-c", PROBE],
        cwd=tmp_path,
        env=debug_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    *debug, last = probe.stdout.strip().splitlines()
    result = json.loads(last)
    assert str(venv) in result["module"]
    assert result["cpu_name"] == "generic"
    assert result["hits"] == result["signatures"] >= 1
    assert result["misses"] == 0
    assert not any("data saved to" in line for line in debug), "a kernel was compiled again"
    assert any("data loaded from" in line for line in debug)


def test_every_opcode_has_a_warm_up_filter() -> None:
    assert len(list(filters())) > 30
    assert len(all_opcodes()) >= 40


def test_fly_toml_matches_the_daemon() -> None:
    fly = tomllib.loads((REPO / "fly.toml").read_text())
    drain = Config.from_env({}).runtime.drain_timeout_s
    kill = fly["kill_timeout"]
    seconds = int(kill.rstrip("s")) if isinstance(kill, str) else int(kill)
    assert seconds > drain + 5  # the drain finishes before Fly sends SIGKILL
    assert fly["kill_signal"] == "SIGTERM"
    assert float(fly["env"]["DRAIN_TIMEOUT_S"]) == drain
    service = fly["http_service"]
    assert service["internal_port"] == Config.from_env({}).server.port == 8080
    assert service["auto_stop_machines"] in ("off", False)
    assert [c["path"] for c in service["checks"]] == ["/health"]
    assert fly["metrics"][0]["path"] == "/metrics"
    assert fly["metrics"][0]["port"] == 8080
    assert fly["build"]["dockerfile"] == "Dockerfile.prod"
    vm = fly["vm"][0]
    assert (vm["cpus"], vm["memory"]) == (1, "256mb")
    assert fly["swap_size_mb"] == 512  # a 256 MB machine survives a spike
    assert fly["mounts"]["destination"] == fly["env"]["VYX_DATA_DIR"] == "/data"
    assert fly["primary_region"] == "nrt"  # Binance serves it (vyx.fleet.regions)
    Config.from_env({k: str(v) for k, v in fly["env"].items()})  # every default parses


def test_dockerfile_runs_what_the_tests_check() -> None:
    text = (REPO / "Dockerfile.prod").read_text()
    assert "uv sync --locked --no-dev --no-editable" in text
    assert text.count("NUMBA_CPU_NAME=generic") >= 2  # build stage and runtime
    assert "python -m kernels.warmup" in text
    assert "USER vyx" in text
    assert "HEALTHCHECK" in text
    assert "/health" in text
    cmd = text.split("\nCMD ", 1)[1].splitlines()[0]
    assert json.loads(cmd) == ["python", "-m", "vyx", "run"]


def test_the_base_image_is_pinned_by_digest() -> None:
    text = (REPO / "Dockerfile.prod").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.M)
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base)
    assert text.count("FROM ${PYTHON_IMAGE} AS") == 2  # both stages


def _entrypoint(tmp_path: Path) -> Path:
    """The entrypoint script, as the Dockerfile's heredoc writes it."""
    text = (REPO / "Dockerfile.prod").read_text()
    assert 'ENTRYPOINT ["/usr/local/bin/vyx-entrypoint"]' in text
    body = text.split("<<'EOF' /usr/local/bin/vyx-entrypoint\n", 1)[1].split("\nEOF\n", 1)[0]
    script = tmp_path / "vyx-entrypoint"
    script.write_text(body + "\n")
    return script


def _stubs(tmp_path: Path, uid: int, owner: str) -> Path:
    """``id``, ``stat``, ``chown`` and ``setpriv`` that log their arguments (setpriv then runs
    the command after ``--``)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    stubs = {
        "id": f'echo "id $*" >> {log}; echo {uid}',
        "stat": f'echo "stat $*" >> {log}; echo {owner}',
        "chown": f'echo "chown $*" >> {log}',
        "setpriv": f'echo "setpriv $*" >> {log}; while [ "$1" != "--" ]; do shift; done; shift; '
        'exec "$@"',
    }
    for name, body in stubs.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("uid", "owner", "expected"),
    [
        (
            0,
            "root",
            ["chown -R vyx:vyx {data}", "setpriv --reuid=vyx --regid=vyx --init-groups --"],
        ),
        (0, "vyx", ["setpriv --reuid=vyx --regid=vyx --init-groups --"]),  # already handed over
        (1000, "vyx", []),  # started as a user already (docker run --user): runs as it is
    ],
)
def test_the_entrypoint_hands_the_volume_to_vyx_then_drops_root(
    tmp_path: Path, uid: int, owner: str, expected: list[str]
) -> None:
    script, bin_dir = _entrypoint(tmp_path), _stubs(tmp_path, uid, owner)
    data = tmp_path / "volume"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "VYX_DATA_DIR": str(data)}
    command = ["sh", str(script), "echo", "daemon", "runs"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "daemon runs\n"
    assert data.is_dir() == (uid == 0)  # as a user, the daemon makes it itself
    calls = (tmp_path / "calls").read_text().splitlines()
    acting = [c for c in calls if c.startswith(("chown", "setpriv"))]
    runs = " echo daemon runs"
    assert acting == [c.format(data=data) + (runs if "setpriv" in c else "") for c in expected]


def _test_local(tmp_path: Path, env_file: str) -> subprocess.CompletedProcess[str]:
    """``just test-local`` with ``env_file`` as .env.local and a ``docker`` that prints its
    arguments."""
    just = shutil.which("just")
    if just is None:
        pytest.skip("just is not on PATH")
    (tmp_path / ".env.local").write_text(env_file)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text('#!/bin/sh\necho "docker $*"\n')
    (bin_dir / "docker").chmod(0o755)
    command = [just, "--justfile", str(REPO / "justfile"), "--working-directory", str(tmp_path)]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = [*command, "test-local"]
    return subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)


def test_just_test_local_runs_the_image_with_a_volume(tmp_path: Path) -> None:
    user = "USER_ID=11111111-2222-3333-4444-555555555555\n"
    done = _test_local(tmp_path, "SUPABASE_URL=https://x.supabase.co\n" + user)
    assert done.returncode == 0, done.stderr
    expected = "docker run --rm -it --init --env-file .env.local -p 8080:8080 "
    assert done.stdout.split() == [*expected.split(), "-v", "vyx-local-data:/data", "vyx:latest"]


def test_just_test_local_says_what_is_missing(tmp_path: Path) -> None:
    done = _test_local(tmp_path, "SUPABASE_URL=https://x.supabase.co\nSUPABASE_SERVICE_KEY=k\n")
    assert done.returncode == 1
    assert "sets SUPABASE_URL but not USER_ID" in done.stderr
    assert "docker" not in done.stdout
