"""The command line: flags, the run, the results block and ``--out``; the exit status."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import trio

from benchmarks.soak.report import report
from benchmarks.soak.runner import Soak
from benchmarks.soak.settings import RESULTS
from benchmarks.soak.state import SoakError


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks import soak  # the package's docstring describes the soak

    description = (soak.__doc__ or "").split("\n\n")[0]
    p = argparse.ArgumentParser(prog="just soak", description=description)
    p.add_argument("--days", type=float, default=7.0, help="market days after ready (7)")
    p.add_argument("--symbols", type=int, default=100, help="symbols (100)")
    p.add_argument("--traders", type=int, default=20, help="reference traders, on 1m (20)")
    p.add_argument("--bar-ms", type=float, default=75.0, help="real ms per 1m candle (75)")
    p.add_argument(
        "--warmup-days", type=float, default=None, help="excluded from the slope (days/7, >= 0.02)"
    )
    p.add_argument("--sample-s", type=float, default=2.0, help="sampling period, s (2)")
    p.add_argument("--seed", type=int, default=5, help="exchange seed (5)")
    p.add_argument(
        "--lifetime-hours",
        type=float,
        default=24.0,
        help="market hours per exchange connection "
        "before the exchange cuts it, as Binance's 24 h limit (0: never)",
    )
    p.add_argument("--workers", type=int, default=1, help="daemon WORKERS (1)")
    p.add_argument("--start-timeout", type=float, default=600.0, help="s to wait for ready")
    p.add_argument("--stall-timeout", type=float, default=120.0, help="s without progress: abort")
    p.add_argument("--log-level", default="WARNING", help="daemon LOG_LEVEL (WARNING)")
    p.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = p.parse_args(argv)
    if args.warmup_days is None:
        args.warmup_days = max(0.02, args.days / 7)
    if not 0 <= args.warmup_days < args.days:
        p.error("--warmup-days must be below --days")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the soak, print the results block, write ``--out``; exit 1 if a check failed."""
    args = _args(argv)
    print(
        f"soak: {args.days:g} days x {args.symbols} symbols, a 1m candle every {args.bar_ms:g} ms "
        f"(about {args.days * 1440 * args.bar_ms / 60_000:.1f} min after start-up)",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="vyx-soak-") as tmp:
        soak = Soak(args, Path(tmp))
        try:
            r = trio.run(soak.run)
        except (SoakError, KeyboardInterrupt) as exc:
            soak.stop()
            print(f"\nsoak aborted: {exc}", file=sys.stderr)
            sys.exit(2)
        finally:
            soak.stop()
            # The logs stay next to the results (the work directory goes).
            args.out.parent.mkdir(parents=True, exist_ok=True)
            for name in ("daemon.log", "exchange.log"):
                with suppress(OSError):
                    (args.out.parent / f"soak-{name}").write_bytes((Path(tmp) / name).read_bytes())
    print(report(r))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=1))
    print(f"  written to {args.out}")
    sys.exit(0 if r["ok"] else 1)
