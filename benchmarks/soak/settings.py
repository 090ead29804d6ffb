"""Where results go, when the simulated market starts, and the timeframe the traders run on."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"
#: Market time when the exchange starts: Monday 2025-01-06 00:00 UTC (seeded, reproducible).
START_MS = 1_736_121_600_000
TIMEFRAME = "1m"
