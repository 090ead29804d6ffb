"""What alerts cost: apprise against the native senders, and the outbox's work per burst.

1. **apprise's footprint**, each in a fresh interpreter: ``import apprise``, then the first URL
   (which imports all its plugins); RSS and seconds, against ``import httpx`` (the daemon has it).
2. **Per-send latency** to a local JSON receiver (a threaded ``http.server`` on 127.0.0.1):
   apprise's ``json://`` in a worker thread (as :mod:`vyx.notify.apprise_sender` runs it) against
   :mod:`vyx.notify.webhook` over httpx; p50/p99 of :data:`SENDS` sequential sends.
3. **The outbox at a burst**: queue 300 signals on 3 channels, take, render the digests and
   settle — the work a market-wide close adds, off the screening path.
4. **The outbox rows in the store**: one batch of 300 signals written to SQLite
   (``synchronous=FULL``) alone, against the same batch with its 900 ``alert_outbox`` rows
   (routed and encoded by the notifier), interleaved runs, best of each — what alerts add to the
   store's write path.

Run with ``uv run python -m benchmarks.notify_bench`` (``just bench``); writes
``bench-results/notify.json``.
"""

from __future__ import annotations

import http.server
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from vyx.notify import render, webhook
from vyx.notify.channels import parse_url, parse_urls
from vyx.notify.notices import SignalNotice, clauses_of
from vyx.notify.outbox import Attempt, Batch, Outbox
from vyx.signal import signal_id

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"
SENDS = 200

_FOOTPRINT = """
import json, time, psutil
p = psutil.Process()
rss0, t0 = p.memory_info().rss, time.perf_counter()
{code}
t1 = time.perf_counter()
print(json.dumps({{"seconds": t1 - t0, "rss_mib": (p.memory_info().rss - rss0) / 2**20}}))
"""


