"""Fixtures of the server tests: one Chromium per module for the dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .browser import Browser, chromium_path


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
