"""Fixtures: the PostgREST fake in-process, a store configuration in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from trio.testing import MockClock

from tests.vyx.store.supabase.fake_postgrest import SERVICE_KEY, FakePostgrest
from vyx.settings import StoreConfig, SupabaseConfig


@pytest.fixture
def fake() -> FakePostgrest:
    return FakePostgrest()


@pytest.fixture
def supabase_cfg() -> SupabaseConfig:
    return SupabaseConfig(url="http://supabase.test", service_key=SERVICE_KEY)


@pytest.fixture
def store_cfg(tmp_path: Path) -> StoreConfig:
    return StoreConfig(
        data_dir=tmp_path / "data",
        batch_rows=50,
        flush_interval_ms=100,
        buffer_rows=1000,
        final_flush_s=5.0,
    )


@pytest.fixture
def clock() -> MockClock:
    """Virtual time that jumps after 20 ms of real idleness: the spool's worker threads finish
    before time moves (pytest-trio's ``autojump_clock`` would jump while they run)."""
    return MockClock(autojump_threshold=0.02)
