"""Store fixtures: a StoreConfig in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from vyx.settings import StoreConfig


@pytest.fixture
def store_cfg(tmp_path: Path) -> StoreConfig:
    return StoreConfig(
        data_dir=tmp_path / "data",
        batch_rows=10,
        flush_interval_ms=250,
        buffer_rows=100,
        final_flush_s=5.0,
    )
