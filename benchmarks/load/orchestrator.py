"""The orchestrator: starts the server and readers processes and runs the phases against them."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import trio

from benchmarks.load.bad_attempts import EXPECTED, plan_attempts, run_attempts
from benchmarks.load.processes import Lines, cpu_s, raise_fd_limit, rss_mib
from benchmarks.load.stalled import open_stalled, stalled_outcome
from benchmarks.load.tokens import Tokens


def log(text: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


class _Proc:
    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self.lines = Lines(proc.stdout)
        #: The server's first "dropped" event, whenever it was read.
        self.first_drop: dict[str, Any] | None = None

    async def event(self, *kinds: str, timeout_s: float = 120) -> dict[str, Any]:
        """The next output event of one of ``kinds`` (others are skipped)."""
        with trio.fail_after(timeout_s):
            while True:
                line = await self.lines.next()
                if line is None:
                    raise RuntimeError(f"process {self.proc.pid} ended: {self.proc.returncode}")
                event: dict[str, Any] = json.loads(line)
                if event["event"] == "dropped" and self.first_drop is None:
                    self.first_drop = event
                if event["event"] in kinds:
                    return event

    async def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all((json.dumps(cmd) + "\n").encode())


async def _delivered(readers: list[_Proc], seq: int, timeout_s: float = 300) -> None:
    """Wait until every live reader has got message ``seq``."""
    with trio.fail_after(timeout_s):
        while True:
            behind = 0
            for r in readers:
                await r.send({"cmd": "progress"})
                got = await r.event("progress")
                if got["min_seq"] is not None and got["min_seq"] < seq:
                    behind += 1
            if not behind:
                return
            await trio.sleep(0.02)


async def _spawn(*args: str) -> _Proc:
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "benchmarks.load", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    return _Proc(proc)


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    fd_limit = args.clients + args.bad_concurrency * 2 + 1024
    raise_fd_limit(fd_limit)
    server = await _spawn(
        "--role=server",
        f"--queue-size={args.queue_size}",
        f"--fd-limit={fd_limit}",
        *([f"--profile-server={args.profile_server}"] if args.profile_server else []),
    )
    readers: list[_Proc] = []
    tokens = Tokens()
    try:
        listening = await server.event("listening")
        port, pid = int(listening["port"]), int(listening["pid"])
        await trio.sleep(0.5)
        rss = {"idle": rss_mib(pid)}
        log(f"server pid {pid} on port {port}; RSS {rss['idle']['rss_mib']:.0f} MiB")

        per = math.ceil(args.clients / args.reader_procs)
        connect_started = time.perf_counter()
        for first in range(0, args.clients, per):
            n = min(per, args.clients - first)
            readers.append(
                await _spawn(
                    "--role=readers",
                    f"--port={port}",
                    f"--first={first}",
                    f"--count={n}",
                    f"--fd-limit={n + 256}",
                )
            )
        for r in readers:
            await r.event("ready", timeout_s=120)
        connect_s = time.perf_counter() - connect_started
        log(f"{args.clients} readers authenticated in {connect_s:.1f} s")
        stalled = await open_stalled(port, tokens.make())
        await server.send({"cmd": "stats"})
        stats = await server.event("stats")
        assert stats["clients"] >= args.clients, stats
        while stats["clients"] != args.clients + 1:
            await trio.sleep(0.05)
            await server.send({"cmd": "stats"})
            stats = await server.event("stats")
        rss["connected"] = rss_mib(pid)
        procs = {"server": [pid], "readers": [r.proc.pid for r in readers]}
        cpu: dict[str, dict[str, float]] = {}

        def cpu_mark(phase: str) -> None:
            cpu[phase] = {k: sum(cpu_s(x) for x in v) for k, v in procs.items()}
            cpu[phase]["wall"] = time.perf_counter()

        cpu_mark("start")
        log(f"{stats['clients']} clients (one stalled); RSS {rss['connected']['rss_mib']:.0f} MiB")

        # Phase 1: baseline.
        base_n = int(args.rate * args.baseline_s)
        log(f"baseline: {base_n} broadcasts at {args.rate}/s")
        broadcasting_from = time.perf_counter()
        await server.send(
            {"cmd": "steady", "phase": "baseline", "rate": args.rate, "count": base_n}
        )
        await server.event("done", timeout_s=args.baseline_s + 60)
        cpu_mark("baseline")

        # Phase 2: candle-close bursts, until the stalled client is dropped (or --max-bursts).
        log(
            f"bursts: {args.burst_size} back to back every {args.burst_gap_s} s, at least "
            f"{args.bursts} and until the stalled client is dropped (at most {args.max_bursts})"
        )
        bursts = 0
        burst_last: list[int] = []
        while bursts < args.bursts or (server.first_drop is None and bursts < args.max_bursts):
            await server.send({"cmd": "burst", "phase": "burst", "size": args.burst_size})
            burst_last.append(int((await server.event("done", timeout_s=600))["last"]))
            # The next close comes after this one's signals were delivered (closes are >= 1 min
            # apart in real life).
            await _delivered(readers, burst_last[-1])
            bursts += 1
            if bursts % 10 == 0:
                log(f"  {bursts} bursts")
            await trio.sleep(args.burst_gap_s)
        await server.send({"cmd": "stats"})
        await server.event("stats")
        dropped = server.first_drop
        if dropped is None:
            log("the stalled client was NOT dropped")
        else:
            log(
                f"stalled client dropped after {dropped['broadcasts']} broadcasts, "
                f"{dropped['t'] - broadcasting_from:.1f} s after broadcasting began"
            )
        cpu_mark("burst")
        stalled_close = await stalled_outcome(stalled)
        rss["after_bursts"] = rss_mib(pid)
        cpu_mark("stalled")

        # Phase 3: bad attempts during steady broadcasts.
        kinds = plan_attempts(args.bad, args.seed)
        log(f"bad: {args.bad} attempts ({args.bad_concurrency} at a time) during {args.rate}/s")
        await server.send({"cmd": "steady", "phase": "bad", "rate": args.rate})

        def progress(n: int) -> None:
            if n % 100 == 0 or n == len(kinds):
                log(f"  {n}/{len(kinds)} bad attempts done")

        bad = await run_attempts(
            kinds,
            port,
            tokens,
            auth_timeout_s=10.0,
            concurrency=args.bad_concurrency,
            progress=progress,
        )
        await server.send({"cmd": "stop"})
        await server.event("done")
        cpu_mark("bad")
        rss["after_bad"] = rss_mib(pid)

        # Phase 4: a few more after the flood, then the end marker.
        after_n = max(1, int(args.rate * 2))
        await server.send({"cmd": "steady", "phase": "after", "rate": args.rate, "count": after_n})
        await server.event("done")
        await server.send({"cmd": "stats"})
        final_stats = await server.event("stats")
        await server.send({"cmd": "end"})
        total = int((await server.event("ended"))["total"])
        log(f"{total} stamped broadcasts; collecting reader results")
        latencies: dict[str, list[float]] = defaultdict(list)
        fan_out: dict[int, tuple[str, float]] = {}
        summaries: list[dict[str, Any]] = []
        for r in readers:
            result = await r.event("result", timeout_s=120)
            for phase, values in result["latencies"].items():
                latencies[phase].extend(values)
            for seq, (phase, value) in result["fan_out"].items():
                if int(seq) not in fan_out or fan_out[int(seq)][1] < value:
                    fan_out[int(seq)] = (phase, value)
            summaries.extend(result["readers"])
        await trio.sleep(0.5)
        rss["end"] = rss_mib(pid)
        await server.send({"cmd": "quit"})
        with trio.move_on_after(15):
            await server.proc.wait()
    finally:
        for p in [server, *readers]:
            if p.proc.returncode is None:
                p.proc.kill()
                await p.proc.wait()

    errors = [s["error"] for s in summaries if "error" in s]
    ok = [s for s in summaries if "error" not in s]
    phases = ("baseline", "burst", "bad", "after")
    return {
        "params": vars(args),
        "connect_s": connect_s,
        "stamped_broadcasts": total,
        "latency": {p: _quantiles(latencies[p]) for p in phases},
        "fan_out": {p: _quantiles([v for ph, v in fan_out.values() if ph == p]) for p in phases},
        # A burst's last message reaching its last reader: the whole close delivered.
        "burst_delivered": _quantiles([fan_out[b][1] for b in burst_last if b in fan_out]),
        "readers": {
            "count": len(summaries),
            "errors": errors[:5],
            "error_count": len(errors),
            "missing_total": sum(total - s["received"] for s in ok),
            "readers_missing_any": sum(1 for s in ok if s["received"] < total),
            "out_of_order_total": sum(s["out_of_order"] for s in ok),
            "closed_early": [s["closed_early"] for s in ok if s["closed_early"]][:5],
            "closed_early_count": sum(1 for s in ok if s["closed_early"]),
            "without_end_marker": sum(1 for s in ok if s["end_total"] != total),
        },
        "stalled": {
            "dropped": dropped is not None,
            "broadcasts_until_drop": dropped["broadcasts"] if dropped else None,
            "bursts": bursts,
            "seconds_until_drop": dropped["t"] - broadcasting_from if dropped else None,
            "close_seen": stalled_close,
            "server_dropped_slow": final_stats["dropped_slow"],
        },
        "bad": {
            "attempts": args.bad,
            "elapsed_s": bad.elapsed_s,
            "outcomes": bad.outcomes,
            "expected": {k: EXPECTED[k] for k in bad.outcomes},
            "wrong": bad.wrong,
        },
        "server_final": final_stats,
        # CPU seconds used in each phase, and its wall time.
        "cpu_s": {
            phase: {k: v - cpu[before][k] for k, v in cpu[phase].items()}
            for before, phase in itertools.pairwise(cpu)
        },
        "server_rss_mib": rss,
        "loadavg_1m": os.getloadavg()[0],
    }
