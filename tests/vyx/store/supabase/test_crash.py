"""kill -9 mid-batch: every acknowledged row reaches Supabase after a restart, exactly once.

The PostgREST fake serves over TCP from a thread of this process; a child process writes
signals through the Supabase store (real sockets, real spool file) and prints how many are
acknowledged (``flush()`` returned: durable in the spool). Some responses are lost after the
write committed, so the child dies with rows applied but still spooled. A restarted store
replays the spool; the fake must then hold every acknowledged signal, once.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from tests.conftest import REPO
from tests.vyx.store.supabase.factory import make_signal
from tests.vyx.store.supabase.fake_postgrest import (
    SERVICE_KEY,
    FakePostgrest,
    Fault,
    serve_tcp,
    transport,
)
from vyx.retry import Backoff, RetryPolicy
from vyx.settings import StoreConfig, SupabaseConfig
from vyx.store.supabase import SupabaseStore, run_supabase_store

FAST = RetryPolicy(backoff=Backoff(initial=0.05, maximum=0.5))

CHILD = """
import sys, trio
from tests.vyx.store.supabase.factory import make_signal
from vyx.settings import StoreConfig, SupabaseConfig
from vyx.retry import Backoff
from vyx.store.supabase import run_supabase_store

async def main() -> None:
    cfg = StoreConfig(data_dir=sys.argv[1], batch_rows=40, flush_interval_ms=5, buffer_rows=400)
    sb = SupabaseConfig(url=sys.argv[2], service_key=sys.argv[3])
    async with trio.open_nursery() as nursery:
        store = await nursery.start(run_supabase_store, cfg, sb)
        n = 0
        while True:
            await store.save_signals([make_signal(i) for i in range(n, n + 37)])
            n += 37
            if n % 111 == 0:
                await store.flush()
                print(f"ACK {n}", flush=True)

trio.run(main)
"""


@pytest.fixture
def served() -> Iterator[tuple[FakePostgrest, int]]:
    fake = FakePostgrest()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            box["port"] = await nursery.start(functools.partial(serve_tcp, fake))
            box["token"] = trio.lowlevel.current_trio_token()
            box["scope"] = nursery.cancel_scope
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield fake, int(box["port"])  # type: ignore[call-overload]
    finally:
        scope: trio.CancelScope = box["scope"]  # type: ignore[assignment]
        trio.from_thread.run_sync(scope.cancel, trio_token=box["token"])  # type: ignore[arg-type]
        thread.join(10)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_kill_9_mid_batch_loses_nothing_acknowledged(
    tmp_path: Path, served: tuple[FakePostgrest, int]
) -> None:
    fake, port = served
    # Lost answers: the rows are in Supabase, the child does not know it when it dies.
    fake.inject(*[Fault("after_commit", status=503)] * 2)
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    acked = 0
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), url, SERVICE_KEY],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            for line in child.stdout:
                acked = int(line.split()[1])
                if acked >= 30 * 111:
                    break
        finally:
            child.send_signal(signal.SIGKILL)  # requests and spool commits are in flight
    assert acked >= 30 * 111, "the child died before acknowledging anything"
    before = fake.count("signals")
    fake.faults.clear()

    async def restart() -> int:
        cfg = StoreConfig(data_dir=data, batch_rows=100)
        sb = SupabaseConfig(url="http://supabase.test", service_key=SERVICE_KEY)
        async with trio.open_nursery() as nursery:
            store: SupabaseStore = await nursery.start(
                functools.partial(
                    run_supabase_store, cfg, sb, policy=FAST, transport=transport(fake)
                )
            )
            replayed = store.statistics().spooled_rows
            assert await store.sync(30)
            nursery.cancel_scope.cancel()
        return replayed

    replayed = trio.run(restart)
    stored = [r["id"] for r in fake.rows("signals")]
    assert len(stored) == len(set(stored))  # no duplicates
    missing = [i for i in range(acked) if make_signal(i).id not in set(stored)]
    assert missing == []
    assert replayed > 0 or before >= acked
