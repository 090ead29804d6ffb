"""CPU per closed-kline frame, socket to ring, in the daemon's own code path.

A server thread sends a burst of pre-encoded combined-stream frames (100 symbols' closed 5m
klines, bar after bar) over loopback; the market's connection code (``run_shard``, the real
WebSocket client and frame parser) reads them and the history writer appends each to its ring,
as ``run_market`` does. The figure is the CPU time of the reading thread (``time.thread_time``:
the server thread's work is not counted) per frame. Also timed alone: the parse of one frame
and one ring append.

Also measured: ``vyx --help`` in a fresh interpreter (wall and CPU time, medians of five).
Run with ``uv run python -m benchmarks.frames_bench`` (``just bench``); writes
``bench-results/frames.json``.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import trio
import wsproto
from wsproto.events import AcceptConnection, Request, TextMessage

from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from vyx.market.connection import Shard, StreamConfig, run_shard
from vyx.market.frames import Kline, Ticker, kline_stream, parse_frame
from vyx.market.history import History

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"
SYMBOLS = 100
BARS = 60
TF = "5m"


def _frame(symbol: str, open_time: int, i: int) -> str:
    step = timeframe_ms(TF)
    k = {
        "t": open_time,
        "T": open_time + step - 1,
        "s": symbol,
        "i": TF,
        "f": 100 + i,
        "L": 200 + i,
        "o": f"{100 + i % 7:.8f}",
        "c": f"{101 + i % 5:.8f}",
        "h": f"{102 + i % 3:.8f}",
        "l": f"{99 + i % 11:.8f}",
        "v": f"{1000 + i:.8f}",
        "n": 71 + i % 13,
        "x": True,
        "q": f"{146321.715607 + i:.8f}",
        "V": f"{46.98201 + i:.8f}",
        "Q": f"{97009.7761741 + i:.8f}",
        "B": "0",
    }
    data = {"e": "kline", "E": open_time + step + 5, "s": symbol, "k": k}
    return json.dumps({"stream": kline_stream(symbol, TF), "data": data}, separators=(",", ":"))


def frames(symbols: list[str], bars: int, start: int) -> list[str]:
    """Closed frames of every symbol, bar after bar (as Binance sends a bucket)."""
    step = timeframe_ms(TF)
    return [
        _frame(s, start + b * step, b * len(symbols) + j)
        for b in range(bars)
        for j, s in enumerate(symbols)
    ]


def _serve_once(listener: socket.socket, payload: list[str]) -> None:
    conn, _ = listener.accept()
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    while True:
        ws.receive_data(conn.recv(65536))
        if any(isinstance(e, Request) for e in ws.events()):
            break
    conn.sendall(ws.send(AcceptConnection()))
    blob = b"".join(ws.send(TextMessage(data=f)) for f in payload)
    conn.sendall(blob)
    # Keep the socket open until the client goes away.
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass
    conn.close()


def socket_to_ring(n_symbols: int = SYMBOLS, bars: int = BARS) -> dict[str, float]:
    """Read a burst through the market's connection and writer; CPU µs per frame."""
    symbols = [f"S{i:03d}USDT" for i in range(n_symbols)]
    start = 1_700_000_000_000 // timeframe_ms(TF) * timeframe_ms(TF)
    payload = frames(symbols, bars, start)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    server = threading.Thread(target=_serve_once, args=(listener, payload), daemon=True)
    server.start()
    ring = RingBuffer(timeframe_ms(TF), 1000)
    history = History({TF: ring})
    for s in symbols:
        history.add_symbol(s)
        history.load(s, TF, [])
    n = len(payload)
    result: dict[str, float] = {}

    async def main() -> None:
        send, recv = trio.open_memory_channel[list[Kline | Ticker]](64)
        shard = Shard(0, [kline_stream(s, TF) for s in symbols])
        cfg = StreamConfig(ws_url=f"ws://127.0.0.1:{port}", stale_after_s=60.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_shard, cfg, shard, send)
            got = 0
            cpu0 = time.thread_time()
            async for batch in recv:
                # (before batches, a connection sent one event at a time)
                events = batch if isinstance(batch, list) else [batch]
                for event in events:
                    assert isinstance(event, Kline)
                    history.on_kline(event)
                got += len(events)
                if got == n:
                    break
            cpu = time.thread_time() - cpu0
            result["frames"] = n
            result["cpu_us_per_frame"] = cpu / n * 1e6
            nursery.cancel_scope.cancel()

    trio.run(main)
    listener.close()
    if history.counts().closed_appended != n:
        raise RuntimeError(f"{history.counts().closed_appended} of {n} frames reached the ring")
    result["parse_us"] = _per_call(lambda f: parse_frame(f), [p.encode() for p in payload[:2000]])
    return result


def _per_call(fn: Any, items: list[Any]) -> float:
    runs = []
    for _ in range(5):
        t0 = time.thread_time()
        for x in items:
            fn(x)
        runs.append((time.thread_time() - t0) / len(items))
    return statistics.median(runs) * 1e6


def help_seconds(runs: int = 5) -> tuple[float, float]:
    """``vyx --help`` in a fresh interpreter: median wall time (what a user waits) and median
    CPU time (the same, less the waits of a busy machine)."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vyx", "--help"], check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    """Run and print; write ``bench-results/frames.json``."""
    r = socket_to_ring()
    print(
        f"closed-kline frame, socket -> ring: {r['cpu_us_per_frame']:.1f} µs CPU per frame "
        f"({r['frames']:.0f} frames; target <= 30 µs); parse alone {r['parse_us']:.1f} µs"
    )
    r["help_s"], r["help_cpu_s"] = help_seconds()
    print(
        f"vyx --help: {r['help_s']:.2f} s wall, {r['help_cpu_s']:.2f} s CPU (medians of 5; "
        f"target <= 0.3 s)"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "frames.json").write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
