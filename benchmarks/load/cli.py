"""The command line: the orchestrator by default, or one process role (``--role``)."""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import trio

from benchmarks.load.orchestrator import log, orchestrate
from benchmarks.load.readers_role import readers_main
from benchmarks.load.report import print_results
from benchmarks.load.server_role import server_main

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


def main(argv: list[str] | None = None) -> None:
    """Run the load benchmark (or one of its processes)."""
    from benchmarks import load  # the package's docstring describes the benchmark

    description = (load.__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="just load", description=description)
    parser.add_argument("--clients", type=int, default=500, help="authenticated readers")
    parser.add_argument("--bad", type=int, default=1000, help="bad connection attempts")
    parser.add_argument("--bad-concurrency", type=int, default=50)
    parser.add_argument("--reader-procs", type=int, default=2, help="processes for the readers")
    parser.add_argument("--rate", type=float, default=2.0, help="steady broadcasts per second")
    parser.add_argument("--baseline-s", type=float, default=10.0)
    parser.add_argument("--bursts", type=int, default=8, help="candle closes at least")
    parser.add_argument("--max-bursts", type=int, default=400)
    parser.add_argument("--burst-size", type=int, default=50, help="signals of one candle close")
    parser.add_argument(
        "--burst-gap-s", type=float, default=0.5, help="pause after a burst was delivered"
    )
    parser.add_argument("--queue-size", type=int, default=256, help="server's per-client queue")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--budget-p99-ms",
        type=float,
        default=100.0,
        help="p99 of a single broadcast's latency to every reader that counts as within budget",
    )
    parser.add_argument("--profile-server", metavar="PATH", help="cProfile the server into PATH")
    parser.add_argument("--role", choices=["orchestrator", "server", "readers"], default=None)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--fd-limit", type=int, default=4096, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "server":
        if args.profile_server:
            import cProfile

            with cProfile.Profile() as profile:
                trio.run(server_main, args.queue_size, 50, args.fd_limit)
            profile.dump_stats(args.profile_server)
        else:
            trio.run(server_main, args.queue_size, 50, args.fd_limit)
        return
    if args.role == "readers":
        trio.run(readers_main, args.port, args.first, args.count, args.fd_limit)
        return
    log(f"soft fd limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    result = trio.run(orchestrate, args)
    print_results(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2))
