"""Logging: loguru to stderr, human-readable locally, one JSON object per line with
``LOG_FORMAT=json`` (for Fly's log shipping)."""

from __future__ import annotations

import logging
import sys

from loguru import logger

from vyx.settings import LogConfig


class _ToLoguru(logging.Handler):
    """Routes stdlib logging (hypercorn, httpx) through loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        level: str | int
        try:
            level = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(cfg: LogConfig) -> None:
    """Configure loguru once for the process."""
    logger.remove()
    if cfg.format == "json":
        logger.add(sys.stderr, level=cfg.level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(
            sys.stderr,
            level=cfg.level,
            format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}",
            backtrace=False,
            diagnose=False,  # never print local variables: they may hold secrets
        )
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)
