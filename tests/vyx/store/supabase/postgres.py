"""A throwaway PostgreSQL server for migration tests (Debian's ``postgresql`` package).

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(``runuser``). The server listens on a Unix socket in a temporary directory only, with
``fsync=off`` (a test cluster). Supabase's pieces the migrations rely on are stubbed: roles
``anon``, ``authenticated``, ``service_role`` (BYPASSRLS, as in Supabase) and ``auth.uid()``
reading ``request.jwt.claim.sub`` (or ``request.jwt.claims``), as Supabase's does.

:class:`Databases` builds template databases once per session (our migrations on an empty
project; the original product's ``schema.sql`` with and without them) and copies one per test
(``CREATE DATABASE ... TEMPLATE``, ~40 ms): one cluster per session, a database per test.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

SUPABASE_STUB = """
do $$ begin
  if not exists (select from pg_roles where rolname = 'anon') then create role anon nologin; end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin; end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin bypassrls; end if;
end $$;
create schema if not exists auth;
create or replace function auth.uid() returns uuid language sql stable as $$
  select nullif(coalesce(current_setting('request.jwt.claim.sub', true),
                         (nullif(current_setting('request.jwt.claims', true), '')::jsonb
                          ->> 'sub')), '')::uuid
$$;
grant usage on schema auth to anon, authenticated, service_role;
grant execute on function auth.uid() to anon, authenticated, service_role;
"""


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb``, or ``$PATH``'s."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class Postgres:
    """A running cluster; :meth:`psql` runs SQL as the superuser and returns stdout."""

    def __init__(self, bindir: Path, root: Path, as_postgres: bool) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.socket = root / "sock"
        self._prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []

    def _run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._prefix, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = f"-k {self.socket} -c listen_addresses='' -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            "immediate",
            "-w",
            "stop",
            check=False,
        )

    def psql(
        self, sql: str, *, check: bool = True, db: str = "postgres"
    ) -> subprocess.CompletedProcess[str]:
        """Run ``sql`` in database ``db`` (one transaction-free script, stop at the first
        error)."""
        return self._run(
            str(self.bindir / "psql"),
            "-h",
            str(self.socket),
            "-U",
            "postgres",
            "-d",
            db,
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            stdin=sql,
            check=check,
        )

    def conninfo(self, db: str) -> str:
        """A libpq connection string for database ``db`` as the superuser."""
        return f"host={self.socket} user=postgres dbname={db}"


@contextmanager
def running_postgres(bindir: Path) -> Iterator[Postgres]:
    """Start a cluster in a fresh directory; stop and remove it afterwards."""
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="vyx-pg-"))
    try:
        (root / "sock").mkdir()
        if as_postgres:
            shutil.chown(root, "postgres")
            shutil.chown(root / "sock", "postgres")
        pg = Postgres(bindir, root, as_postgres)
        pg.start()
        try:
            pg.psql(SUPABASE_STUB)
            yield pg
        finally:
            pg.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


#: ``fresh``: our migrations on an empty project. ``original``: the existing product's schema
#: (``vyx-original/schema.sql``) then our migrations. ``original_as_is``: that schema alone.
#: ``original_renamed``: that schema at the original's later state (``signals.machine_id``
#: renamed ``fly_app_id``, pointing at a newer table, ``user_fly_apps``), then our migrations.
Template = Literal["fresh", "original", "original_as_is", "original_renamed"]
RENAME = """
create table public.user_fly_apps (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users(id) on delete cascade,
  fly_app_name text not null
);
grant all on public.user_fly_apps to anon, authenticated, service_role;
alter table public.signals rename column machine_id to fly_app_id;
alter table public.signals drop constraint signals_machine_id_fkey;
alter table public.signals add constraint signals_fly_app_id_fkey
  foreign key (fly_app_id) references public.user_fly_apps(id) on delete set null;
"""


class Databases:
    """Template databases on one cluster, and a copy of one per test."""

    def __init__(self, pg: Postgres, migrations: list[Path], original: Path | None) -> None:
        self.pg = pg
        self._migrations = migrations
        self._original = original
        self._built: set[str] = set()
        self._count = 0

    def _scripts(self, template: Template) -> list[str]:
        ours = [m.read_text() for m in self._migrations]
        if template == "fresh":
            return [SUPABASE_STUB, *ours]
        if self._original is None:
            raise FileNotFoundError("vyx-original/schema.sql (../shared/data) is not present")
        schema = self._original.read_text()
        if template == "original_as_is":
            return [schema]
        if template == "original_renamed":
            return [schema, RENAME, *ours]
        return [schema, *ours]

    def template(self, template: Template) -> str:
        """The template database's name (built on first use)."""
        name = f"tpl_{template}"
        if name not in self._built:
            self.pg.psql(f"create database {name};")
            for script in self._scripts(template):
                self.pg.psql(script, db=name)
            self._built.add(name)
        return name

    def create(self, template: Template) -> str:
        """A new database copied from ``template``; returns its name."""
        source = self.template(template)
        self._count += 1
        name = f"test_{self._count}"
        self.pg.psql(f"create database {name} template {source};")
        return name

    def drop(self, name: str) -> None:
        """Drop a database made by :meth:`create` (closing whatever still connects to it)."""
        self.pg.psql(f"drop database if exists {name} with (force);")
