"""kill -9 mid-batch: every acknowledged signal survives, nothing is duplicated on replay."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.conftest import REPO
from tests.vyx.store.factory import make_signal
from vyx.settings import StoreConfig
from vyx.store import SqliteStore, run_store

# The child writes signals 0, 1, 2, ... in chunks, acknowledging each chunk after flush()
# returns, and keeps going until it is killed.
CHILD = """
import sys, trio
from tests.vyx.store.factory import make_signal
from vyx.settings import StoreConfig
from vyx.store import run_store

async def main() -> None:
    cfg = StoreConfig(data_dir=sys.argv[1], batch_rows=50, flush_interval_ms=5, buffer_rows=500)
    async with trio.open_nursery() as nursery:
        store = await nursery.start(run_store, cfg)
        n = 0
        while True:
            await store.save_signals([make_signal(i) for i in range(n, n + 37)])
            n += 37
            if n % 111 == 0:
                await store.flush()
                print(f"ACK {n}", flush=True)

trio.run(main)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_kill_9_mid_batch_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    acked = 0
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            for line in child.stdout:
                acked = int(line.split()[1])
                if acked >= 6 * 111:
                    break
        finally:
            child.send_signal(signal.SIGKILL)  # mid-stream: batches are being written now
    assert acked >= 6 * 111, "the child died before acknowledging anything"

    conn = sqlite3.connect(data / "vyx.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {r[0] for r in conn.execute("SELECT id FROM signals")}
    finally:
        conn.close()
    missing = [i for i in range(acked) if make_signal(i).id not in stored]
    assert missing == []
    assert len(stored) >= acked

    # Restart and replay everything up to past the crash: still one row per signal.
    total = len(stored) + 100

    async def replay() -> int:
        cfg = StoreConfig(data_dir=data, batch_rows=100)
        async with trio.open_nursery() as nursery:
            store: SqliteStore = await nursery.start(run_store, cfg)
            await store.save_signals([make_signal(i) for i in range(total)])
            await store.flush()
            count = len(await store.recent_signals(make_signal(0).user_id, limit=10 * total))
            nursery.cancel_scope.cancel()
        return count

    assert trio.run(replay) == total
