"""A readers process (``--role=readers``): ``--count`` readers, their results as one event."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from typing import Any

import trio

from benchmarks.load.processes import Lines, emit, raise_fd_limit
from benchmarks.load.reader import ReaderResult, run_reader
from benchmarks.load.tokens import Tokens


async def readers_main(port: int, first: int, count: int, fd_limit: int) -> None:
    raise_fd_limit(fd_limit)
    tokens = Tokens()
    ready = 0

    def one_ready() -> None:
        nonlocal ready
        ready += 1
        if ready == count:
            emit({"event": "ready", "n": count})

    results: list[ReaderResult | str] = [""] * count
    #: The last sequence number each reader got (None: it has ended).
    last: list[int | None] = [-1] * count

    async def one(i: int) -> None:
        def got(seq: int) -> None:
            last[i] = seq

        try:
            results[i] = await run_reader(
                port,
                tokens.make(),
                via_message=(first + i) % 2 == 1,
                ready=one_ready,
                on_message=got,
            )
        except Exception as exc:
            results[i] = f"{type(exc).__name__}: {exc}"
        last[i] = None

    async def answer_progress() -> None:
        # "progress" on stdin -> the lowest sequence number every live reader has got.
        stdin = Lines(trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())))
        while (await stdin.next()) is not None:
            live = [x for x in last if x is not None]
            emit({"event": "progress", "min_seq": min(live, default=None), "live": len(live)})

    async with trio.open_nursery() as outer:
        outer.start_soon(answer_progress)
        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(one, i)
                if i % 50 == 49:
                    await trio.sleep(0.05)  # let the server accept: no SYN-backlog drops
        outer.cancel_scope.cancel()
    latencies: dict[str, list[float]] = defaultdict(list)
    fan_out: dict[int, tuple[str, float]] = {}
    summary: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, str):
            summary.append({"error": r})
            continue
        for phase, values in r.latencies.items():
            latencies[phase].extend(round(v, 7) for v in values)
        for seq, (phase, value) in r.by_seq.items():
            if seq not in fan_out or fan_out[seq][1] < value:
                fan_out[seq] = (phase, value)
        summary.append(
            {
                "received": r.received,
                "missing": r.missing,
                "out_of_order": r.out_of_order,
                "closed_early": r.closed_early,
                "end_total": r.end_total,
            }
        )
    emit({"event": "result", "latencies": latencies, "fan_out": fan_out, "readers": summary})
