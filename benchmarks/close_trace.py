"""Where a close's time goes: a trace of each close, hop by hop, in the real daemon.

The reference workload of :mod:`benchmarks.bench_daemon` (the simulated exchange and ``vyx run``
in their own processes, a protocol-2 browser on ``/ws``), with the daemon started through this
module, which wraps a few methods to note ``time.perf_counter()`` (the monotonic clock, the
same in every process on Linux) at each hop of a close and writes the notes when it exits:

========== =================================================================================
hop        noted when
========== =================================================================================
frames     the market applies a closed kline (the bucket's last one counts)
screen     the screener starts the close (``Screener._bar_closed``)
screened   its matches are explained (``Screener._publish``)
delivery   the delivery takes the screen's batch (``Delivery._deliver``)
pushed     its ``signals_created`` is queued to the browsers (``Hub.broadcast``)
sent       a browser's writer has written it to the socket
browser    the browser received it (this process)
========== =================================================================================

Each is printed in ms after the exchange wrote the bucket's last closed frame, per close, then
the median and the worst over the closes. The wrapped names are private: a refactor that
renames one shows up here as a missing hop, never as a wrong time.

Run with ``uv run python -m benchmarks.close_trace`` (about a minute; not part of ``just
bench``).
"""

from __future__ import annotations

import atexit
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from benchmarks import bench_daemon as bd
from benchmarks import close_stalls
from benchmarks.latency_stats import bucket_spans

HOPS = ("frames", "screen", "screened", "delivery", "pushed", "sent", "browser")
CLOSES = 8
#: Closes whose surroundings are printed (the slowest to reach the browser).
SHOW_SLOWEST = 3


def _install(out: Path) -> None:
    """In the daemon's process: wrap the hops' methods; write the notes at exit."""
    from vyx.daemon.delivery import Delivery
    from vyx.market.history import History
    from vyx.screener.service import Screener
    from vyx.server.hub import Hub
    from vyx.server.session import _Session

    notes: list[tuple[float, str, str, int]] = []
    stalls = close_stalls.Notes()
    close_stalls.install(stalls)
    atexit.register(lambda: out.write_text(json.dumps({"hops": notes, **stalls.to_json()})))
    close: dict[str, Any] = {"tf": "", "open": 0}

    def note(hop: str) -> None:
        notes.append((time.perf_counter(), hop, close["tf"], close["open"]))

    on_kline = History.on_kline

    def kline(self: History, k: Any) -> Any:
        if k.closed:
            notes.append((time.perf_counter(), "frames", k.timeframe, k.open_time))
        return on_kline(self, k)

    def before(name: str, hop: str, cls: Any, track: bool = False) -> None:
        wrapped: Callable[..., Awaitable[Any]] = getattr(cls, name)

        async def wrapper(self: Any, *args: Any) -> Any:
            if track:
                close.update(tf=args[0].timeframe, open=args[0].open_time)
            note(hop)
            return await wrapped(self, *args)

        setattr(cls, name, wrapper)

    broadcast = Hub.broadcast

    def pushed(self: Hub, message: Any) -> int:
        if message.get("type") == "signals_created":
            note("pushed")
        return broadcast(self, message)

    write_loop = _Session.write_loop

    async def writer(self: _Session, scope: trio.CancelScope) -> None:
        send = self.send

        async def traced(message: Any) -> None:
            await send(message)
            if str(message.get("text", ""))[:30].startswith('{"type":"signals_created"'):
                note("sent")

        self.send = traced
        await write_loop(self, scope)

    History.on_kline = kline  # type: ignore[method-assign]
    before("_bar_closed", "screen", Screener, track=True)
    before("_publish", "screened", Screener)
    before("_deliver", "delivery", Delivery)
    Hub.broadcast = pushed  # type: ignore[method-assign]
    _Session.write_loop = writer  # type: ignore[method-assign]


def daemon_main(out: str, args: list[str]) -> None:
    """The daemon's process: ``vyx`` with the hops wrapped."""
    _install(Path(out))
    from vyx.cli import main

    sys.argv = ["vyx", *args]
    main()


