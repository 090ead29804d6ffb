"""What a soak run holds (shared by its parts), the error that aborts it, and log tails."""

from __future__ import annotations

import argparse
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any

from benchmarks.soak.records import Browser, Sample


def log_tail(path: Path, n: int = 30) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    return ""


class SoakError(Exception):
    """The run could not go on (the message says why)."""


class SoakState:
    """The run's arguments, work directory, processes, samples and findings."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.dir = workdir
        self.speed = 60_000.0 / args.bar_ms
        self.samples: list[Sample] = []
        self.browser = Browser()
        self.exchange: subprocess.Popen[str] | None = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.first_upto = 0.0
        self.ready_at = 0.0
        #: Samples after the exchange stopped and the daemon finished its work.
        self.idle: list[Sample] = []
        self.last_metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
