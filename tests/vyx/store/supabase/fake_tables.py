"""The database behind the PostgREST fake: the rows of the tables of ``supabase/migrations``
(:mod:`.fake_schema`: typed columns, constraints, defaults, :class:`PgError`) in memory. A
request is atomic: all rows or none.
"""

from __future__ import annotations

import copy
import math
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tests.vyx.store.supabase.fake_schema import (
    PARSERS,
    TABLES,
    PgError,
    Table,
    bad_input,
    parse_timestamp,
)

__all__ = ["TABLES", "FakeDatabase", "PgError", "render"]


def render(value: Any) -> Any:
    """A stored value as PostgREST's JSON output shows it."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value  # responses are serialized at once; nobody mutates them


def _eq_matches(stored: Any, literal: str, pg_type: str) -> bool:
    if stored is None:
        return False
    if pg_type == "boolean":
        return stored is (literal.lower() in ("true", "t", "1"))
    if pg_type == "uuid":
        try:
            return bool(stored == str(uuid.UUID(literal)))
        except ValueError:
            raise bad_input("uuid", literal) from None
    if pg_type == "timestamp with time zone":
        return bool(stored == parse_timestamp(literal))
    if pg_type in ("integer", "double precision"):
        return math.isclose(float(stored), float(literal))
    return bool(str(stored) == literal)


class FakeDatabase:
    """Rows by table and primary key with an index per unique column, guarded by a lock (the
    HTTP server may run in a thread)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in TABLES}
        self.index: dict[str, dict[str, dict[Any, Any]]] = {
            t.name: {c: {} for c in (t.primary_key, *t.unique)} for t in TABLES.values()
        }
        self.lock = threading.RLock()

    def table(self, name: str) -> Table:
        if name not in TABLES:
            message = f"Could not find the table 'public.{name}' in the schema cache"
            raise PgError(404, "PGRST205", message)
        return TABLES[name]

    def _coerce(
        self,
        table: Table,
        raw: Mapping[str, Any],
        columns: Sequence[str],
        base: dict[str, Any] | None,
    ) -> dict[str, Any]:
        row = dict(base) if base is not None else {}
        for name in columns:
            col = table.columns[name]
            value = raw.get(name)
            row[name] = None if value is None else PARSERS[col.type](value)
        if base is None:  # INSERT: columns not given take their defaults
            for name, col in table.columns.items():
                if name not in row:
                    row[name] = (
                        col.default() if callable(col.default) else copy.deepcopy(col.default)
                    )
        for name, col in table.columns.items():
            if row[name] is None and not col.nullable:
                raise PgError(
                    400,
                    "23502",
                    f'null value in column "{name}" of relation '
                    f'"{table.name}" violates not-null constraint',
                    "Failing row contains (...).",
                )
        for check_name, check in table.checks.items():
            if not check(row):
                raise PgError(
                    400,
                    "23514",
                    f'new row for relation "{table.name}" violates check constraint "{check_name}"',
                    "Failing row contains (...).",
                )
        for column, (ref_table, ref_col) in table.foreign.items():
            if row[column] is not None and row[column] not in self.index[ref_table][ref_col]:
                raise PgError(
                    409,
                    "23503",
                    f'insert or update on table "{table.name}" '
                    f'violates foreign key constraint "{table.name}_{column}_fkey"',
                    f'Key ({column})=({row[column]}) is not present in table "{ref_table}".',
                )
        return row

    def _stage(self, table: Table, staged: dict[Any, dict[str, Any]], row: dict[str, Any]) -> None:
        """Stage ``row`` (by primary key) after checking every unique column."""
        pk = row[table.primary_key]
        for column in (table.primary_key, *table.unique):
            value = row[column]
            owner = self._owner(table, staged, column, value)
            if owner is not None and owner != pk:
                name = (
                    f"{table.name}_pkey"
                    if column == table.primary_key
                    else (f"{table.name}_{column}_key")
                )
                raise PgError(
                    409,
                    "23505",
                    f'duplicate key value violates unique constraint "{name}"',
                    f"Key ({column})=({render(value)}) already exists.",
                )
        staged[pk] = row

    def _owner(
        self, table: Table, staged: dict[Any, dict[str, Any]], column: str, value: Any
    ) -> Any:
        """The primary key holding ``value`` in ``column``, staged rows first."""
        if column == table.primary_key:
            if value in staged:
                return value
        elif len(table.unique) and staged:
            for pk, r in staged.items():
                if r[column] == value:
                    return pk
        owner = self.index[table.name][column].get(value)
        if owner is not None and owner in staged and staged[owner][column] != value:
            return None  # moved away by this request
        return owner

    def _commit(self, table: Table, staged: dict[Any, dict[str, Any]]) -> None:
        rows = self.rows[table.name]
        index = self.index[table.name]
        for pk, row in staged.items():
            old = rows.get(pk)
            for column, by_value in index.items():
                if old is not None:
                    by_value.pop(old[column], None)
                by_value[row[column]] = pk
            rows[pk] = row

    def _find(
        self, table: Table, staged: dict[Any, dict[str, Any]], column: str, value: Any
    ) -> dict[str, Any] | None:
        pk = self._owner(table, staged, column, value)
        if pk is None:
            return None
        return staged[pk] if pk in staged else self.rows[table.name][pk]

    def insert(
        self,
        name: str,
        payload: Sequence[Mapping[str, Any]],
        *,
        on_conflict: str | None,
        resolution: str | None,
        columns: Sequence[str] | None,
    ) -> list[dict[str, Any]]:
        """INSERT (or upsert with ``resolution`` merge/ignore on ``on_conflict``); atomic."""
        table = self.table(name)
        given = list(columns) if columns else sorted({k for r in payload for k in r})
        for column in given:
            if column not in table.columns:
                raise PgError(
                    400,
                    "PGRST204",
                    f"Could not find the '{column}' column of '{name}' in the schema cache",
                )
        target = on_conflict or table.primary_key
        if resolution and target not in (table.primary_key, *table.unique):
            raise PgError(
                400,
                "42P10",
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            )
        with self.lock:
            staged: dict[Any, dict[str, Any]] = {}
            touched: set[Any] = set()
            out = []
            for raw in payload:
                probe = self._coerce(table, raw, given, None)
                existing = self._find(table, staged, target, probe[target])
                if existing is not None and resolution:
                    pk = existing[table.primary_key]
                    if pk in touched and resolution == "merge":
                        raise PgError(
                            500,
                            "21000",
                            "ON CONFLICT DO UPDATE command cannot affect row a second time",
                        )
                    touched.add(pk)
                    if resolution == "ignore":
                        continue
                    given_pk = table.primary_key in given
                    row = self._coerce(table, raw, given, existing)
                    if not given_pk:
                        row[table.primary_key] = pk
                else:
                    row = probe
                self._stage(table, staged, row)
                touched.add(row[table.primary_key])
                out.append({k: render(v) for k, v in row.items()})
            self._commit(table, staged)
            return out

    def select(self, name: str, filters: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Rows matching every ``(column, literal)`` equality, insertion order."""
        table = self.table(name)
        filters = list(filters)
        for column, _ in filters:
            if column not in table.columns:
                raise PgError(400, "42703", f"column {name}.{column} does not exist")
        with self.lock:
            return [
                {k: render(v) for k, v in self.rows[name][pk].items()}
                for pk in self._matching(name, filters)
            ]

    def _matching(self, name: str, filters: Iterable[tuple[str, str]]) -> list[Any]:
        table = self.table(name)
        filters = list(filters)
        return [
            pk
            for pk, r in self.rows[name].items()
            if all(_eq_matches(r[c], lit, table.columns[c].type) for c, lit in filters)
        ]

    def update(
        self, name: str, values: Mapping[str, Any], filters: Iterable[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        table = self.table(name)
        for column in values:
            if column not in table.columns:
                raise PgError(
                    400,
                    "PGRST204",
                    f"Could not find the '{column}' column of '{name}' in the schema cache",
                )
        with self.lock:
            matched = self._matching(name, filters)
            staged: dict[Any, dict[str, Any]] = {}
            for pk in matched:
                row = self._coerce(table, values, list(values), self.rows[name][pk])
                self._stage(table, staged, row)
            self._commit(table, staged)
            return [{k: render(v) for k, v in r.items()} for r in staged.values()]

    def delete(self, name: str, filters: Iterable[tuple[str, str]]) -> int:
        table = self.table(name)
        with self.lock:
            doomed = self._matching(name, filters)
            for pk in doomed:
                row = self.rows[name].pop(pk)
                for column, by_value in self.index[name].items():
                    by_value.pop(row[column], None)
            for other in TABLES.values():  # ON DELETE CASCADE
                for column, (ref_table, ref_col) in other.foreign.items():
                    if ref_table == name and ref_col == table.primary_key:
                        gone = set(doomed)
                        for pk in [
                            k for k, r in self.rows[other.name].items() if r[column] in gone
                        ]:
                            row = self.rows[other.name].pop(pk)
                            for c, by_value in self.index[other.name].items():
                                by_value.pop(row[c], None)
            return len(doomed)

    def count(self, name: str) -> int:
        with self.lock:
            return len(self.rows[name])
