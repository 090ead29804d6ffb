"""What the soak records: one look at the daemon, and the browser's tally."""

from __future__ import annotations

import attrs


@attrs.define
class Sample:
    """One look at the daemon."""

    t: float  # real seconds since the daemon was ready
    day: float  # simulated days screened since the first live close
    rss_mib: float
    fds: int
    threads: int
    cpu_s: float
    exchange_cpu_s: float
    tasks: float
    events: float  # market -> screener queue
    store: float  # rows waiting for the store
    analysis: float
    ws_clients: float
    screens: float
    bars: float
    upto_ms: float
    signals: float
    pushed: int  # signal_created messages the browser received
    reconnects: float
    lag_bars: float  # newest close the exchange sent - newest screened, in bars
    exchange_lag_bars: float  # exchange market time - newest close it sent (its own backlog)


@attrs.define
class Browser:
    """The one browser connected for the whole run."""

    signals: int = 0
    messages: int = 0
    connects: int = 0
    drops: list[str] = attrs.Factory(list)
