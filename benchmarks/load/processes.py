"""What every process of the benchmark shares: fd limit, JSON-line events, /proc readings."""

from __future__ import annotations

import json
import math
import os
import resource
import sys
from typing import Any

import trio


def raise_fd_limit(needed: int) -> int:
    """Raise the soft limit of open files to at least ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return int(soft)


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Lines:
    """Lines of a byte stream."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buf = b""

    async def next(self) -> bytes | None:
        while b"\n" not in self._buf:
            chunk = await self._stream.receive_some(1 << 20)
            if not chunk:
                rest, self._buf = self._buf, b""
                return rest or None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line


def cpu_s(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> dict[str, float]:
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(line.split()[1]) / 1024
    return {"rss_mib": values.get("VmRSS", math.nan), "peak_mib": values.get("VmHWM", math.nan)}
