"""Keeps channel secrets out of the libraries' log lines.

httpx logs every request's URL at INFO (``HTTP Request: POST …/bot<TOKEN>/sendMessage``), and
apprise logs URLs at DEBUG. The daemon runs stdlib logging at WARNING, but an operator may turn
it up: :func:`protect` registers a channel's secrets and puts one filter on those loggers that
rewrites any record mentioning one (``***`` instead).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from vyx.notify.channels import Channel

#: Loggers of the libraries that see notification URLs.
LOGGERS = ("httpx", "httpcore", "apprise")


class SecretFilter(logging.Filter):
    """Replaces every registered secret in a record's message by ``***``."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        if not secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = SecretFilter()


def protect(channels: Iterable[Channel]) -> None:
    """Register the secrets of ``channels`` (the filter is installed on first use)."""
    for channel in channels:
        _FILTER.add(channel.secrets)
    for name in LOGGERS:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)
