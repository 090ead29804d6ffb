"""Fixtures of the server tests: hypercorn as the server runs it; one Chromium per module for
the dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vyx.server import hypercorn_patch, hypercorn_tcp_patch

from .browser import Browser, chromium_path


@pytest.fixture(autouse=True, scope="session")
def _hypercorn_fixed() -> None:
    """hypercorn with vyx's fixes, as every server runs it (``run_server`` installs them when
    it starts): some tests drive hypercorn's connection classes without a server."""
    hypercorn_patch.apply()
    hypercorn_tcp_patch.apply()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module's tests."""
    executable = chromium_path()
    driver = Browser()
    driver.start(executable)
    try:
        yield driver
    finally:
        driver.stop()
