"""A throwaway PostgreSQL server for migration tests (Debian's ``postgresql`` package).

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(``runuser``). The server listens on a Unix socket in a temporary directory only, with
``fsync=off`` (a test cluster). Supabase's pieces the migrations rely on are stubbed: roles
``anon``, ``authenticated``, ``service_role`` (BYPASSRLS, as in Supabase) and ``auth.uid()``
reading ``request.jwt.claim.sub`` (or ``request.jwt.claims``), as Supabase's does.
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

    def _run(self, *args: str, stdin: str | None = None, check: bool = True
             ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run([*self._prefix, *args], input=stdin, capture_output=True,
                              text=True, check=check, timeout=60)  # fmt: skip

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        options = f"-k {self.socket} -c listen_addresses='' -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.root / "log"), "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                  "stop", check=False)  # fmt: skip

    def psql(self, sql: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``sql`` (one transaction-free script, stop at the first error)."""
        return self._run(str(self.bindir / "psql"), "-h", str(self.socket), "-U", "postgres",
                         "-d", "postgres", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                         stdin=sql, check=check)  # fmt: skip


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
