"""Shared fixtures: where ../shared/data is, and the rule for when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (or ``$VYX_SHARED_DATA``), None if absent."""
    configured = os.environ.get("VYX_SHARED_DATA")
    path = Path(configured) if configured else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference data; skips (fails under VYX_REQUIRE_SHARED_DATA=1) when absent."""
    path = shared_data_dir()
    if path is None:
        reason = (
            "../shared/data is not present (set VYX_SHARED_DATA to its location); "
            "tests against real Binance/Gemini/Fly recordings are skipped"
        )
        if os.environ.get("VYX_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
