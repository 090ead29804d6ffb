"""Shared fixtures: where ../shared/data is, and the rule for when it is missing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.vyx.store.supabase.postgres import Databases, postgres_bin, running_postgres

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (or ``$VYX_SHARED_DATA``), None if absent."""
    configured = os.environ.get("VYX_SHARED_DATA")
    path = Path(configured) if configured else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


def _absent(reason: str, *, required: bool) -> NoReturn:
    if required:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference data; skips (fails under VYX_REQUIRE_SHARED_DATA=1) when absent."""
    path = shared_data_dir()
    if path is None:
        _absent(
            "../shared/data is not present (set VYX_SHARED_DATA to its location); "
            "tests against real Binance/Gemini/Fly recordings are skipped",
            required=os.environ.get("VYX_REQUIRE_SHARED_DATA") == "1",
        )
    return path


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases]:
    """One PostgreSQL cluster for the session with template databases (our migrations; the
    original product's schema with and without them); each test copies one. Skips without
    PostgreSQL (fails under CI=true: ``.ci/run`` installs it)."""
    bindir = postgres_bin()
    if bindir is None:
        _absent(
            "PostgreSQL is not installed (Debian: apt-get install postgresql); "
            "the tests on real PostgreSQL need initdb/pg_ctl/psql",
            required=os.environ.get("CI") == "true",
        )
    data = shared_data_dir()
    original = data / "vyx-original" / "schema.sql" if data is not None else None
    migrations = sorted((REPO / "supabase" / "migrations").glob("*.sql"))
    with running_postgres(bindir) as pg:
        yield Databases(pg, migrations, original if original and original.exists() else None)
