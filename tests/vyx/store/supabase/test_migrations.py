"""supabase/migrations against a real PostgreSQL: applies cleanly twice, RLS holds for the
owner, another user and the service role, and the PostgREST fake has the same columns."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.vyx.store.supabase.factory import OTHER_USER, TRADER, USER
from tests.vyx.store.supabase.fake_tables import TABLES
from tests.vyx.store.supabase.postgres import Databases, Postgres

MIGRATIONS = sorted((REPO / "supabase" / "migrations").glob("*.sql"))
SIGNAL = "0e5b9c1d-2f3a-4b5c-8d6e-7f8091a2b3c4"
MACHINE = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


class Database:
    """One database of the session's cluster; :meth:`psql` runs SQL in it."""

    def __init__(self, pg: Postgres, name: str) -> None:
        self.pg = pg
        self.name = name

    def psql(self, sql: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pg.psql(sql, check=check, db=self.name)


@pytest.fixture(scope="module")
def pg(postgres_databases: Databases) -> Iterator[Database]:
    name = postgres_databases.create("fresh")  # the migrations applied once
    db = Database(postgres_databases.pg, name)
    for migration in MIGRATIONS:  # idempotent: a second run must succeed too
        db.psql(migration.read_text())
    db.psql(SEED)
    yield db
    postgres_databases.drop(name)


SEED = f"""
insert into traders (id, user_id, name, filter) values
  ('{TRADER}', '{USER}', 'mine', '{{"code": "rsi(14) < 30", "language": "vyx"}}'),
  (gen_random_uuid(), '{OTHER_USER}', 'theirs', '{{}}');
insert into signals (id, trader_id, user_id, symbol, interval, price, created_at) values
  ('{SIGNAL}', '{TRADER}', '{USER}', 'BTCUSDT', '5m', 1, now()),
  (gen_random_uuid(), '{TRADER}', '{OTHER_USER}', 'ETHUSDT', '5m', 1, now());
insert into cloud_machines (id, user_id, machine_id, status) values
  ('{MACHINE}', '{USER}', 'm-1', 'running'), (gen_random_uuid(), '{OTHER_USER}', 'm-2', 'running');
insert into cloud_metrics (machine_id, cpu_usage_vcpus) values ('{MACHINE}', 0.5);
insert into cloud_events (user_id, event_type, message) values ('{USER}', 'start', 'hi'),
  ('{OTHER_USER}', 'start', 'hi');
insert into user_subscriptions (user_id, tier, status) values ('{USER}', 'elite', 'active');
insert into alert_mutes (id, user_id, kind, target) values
  (gen_random_uuid(), '{USER}', 'symbol', 'BTCUSDT'),
  (gen_random_uuid(), '{OTHER_USER}', 'trader', 'theirs');
"""


def as_role(
    pg: Database, role: str, sql: str, *, sub: str | None = None
) -> subprocess.CompletedProcess[str]:
    claim = f"select set_config('request.jwt.claim.sub', '{sub}', false);" if sub else ""
    return pg.psql(f"set role {role}; {claim} {sql}", check=False)


def count(pg: Database, role: str, table: str, *, sub: str | None = None) -> int:
    done = as_role(pg, role, f"select count(*) from {table};", sub=sub)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_migrations_apply_twice_and_define_the_contract_tables(pg: Database) -> None:
    out = pg.psql(
        "select table_name from information_schema.tables where table_schema = 'public' order by 1;"
    ).stdout.split()
    assert set(TABLES) <= set(out)
    rls = pg.psql(
        "select relname from pg_class where relrowsecurity and relnamespace = "
        "'public'::regnamespace order by 1;"
    ).stdout.split()
    assert set(rls) == set(TABLES)


def test_the_fake_has_the_migrated_columns_and_types(pg: Database) -> None:
    out = pg.psql(
        "select table_name, column_name, data_type, is_nullable from "
        "information_schema.columns where table_schema = 'public';"
    ).stdout
    migrated: dict[str, dict[str, tuple[str, bool]]] = {}
    for line in out.splitlines():
        table, column, data_type, nullable = line.split("|")
        migrated.setdefault(table, {})[column] = (data_type, nullable == "YES")
    for name, table in TABLES.items():
        fake = {c: (col.type, col.nullable) for c, col in table.columns.items()}
        assert fake == migrated[name], name


@pytest.mark.parametrize(
    ("table", "mine"),
    [
        ("traders", 1),
        ("signals", 1),
        ("cloud_machines", 1),
        ("cloud_metrics", 1),
        ("cloud_events", 1),
        ("user_subscriptions", 1),
        ("signal_analyses", 0),
        ("alert_mutes", 1),
    ],
)
def test_owners_see_only_their_rows(pg: Database, table: str, mine: int) -> None:
    assert count(pg, "authenticated", table, sub=USER) == mine
    other = count(pg, "authenticated", table, sub=OTHER_USER)
    everyone = count(pg, "service_role", table)
    assert other == (everyone - mine if table != "cloud_metrics" else 0)


@pytest.mark.parametrize("table", ["signals", "alert_mutes"])
def test_anon_reads_nothing(pg: Database, table: str) -> None:
    done = as_role(pg, "anon", f"select count(*) from {table};")
    assert done.returncode != 0
    assert "permission denied" in done.stderr


@pytest.mark.parametrize(
    "table", ["signals", "cloud_machines", "cloud_metrics", "cloud_events", "alert_mutes"]
)
def test_only_the_service_role_writes_machine_tables(pg: Database, table: str) -> None:
    done = as_role(pg, "authenticated", f"delete from {table};", sub=USER)
    assert done.returncode != 0
    assert "permission denied" in done.stderr
    done = as_role(pg, "authenticated", f"update {table} set id = id;", sub=USER)
    assert "permission denied" in done.stderr
    before = count(pg, "service_role", table)
    done = as_role(pg, "service_role", f"update {table} set id = id;")
    assert done.returncode == 0, done.stderr
    assert count(pg, "service_role", table) == before


def test_a_user_cannot_set_a_mute_only_the_machine_can(pg: Database) -> None:
    """Mutes are set through the machine (which checks them); a user's token cannot write
    one, for itself or another user."""
    for owner in (USER, OTHER_USER):
        insert = (
            f"insert into alert_mutes (id, user_id, kind, target) "
            f"values (gen_random_uuid(), '{owner}', 'symbol', 'SOLUSDT');"
        )
        done = as_role(pg, "authenticated", insert, sub=USER)
        assert "permission denied" in done.stderr
    done = as_role(pg, "service_role", f"begin; {insert} rollback;")
    assert done.returncode == 0, done.stderr


def test_service_role_writes_a_signal_and_its_analysis(pg: Database) -> None:
    sql = (
        f"insert into signal_analyses (signal_id, trader_id, user_id, decision, confidence) "
        f"values ('{SIGNAL}', '{TRADER}', '{USER}', 'wait', 50) on conflict (signal_id) "
        f"do update set confidence = excluded.confidence;"
    )
    assert as_role(pg, "service_role", sql).returncode == 0
    assert count(pg, "authenticated", "signal_analyses", sub=USER) == 1
    assert count(pg, "authenticated", "signal_analyses", sub=OTHER_USER) == 0
    bad = as_role(pg, "service_role", sql.replace("50)", "150)"))
    assert "signal_analyses_confidence_check" in bad.stderr


def test_owner_edits_own_traders_only(pg: Database) -> None:
    mine = as_role(
        pg,
        "authenticated",
        f"update traders set name = 'renamed' where id = '{TRADER}' returning id;",
        sub=USER,
    )
    assert mine.returncode == 0
    assert TRADER in mine.stdout
    theirs = as_role(
        pg,
        "authenticated",
        f"update traders set name = 'x' where id = '{TRADER}' returning id;",
        sub=OTHER_USER,
    )
    assert theirs.returncode == 0
    assert TRADER not in theirs.stdout
    forged = as_role(
        pg,
        "authenticated",
        f"insert into traders (user_id, name) values ('{USER}', 'forged');",
        sub=OTHER_USER,
    )
    assert "row-level security" in forged.stderr


def test_migration_file_names_follow_the_supabase_cli_convention() -> None:
    assert MIGRATIONS
    for path in MIGRATIONS:
        stamp, _, name = Path(path).stem.partition("_")
        assert len(stamp) == 14
        assert stamp.isdigit()
        assert name


# --------------------------------------------------------------- on the original product's schema

ACCESS = """
select 'grant', grantee || ' ' || table_name || ' ' || privilege_type
from information_schema.role_table_grants
where table_schema = 'public' and grantee in ('anon', 'authenticated')
union all
select 'policy', tablename || ' ' || policyname || ' ' || cmd || ' ' || coalesce(qual, '')
from pg_policies where schemaname = 'public'
union all
select 'rls', relname || ' ' || relrowsecurity from pg_class
where relnamespace = 'public'::regnamespace and relkind = 'r'
order by 1, 2;
"""
BUILT_IN = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"


@pytest.fixture(scope="module")
def original(postgres_databases: Databases, shared_data: Path) -> Iterator[Database]:
    """The original product's schema, then our migrations (twice: idempotent there too)."""
    name = postgres_databases.create("original")
    db = Database(postgres_databases.pg, name)
    for migration in MIGRATIONS:
        db.psql(migration.read_text())
    db.psql(f"""
        insert into auth.users (id) values ('{USER}'), ('{OTHER_USER}');
        insert into traders (id, user_id, name, filter, strategy, is_built_in, access_tier)
        values ('{BUILT_IN}', null, 'built-in', '{{}}', '{{}}', true, 'anonymous'),
               ('{TRADER}', '{USER}', 'mine', '{{}}', '{{}}', false, 'elite');
        insert into signals (trader_id, user_id, symbol) values
            ('{BUILT_IN}', null, 'BTCUSDT'), ('{TRADER}', '{USER}', 'ETHUSDT');
    """)
    yield db
    postgres_databases.drop(name)


def _lines_as_is(postgres_databases: Databases, sql: str) -> set[str]:
    """The lines ``sql`` prints on the original product's schema without our migrations."""
    name = postgres_databases.create("original_as_is")
    try:
        return set(Database(postgres_databases.pg, name).psql(sql).stdout.splitlines())
    finally:
        postgres_databases.drop(name)


def test_our_migrations_take_nothing_from_the_web_app(
    original: Database, postgres_databases: Databases
) -> None:
    before = _lines_as_is(postgres_databases, ACCESS)
    after = set(original.psql(ACCESS).stdout.splitlines())
    assert before - after == set()  # every grant, policy and RLS flag is still there
    added = {line for line in after - before if line.startswith("policy")}
    assert added
    assert all(" vyx_" in line for line in added)


COLUMNS = """
select c.table_name || '.' || c.column_name || ' ' || c.data_type || ' '
    || coalesce(c.column_default, '-')
from information_schema.columns c join information_schema.tables t
  on t.table_schema = c.table_schema and t.table_name = c.table_name
where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
order by 1;
"""


def test_our_migrations_keep_every_column_of_the_web_app(
    original: Database, postgres_databases: Databases
) -> None:
    """Additive only: every table and column of the original product's schema is still there
    with its type and default after our migrations (new columns and tables may be added)."""
    before = _lines_as_is(postgres_databases, COLUMNS)
    after = set(original.psql(COLUMNS).stdout.splitlines())
    assert any(line.startswith("signals.symbol ") for line in before)
    assert before - after == set()
    added = {line.split()[0] for line in after - before}
    assert {"signals.bar_open_time", "signals.alert_muted", "alert_mutes.kind"} <= added


def test_the_web_apps_anonymous_and_user_reads_still_work(original: Database) -> None:
    assert count(original, "anon", "signals") == 1  # the anonymous-tier trader's signal
    assert count(original, "anon", "traders") == 1  # built-in traders
    assert count(original, "authenticated", "signals", sub=USER) == 1
    analysis = (
        f"insert into signal_analyses (signal_id, trader_id, user_id, decision, "
        f"confidence, reasoning, key_levels, trade_plan) select id, trader_id, "
        f"'{USER}', 'wait', 1, 'r', '{{}}', '{{}}' from signals where user_id = "
        f"'{USER}';"
    )
    done = as_role(original, "authenticated", analysis, sub=USER)
    assert done.returncode == 0, done.stderr  # "Anyone can insert analyses" still holds


@pytest.mark.parametrize(
    ("statement", "accepted"),
    [
        (f"update traders set language = 'vyx' where id = '{TRADER}'", True),
        (f"update traders set language = 'go' where id = '{TRADER}'", True),
        (f"update traders set language = 'python' where id = '{TRADER}'", False),
        (
            f"insert into cloud_machines (user_id, machine_id, region, status) "
            f"values ('{USER}', 'm-nrt', 'nrt', 'running')",
            True,
        ),
        (
            f"insert into cloud_machines (user_id, machine_id, region, status) "
            f"values ('{OTHER_USER}', 'm-x', 'Tokyo!', 'running')",
            False,
        ),
    ],
)
def test_checks_are_widened_for_the_machine_and_nothing_else(
    original: Database, statement: str, accepted: bool
) -> None:
    done = original.psql(f"begin; {statement}; rollback;", check=False)
    assert (done.returncode == 0) == accepted, done.stderr
    if not accepted:
        assert "violates check constraint" in done.stderr