def _timeline(
    notes: list[list[Any]], got: list[bd.Received], sent: dict[tuple[str, str, int], float]
) -> dict[tuple[str, int], dict[str, float]]:
    """Per 5m close: each hop's first note (the frames' last), ms after the bucket's last frame."""
    buckets = bucket_spans(sent)
    out: dict[tuple[str, int], dict[str, float]] = {}
    for r in got:
        key = (r.interval, r.open_time)
        if key in buckets:
            row = out.setdefault(key, {})
            row["browser"] = min(row.get("browser", r.at), r.at)
    for at, hop, tf, open_time in notes:
        key = (tf, open_time)
        if key not in out:
            continue
        row = out[key]
        if hop == "frames":
            row[hop] = max(row.get(hop, at), at)
        elif hop not in row:
            row[hop] = at
    for key, row in out.items():
        last = buckets[key][1]
        for hop in row:
            row[hop] = (row[hop] - last) * 1e3
    return out


def main() -> None:
    """Run the trace; print each close's hops and their median and worst."""
    if len(sys.argv) > 2 and sys.argv[1] == "daemon":
        # start_daemon runs ``[*python, "-m", "vyx", "run", ...]``: drop ``-m vyx``.
        daemon_main(sys.argv[2], sys.argv[5:])
        return
    closes_wanted = int(sys.argv[2]) if sys.argv[1:2] == ["--closes"] else CLOSES
    with tempfile.TemporaryDirectory(prefix="vyx-trace-") as d:
        tmp = Path(d)
        notes_path = tmp / "notes.json"
        launcher = (sys.executable, "-m", "benchmarks.close_trace", "daemon", str(notes_path))
        exchange = bd.start_exchange(tmp, "trace", bd.SPEED)
        try:
            daemon = bd.start_daemon(tmp, "trace", exchange, bd.REFERENCE, python=launcher)
            try:
                seconds = closes_wanted * 300 / bd.SPEED + 15
                got = trio.run(bd.browse, daemon.ws_url, seconds, closes_wanted + 1)
            finally:
                daemon.stop()
        finally:
            sent = exchange.stop()
        notes = json.loads(notes_path.read_text())
        rows = _timeline(notes["hops"], got, sent)
    closes = sorted(rows.items())[1:]  # the first may have been half-received
    print("ms after the bucket's last closed frame was written, per 5m close:")
    print("close          " + "".join(f"{h:>10}" for h in HOPS))
    for (_, open_time), row in closes:
        print(f"{open_time:<15}" + "".join(f"{row.get(h, math.nan):10.1f}" for h in HOPS))
    for name, pick in (("median", statistics.median), ("worst", max)):
        values = [[row[h] for _, row in closes if h in row] for h in HOPS]
        print(f"{name:<15}" + "".join(f"{pick(v) if v else math.nan:10.1f}" for v in values))
    _print_slowest(notes, closes, bucket_spans(sent))


def _print_slowest(
    notes: dict[str, Any],
    closes: list[tuple[tuple[str, int], dict[str, float]]],
    buckets: dict[tuple[str, int], tuple[float, float]],
) -> None:
    """What else the daemon did from each slowest close's first frame to its browser (+ 5 ms),
    in ms after the bucket's last frame; then the whole run's summary."""
    slowest = sorted(closes, key=lambda kv: -kv[1].get("browser", math.inf))[:SHOW_SLOWEST]
    for key, row in sorted(slowest):
        first, last = buckets[key]
        end = last + (row.get("browser", 0.0) + 5) / 1e3
        print(f"close {key[1]} ({key[0]}), what the daemon did meanwhile:")
        for line in close_stalls.window(notes, last, first, end):
            print(line)
    since = min((buckets[key][0] for key, _ in closes), default=0.0)
    print("from the first close on:")
    for line in close_stalls.summary(notes, since):
        print(line)


if __name__ == "__main__":
    main()
