"""Load: many authenticated browsers plus one that never reads, and a flood of bad connections.

What runs where (each in its own process, so the clients' CPU is not the server's):

- the **server**: ``vyx.server.run_server`` with its real hub, authenticating Supabase access
  tokens (HS256 with ``SUPABASE_JWT_SECRET``, as a cloud machine does), driven over stdin by this
  script: it broadcasts ``signal_created`` messages the size of real ones, each stamped with
  ``time.perf_counter()`` just before ``ServerHandle.broadcast`` (CLOCK_MONOTONIC: comparable
  across processes on Linux). The server alone, not the whole daemon: the broadcast path is the
  thing under load, and a daemon would make the signal rate depend on the market; the daemon's
  own close-to-browser latency is ``just bench``'s.
- **readers** (``--clients``, split over ``--reader-procs`` processes): half authenticate with
  ``?access_token=``, half with a first ``auth`` message; each records every message's latency
  (arrival minus stamp) and checks it got every stamped message once, in order.
- this process: the **stalled** client (a tiny receive buffer, never reads after the handshake)
  and the **bad** connection attempts (``--bad``, every kind of :data:`EXPECTED`, seeded order),
  each checked against the rejection it must get.

Phases: baseline (``--rate`` steady broadcasts: a single broadcast's latency), bursts (a candle
close's worth of signals back to back, the next one once every reader has the last, as closes are
minutes apart; repeated until the stalled client overflows its queue and is dropped), bad (steady
broadcasts while the bad attempts run: do the readers notice?), after, then an end marker. Prints
a results block (latency per phase against ``--budget-p99-ms``, which the issue leaves open; the
CPU each side used per phase, to tell a slow server from slow readers) and writes
``bench-results/load.json``.

Run with ``just load`` (the issue's sizes: 500 clients, 1,000 bad attempts) or e.g.
``just load --clients 50 --bad 100`` on a busy machine.
"""

from benchmarks.load.bad_attempts import (
    EXPECTED,
    SLOW_KINDS,
    BadReport,
    attempt,
    plan_attempts,
    run_attempts,
)
from benchmarks.load.cli import main
from benchmarks.load.messages import end_marker, stamped
from benchmarks.load.processes import raise_fd_limit
from benchmarks.load.reader import ReaderResult, run_reader
from benchmarks.load.stalled import open_stalled, stalled_outcome
from benchmarks.load.tokens import OTHER_USER_ID, SECRET, USER_ID, Tokens
from benchmarks.load.wsclient import STEP_S, Rejected, Ws

__all__ = [
    "EXPECTED",
    "OTHER_USER_ID",
    "SECRET",
    "SLOW_KINDS",
    "STEP_S",
    "USER_ID",
    "BadReport",
    "ReaderResult",
    "Rejected",
    "Tokens",
    "Ws",
    "attempt",
    "end_marker",
    "main",
    "open_stalled",
    "plan_attempts",
    "raise_fd_limit",
    "run_attempts",
    "run_reader",
    "stalled_outcome",
    "stamped",
]