def footprint(code: str) -> dict[str, float]:
    """Seconds and RSS growth of ``code`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _FOOTPRINT.format(code=code)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


def notices(n: int) -> list[SignalNotice]:
    data = {"rsi(14) < 30": {"held": True, "values": {"rsi(14)": 27.5}}}
    return [
        SignalNotice(
            signal_id(f"t{i % 10}", f"S{i}USDT", "5m", 0),
            f"t{i % 10}",
            f"Trader {i % 10}",
            f"S{i}USDT",
            "5m",
            1.0 + i,
            0,
            clauses_of(data),
        )
        for i in range(n)
    ]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def latency(port: int) -> dict[str, dict[str, float]]:
    import apprise

    plugin = apprise.Apprise.instantiate(f"json://127.0.0.1:{port}/hook")
    plugin.request_rate_per_sec = 0
    limiter = trio.CapacityLimiter(2)
    text = render.signal_text(notices(1)[0], render.PLAIN)
    apprise_times = []
    for _ in range(SENDS):
        t0 = time.perf_counter()
        ok = await trio.to_thread.run_sync(
            lambda: plugin.notify(body=text, title="BTCUSDT"), limiter=limiter
        )
        apprise_times.append(time.perf_counter() - t0)
        assert ok
    channel = parse_url(f"json://127.0.0.1:{port}/hook")[0]
    n = notices(1)[0]
    batch = Batch(channel, signals=((n, None),), keys=(n.key,))
    native_times = []
    async with httpx.AsyncClient() as client:
        for _ in range(SENDS):
            t0 = time.perf_counter()
            attempt = await webhook.send(client, batch)
            native_times.append(time.perf_counter() - t0)
            assert attempt.outcome == "ok"
    return {"apprise_json": percentiles(apprise_times), "native_json": percentiles(native_times)}


def burst() -> dict[str, float]:
    channels = parse_urls(
        "tgram://123456:ABCDEFGHIJ/42 discord://1234567890/abcdefghijklmnop json://127.0.0.1/x"
    )
    runs = []
    for _ in range(20):
        box = Outbox(channels)
        t0 = time.perf_counter()
        for n in notices(300):
            box.add(n, [c.id for c in channels], 0.0)
        for batch in box.take(2.0):
            markup = {"telegram": render.TELEGRAM, "discord": render.DISCORD}.get(
                batch.channel.transport, render.PLAIN
            )
            render.batch_text(batch, markup, "http://127.0.0.1:8080")
            box.settle(batch, Attempt("ok"), 2.0)
        runs.append(time.perf_counter() - t0)
    best = min(runs)
    return {"burst_300x3_ms": 1000 * best, "per_alert_us": 1e6 * best / 900}


def store_cost() -> dict[str, float]:
    """Best seconds of a 300-signal batch without and with its alert rows (paired runs)."""
    import tempfile

    from tests.vyx.store.factory import make_signal
    from vyx.notify.service import Notifier
    from vyx.notify.settings import NotifySettings
    from vyx.store.api import PendingRow
    from vyx.store.sqlite import SqliteDatabase
    from vyx.store.writer import _outbox

    channels = parse_urls(
        "tgram://123456:ABCDEFGHIJ/42 discord://1234567890/abcdefghijklmnop json://127.0.0.1/x"
    )
    notifier = Notifier(NotifySettings(channels=channels))
    plain, alerted, routed = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        db = SqliteDatabase.open(Path(tmp) / "bench.sqlite3")
        for run in range(12):
            batch = [make_signal(run * 1000 + i, trader=f"t-{i % 7}") for i in range(300)]
            t0 = time.perf_counter()
            db.write_batch([PendingRow.of("signals", s.to_row()) for s in batch])
            plain.append(time.perf_counter() - t0)
            batch = [make_signal(run * 1000 + 500 + i, trader=f"t-{i % 7}") for i in range(300)]
            t0 = time.perf_counter()
            alerts = notifier.signal_alerts(batch)  # on the event loop (Delivery.deliver)
            routed.append(time.perf_counter() - t0)
            now = int(time.time() * 1000)
            rows = [PendingRow.of("signals", s.to_row(), _outbox(alerts[s.id], now)) for s in batch]
            db.write_batch(rows)
            alerted.append(time.perf_counter() - t0)
        db.close()
    a, b = min(plain), min(alerted)
    return {
        "signals_only_us_per_signal": 1e6 * a / 300,
        "with_alerts_us_per_signal": 1e6 * b / 300,
        "ratio": b / a,
        "route_us_per_signal": 1e6 * min(routed) / 300,
    }


def main() -> None:
    """Run and print; write bench-results/notify.json."""
    results: dict[str, Any] = {
        "import_httpx": footprint("import httpx"),
        "import_apprise": footprint("import apprise"),
        "apprise_first_url": footprint(
            "import apprise; apprise.Apprise.instantiate('json://127.0.0.1:9/x')"
        ),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        results["latency"] = trio.run(latency, server.server_address[1])
    finally:
        server.shutdown()
        thread.join(timeout=5)
    results["outbox"] = burst()
    results["store"] = store_cost()
    print("what                           seconds   RSS MiB")
    for key in ("import_httpx", "import_apprise", "apprise_first_url"):
        r = results[key]
        print(f"{key:<30} {r['seconds']:>7.3f}   {r['rss_mib']:>7.1f}")
    print(f"\nper send to a local JSON receiver ({SENDS} sequential)   p50 ms   p99 ms")
    for key, r in results["latency"].items():
        print(f"{key:<52} {r['p50_ms']:>7.2f}  {r['p99_ms']:>7.2f}")
    o = results["outbox"]
    print(
        f"\noutbox: 300 signals x 3 channels queued, digested, rendered, settled: "
        f"{o['burst_300x3_ms']:.2f} ms ({o['per_alert_us']:.1f} µs per alert)"
    )
    st = results["store"]
    print(
        f"store: a 300-signal batch {st['signals_only_us_per_signal']:.1f} µs per signal alone, "
        f"{st['with_alerts_us_per_signal']:.1f} µs with 3 alert rows each (x{st['ratio']:.2f}; "
        "best of 12 interleaved runs, synchronous=FULL); routing and encoding on the event "
        f"loop {st['route_us_per_signal']:.1f} µs per signal"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notify.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
