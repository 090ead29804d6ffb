"""Soak: days of 1m candles for many symbols replayed fast through the daemon, sampled throughout.

Three processes on loopback, as in production: the simulated exchange (its own process, so its
frame production does not share the daemon's CPU), the daemon exactly as a user runs it
(``python -m vyx run --traders FILE``, embedded mode, SQLite store, no analyst), and this one,
which measures from outside:

- the daemon's RSS, open file descriptors and threads (``/proc`` through psutil);
- its own statistics from ``/metrics``: trio tasks, queue depths (market events, store, analysis),
  screens and bars screened per timeframe, screen time, signals, reconnects;
- one browser on ``/ws`` for the whole run (the push path): it must keep receiving signals.

The 20 reference traders of ``benchmarks/workload.py`` run on 1m (two read 1h through ``on()``).
The exchange plays a 1m candle every ``--bar-ms`` ms (no forming updates, a ticker every 5 market
minutes) and cuts every connection after 24 market hours, as Binance does. The run covers
``--days`` of market time after the daemon is ready. At the end the exchange stops sending (a
stall, so every bucket already out is whole), the daemon gets the grace time to announce the
last bucket, and the counts are compared: bars screened must equal closes x symbols.

Results (printed, and written to ``bench-results/soak.json`` with the samples): RSS after the
warm-up, at the end, peak, and its least-squares slope over the post-warm-up samples (MiB per
simulated day and per real hour); fds, threads and tasks at the start and end of that window;
queue depths; signals produced and pushed; screens and bars screened vs expected; screen time
p50/p99 (interpolated in the histogram's buckets). Exit status 1 when a check fails.

Run with ``just soak`` (a week, 100 symbols: about 13 minutes) or ``just soak --days 0.2
--symbols 30`` for a short run. The default speed (a candle every 75 ms) leaves the daemon half
of a core: at 100 symbols x 20 traders a 1m bar costs it about 40 ms of CPU (about 46 signals
stored and pushed per bar). When the closes back up (a [warn] line says so), use a larger
``--bar-ms``: backed up, a 24 h cut leaves a hole deeper than the ring, reloaded, not screened.
"""

from benchmarks.soak.cli import main
from benchmarks.soak.processes import traders_toml
from benchmarks.soak.prometheus import histogram_quantile, metric, scrape
from benchmarks.soak.records import Browser, Sample
from benchmarks.soak.report import report
from benchmarks.soak.results import slope
from benchmarks.soak.runner import Soak
from benchmarks.soak.settings import RESULTS, START_MS, TIMEFRAME
from benchmarks.soak.state import SoakError

__all__ = [
    "RESULTS",
    "START_MS",
    "TIMEFRAME",
    "Browser",
    "Sample",
    "Soak",
    "SoakError",
    "histogram_quantile",
    "main",
    "metric",
    "report",
    "scrape",
    "slope",
    "traders_toml",
]
