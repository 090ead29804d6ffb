"""kill -9 while alerts are being sent: after a restart every stored signal has reached the
webhook, and the only repeats are of the one message that was in flight when the process died
(acknowledged by the receiver, not yet marked delivered)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.conftest import REPO
from tests.vyx.notify.conftest import serve
from tests.vyx.notify.fakes import FakeReceiver
from vyx.notify import Notifier, NotifySettings, OutboxPolicy, parse_urls
from vyx.settings import StoreConfig
from vyx.store import SqliteStore, run_store

# The child stores signals 0, 1, 2, ... with their alerts and sends them, printing how many
# are stored, until it is killed.
CHILD = """
import sys, httpx, trio
from tests.vyx.store.factory import make_signal
from vyx.settings import StoreConfig
from vyx.notify import Notifier, NotifySettings, OutboxPolicy, parse_urls
from vyx.store import run_store

async def main() -> None:
    cfg = StoreConfig(data_dir=sys.argv[1], batch_rows=20, flush_interval_ms=5)
    settings = NotifySettings(channels=parse_urls(sys.argv[2]), policy=OutboxPolicy(gather_s=0.01))
    async with httpx.AsyncClient() as http, trio.open_nursery() as nursery:
        store = await nursery.start(run_store, cfg)
        notifier = Notifier(settings)
        await nursery.start(notifier.serve, http, store.outbox)
        n = 0
        while True:
            batch = [make_signal(i) for i in range(n, n + 7)]
            await store.save_signals(batch, notifier.signal_alerts(batch))
            await store.flush()
            n += 7
            print(f"STORED {n}", flush=True)
            await trio.sleep(0.01)

trio.run(main)
"""


def stored_ids(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM signals")}
    finally:
        conn.close()


def signal_ids(body: dict[str, object]) -> list[str]:
    vyx = body["vyx"]
    assert isinstance(vyx, dict)
    return [s["signalId"] for s in vyx["signals"]]


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_kill_9_while_sending_then_restart_delivers_every_stored_signal(
    tmp_path: Path, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    receiver = FakeReceiver()
    url = f"json://{(await serve(nursery, receiver)).removeprefix('http://')}/k"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", CHILD, str(tmp_path), url]
    child = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, env=env, cwd=REPO)
    stored = 0
    try:
        assert child.stdout is not None
        lines = b""
        with trio.fail_after(60):
            while stored < 100 or len(receiver.bodies) < 3:
                chunk = await child.stdout.receive_some()
                assert chunk, "the child died"
                *done, lines = (lines + chunk).split(b"\n")
                stored = max([stored, *(int(line.split()[1]) for line in done)])
    finally:
        child.send_signal(signal.SIGKILL)  # mid-stream: alerts are being sent and marked now
        with trio.CancelScope(shield=True):
            await child.wait()
            if child.stdout is not None:
                await child.stdout.aclose()
    first_life = list(receiver.bodies)
    assert first_life, "nothing was sent before the kill"

    # The next life sends what the store says is owed.
    settings = NotifySettings(channels=parse_urls(url), policy=OutboxPolicy(gather_s=0.01))
    settled = [trio.Event()]
    async with trio.open_nursery() as life:
        store: SqliteStore = await life.start(run_store, StoreConfig(data_dir=tmp_path))
        notifier = Notifier(settings, on_settled=lambda _: settled[0].set())
        await life.start(notifier.serve, http, store.outbox)
        with trio.fail_after(30):
            while True:
                settled[0] = trio.Event()
                if not (await store.outbox.counts()).get("pending", 0):
                    break
                await settled[0].wait()
        counts = await store.outbox.counts()
        life.cancel_scope.cancel()

    ids = stored_ids(tmp_path / "vyx.sqlite3")
    assert len(ids) >= stored
    assert counts == {"delivered": len(ids)}  # one outbox row per stored signal, all delivered
    got = [i for body in receiver.bodies for i in signal_ids(body)]
    assert set(got) == ids  # every stored signal reached the webhook; nothing else did
    repeats = {i for i in got if got.count(i) > 1}
    # Repeats only from the one message in flight at the kill (at most one per channel).
    assert any(repeats <= set(signal_ids(body)) for body in first_life)
    assert all(got.count(i) <= 2 for i in repeats)
