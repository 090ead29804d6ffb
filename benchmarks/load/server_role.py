"""The server process (``--role=server``): the real hub, broadcasting as stdin commands it."""

from __future__ import annotations

import json
import os
import sys
import time

import attrs
import trio

from benchmarks.load.messages import end_marker, stamped
from benchmarks.load.processes import Lines, emit, raise_fd_limit
from benchmarks.load.tokens import SECRET, USER_ID


async def server_main(queue_size: int, snapshot_signals: int, fd_limit: int) -> None:
    from loguru import logger

    from vyx.server import AuthConfig, ServerConfig, ServerDeps, Snapshot, run_server
    from vyx.telemetry.metrics import Metrics

    raise_fd_limit(fd_limit)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    snap = Snapshot(
        signals=[stamped(i, "snapshot")["data"] for i in range(snapshot_signals)],
        traders=[
            {"id": f"trader-{i}", "name": f"Trader {i}", "state": "running"} for i in range(20)
        ],
        status={"status": "running", "symbols": 100, "traders": 20},
    )
    cfg = ServerConfig(
        host="127.0.0.1",
        port=0,
        auth=AuthConfig(user_id=USER_ID, jwt_secret=SECRET),
        client_queue_size=queue_size,
    )
    deps = ServerDeps(snapshot=lambda: snap, metrics=Metrics())
    seq = 0
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_server, cfg, deps)
        emit({"event": "listening", "port": handle.port, "pid": os.getpid()})

        async def watch_drops() -> None:
            seen = 0
            while True:
                stats = handle.statistics()
                if stats.dropped_slow > seen:
                    seen = stats.dropped_slow
                    emit(
                        {
                            "event": "dropped",
                            "t": time.perf_counter(),
                            "broadcasts": stats.broadcasts,
                            "clients": stats.clients,
                            "dropped_slow": seen,
                        }
                    )
                await trio.sleep(0.05)  # statistics() walks every connection: not too often

        nursery.start_soon(watch_drops)

        def broadcast(phase: str) -> None:
            nonlocal seq
            handle.broadcast(stamped(seq, phase))
            seq += 1

        steady_stop = trio.Event()

        async def steady(phase: str, rate: float, count: int | None) -> None:
            sent, start = 0, trio.current_time()
            while (count is None or sent < count) and not steady_stop.is_set():
                with trio.move_on_at(start + sent / rate):
                    await steady_stop.wait()
                if steady_stop.is_set():
                    break
                broadcast(phase)
                sent += 1
            emit({"event": "done", "phase": phase, "sent": sent, "last": seq - 1})

        stdin = Lines(trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())))
        while (line := await stdin.next()) is not None:
            cmd = json.loads(line)
            match cmd["cmd"]:
                case "steady":
                    steady_stop = trio.Event()
                    nursery.start_soon(steady, cmd["phase"], cmd["rate"], cmd.get("count"))
                case "stop":
                    steady_stop.set()
                case "burst":
                    for _ in range(cmd["size"]):
                        broadcast(cmd["phase"])
                    emit({"event": "done", "phase": cmd["phase"], "last": seq - 1})
                case "end":
                    handle.broadcast(end_marker(seq))
                    emit({"event": "ended", "total": seq})
                case "stats":
                    emit({"event": "stats", **attrs.asdict(handle.statistics())})
                case "quit":
                    break
        handle.shutdown()  # graceful: every client is closed with 1001
        nursery.cancel_scope.cancel()
