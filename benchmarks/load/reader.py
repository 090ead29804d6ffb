"""One reader: a browser that authenticates and records every stamped message it gets."""

from __future__ import annotations

import json
from collections.abc import Callable

import attrs
import trio

from benchmarks.load.wsclient import STEP_S, Ws


@attrs.define
class ReaderResult:
    """What one reader saw."""

    received: int = 0
    #: Stamped messages it should have had and did not get (once the end marker told the total).
    missing: int = 0
    #: Stamped messages that came with a sequence number not above the previous one.
    out_of_order: int = 0
    #: How the server closed it before the end marker, if it did: ``"1013 client too slow"``.
    closed_early: str | None = None
    #: The total the end marker announced (None: no end marker).
    end_total: int | None = None
    #: phase -> latencies in seconds, in arrival order.
    latencies: dict[str, list[float]] = attrs.field(factory=dict)
    #: seq -> (phase, latency), for the fan-out time of each message.
    by_seq: dict[int, tuple[str, float]] = attrs.field(factory=dict)


async def run_reader(
    port: int,
    token: str,
    *,
    via_message: bool,
    ready: Callable[[], None],
    on_message: Callable[[int], None] | None = None,
) -> ReaderResult:
    """A browser: authenticate, read ``hello`` and ``snapshot``, call ``ready``, then record
    every stamped message (and call ``on_message(seq)``) until the end marker (or until the
    server closes it)."""
    target = "/ws" if via_message else f"/ws?access_token={token}"
    result = ReaderResult()
    ws = await Ws.open(port, target)
    try:
        if via_message:
            await ws.send_text(json.dumps({"type": "auth", "data": {"token": token}}))
        backlog: list[tuple[float, str | bytes]] = []
        with trio.fail_after(STEP_S):
            while len(backlog) < 2:
                batch = await ws.receive()
                if ws.close is not None and not batch:
                    raise RuntimeError(f"reader closed during the greeting: {ws.close}")
                backlog.extend(batch)
        greeting = [json.loads(m)["type"] for _, m in backlog[:2]]
        if greeting != ["hello", "snapshot"]:
            raise RuntimeError(f"unexpected greeting {greeting}")
        backlog = backlog[2:]
        ready()
        last = -1
        seen: set[int] = set()
        while result.end_total is None:
            batch, backlog = backlog or await ws.receive(), []
            if not batch and ws.close is not None:
                result.closed_early = f"{ws.close[0]} {ws.close[1]}".strip()
                break
            for arrival, text in batch:
                data = json.loads(text).get("data") or {}
                if "loadSeq" in data:
                    seq = int(data["loadSeq"])
                    latency = arrival - float(data["loadT"])
                    result.received += 1
                    if seq <= last:
                        result.out_of_order += 1
                    last = max(last, seq)
                    seen.add(seq)
                    phase = str(data["loadPhase"])
                    result.latencies.setdefault(phase, []).append(latency)
                    result.by_seq[seq] = (phase, latency)
                    if on_message is not None:
                        on_message(seq)
                elif "loadEnd" in data:
                    result.end_total = int(data["loadEnd"])
        if result.end_total is not None:
            result.missing = sum(1 for s in range(result.end_total) if s not in seen)
    finally:
        await ws.aclose()
    return result
