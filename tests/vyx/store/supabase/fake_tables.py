"""The database behind the PostgREST fake: the tables of ``supabase/migrations`` in memory.

Each table has typed columns (values are parsed the way PostgreSQL parses JSON input, so an
epoch-ms number sent to a ``timestamptz`` fails like it would), NOT NULL, CHECK, primary key,
UNIQUE and foreign-key constraints, and defaults. Failures raise :class:`PgError` with the real
SQLSTATE and message shapes PostgREST forwards. A request is atomic: all rows or none.
``test_migrations.py`` compares these column lists with the migrated PostgreSQL schema.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
EVENT_TYPES = (
    "provision",
    "error",
    "stop",
    "start",
    "config_update",
    "machine_provisioned",
    "machine_started",
    "machine_stopped",
    "machine_scaled",
    "machine_error",
    "machine_retry",
    "config_synced",
    "trader_added",
    "trader_removed",
    "trader_updated",
    "signal_created",
    "analysis_completed",
    "websocket_connected",
    "websocket_disconnected",
    "health_check_failed",
)


class PgError(Exception):
    """A PostgreSQL/PostgREST error: HTTP status and the JSON body PostgREST sends."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.body = {"code": code, "message": message, "details": details, "hint": hint}
        super().__init__(f"{status} {code} {message}")


def _bad_input(pg_type: str, value: Any) -> PgError:
    return PgError(
        400,
        "22P02" if pg_type != "timestamp with time zone" else "22007",
        f'invalid input syntax for type {pg_type}: "{value}"',
    )


def parse_uuid(v: Any) -> str:
    if not isinstance(v, str) or not _UUID.match(v):
        raise _bad_input("uuid", v)
    return str(uuid.UUID(v))


def parse_text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def parse_int(v: Any) -> int:
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and v.isdigit())):
        raise _bad_input("integer", v)
    value = int(v)
    if not -(2**31) <= value < 2**31:
        raise PgError(400, "22003", 'value "{v}" is out of range for type integer')
    return value


def parse_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _bad_input("double precision", v)
    return float(v)


def parse_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise _bad_input("boolean", v)


def parse_json(v: Any) -> Any:
    return v  # fresh from json.loads: nothing else holds it


def parse_timestamp(v: Any) -> datetime:
    if not isinstance(v, str):
        raise _bad_input("timestamp with time zone", v)
    try:
        parsed = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_input("timestamp with time zone", v) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


PARSERS: Mapping[str, Callable[[Any], Any]] = {
    "uuid": parse_uuid,
    "text": parse_text,
    "integer": parse_int,
    "double precision": parse_float,
    "boolean": parse_bool,
    "jsonb": parse_json,
    "timestamp with time zone": parse_timestamp,
}


@attrs.frozen
class Column:
    type: str
    nullable: bool = True
    #: A constant, or a zero-argument callable (``gen_random_uuid()``, ``now()``).
    default: Any = None


@attrs.frozen
class Table:
    name: str
    columns: Mapping[str, Column]
    primary_key: str
    unique: tuple[str, ...] = ()
    checks: Mapping[str, Callable[[dict[str, Any]], bool]] = attrs.field(factory=dict)
    #: column → (table, column) it references, ON DELETE CASCADE.
    foreign: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _gen() -> str:
    return str(uuid.uuid4())


def _col(t: str, nullable: bool = True, default: Any = None) -> Column:
    return Column(t, nullable, default)


U, T, INT, F, B, J, TS = (
    "uuid",
    "text",
    "integer",
    "double precision",
    "boolean",
    "jsonb",
    "timestamp with time zone",
)
ID = _col(U, False, _gen)
CREATED = _col(TS, False, _now)


def _in(column: str, *options: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r[column] is None or r[column] in options


def _between(column: str, lo: float, hi: float) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r[column] is None or lo <= r[column] <= hi


TABLES: Mapping[str, Table] = {
    t.name: t
    for t in (
        Table(
            "traders",
            {
                "id": ID,
                "user_id": _col(U, False),
                "name": _col(T, False),
                "description": _col(T, True, ""),
                "enabled": _col(B, False, True),
                "filter": _col(J, False, {}),
                "strategy": _col(J, True, {}),
                "cloud_config": _col(J, True, {}),
                "execution_interval": _col(T, False, "5m"),
                "access_tier": _col(T),
                "language": _col(T),
                "auto_analyze_signals": _col(B, False, False),
                "version": _col(INT, False, 1),
                "created_at": CREATED,
                "updated_at": CREATED,
            },
            "id",
        ),
        Table(
            "signals",
            {
                "id": ID,
                "trader_id": _col(U, False),
                "user_id": _col(U, False),
                "symbol": _col(T, False),
                "interval": _col(T, False),
                "price": _col(F, False),
                "matched_conditions": _col(J, False, []),
                "indicator_data": _col(J, False, {}),
                "status": _col(T, False, "new"),
                "source": _col(T, False, "cloud"),
                "machine_id": _col(U),
                "created_at": CREATED,
                "bar_open_time": _col(TS),
            },
            "id",
            checks={"signals_price_check": lambda r: r["price"] >= 0},
        ),
        Table(
            "signal_analyses",
            {
                "id": ID,
                "signal_id": _col(U, False),
                "trader_id": _col(U, False),
                "user_id": _col(U, False),
                "decision": _col(T, False),
                "confidence": _col(F, False),
                "reasoning": _col(T),
                "key_levels": _col(J),
                "trade_plan": _col(J),
                "technical_indicators": _col(J),
                "raw_ai_response": _col(T),
                "analysis_latency_ms": _col(INT),
                "gemini_tokens_used": _col(INT),
                "model_name": _col(T),
                "created_at": CREATED,
            },
            "id",
            unique=("signal_id",),
            checks={
                "signal_analyses_decision_check": _in(
                    "decision", "enter_trade", "bad_setup", "wait"
                ),
                "signal_analyses_confidence_check": _between("confidence", 0, 100),
            },
            foreign={"signal_id": ("signals", "id")},
        ),
        Table(
            "signal_outcomes",
            {
                "signal_id": _col(U, False),
                "trader_id": _col(U, False),
                "user_id": _col(U, False),
                "symbol": _col(T, False),
                "interval": _col(T, False),
                "bar_open_time": _col(TS, False),
                "direction": _col(T, False),
                "entry": _col(F, False),
                "stop_level": _col(F),
                "target_level": _col(F),
                "levels": _col(T, False),
                "bars": _col(INT, False),
                "complete": _col(B, False, False),
                "return_1": _col(F),
                "return_3": _col(F),
                "return_6": _col(F),
                "return_12": _col(F),
                "return_24": _col(F),
                "mfe": _col(F),
                "mae": _col(F),
                "touch": _col(T, False, "none"),
                "touch_bar": _col(INT),
                "trade_return": _col(F),
                "updated_at": CREATED,
            },
            "signal_id",
            checks={
                "signal_outcomes_direction_check": _in("direction", "long", "short"),
                "signal_outcomes_levels_check": _in("levels", "analysis", "atr", "none"),
                "signal_outcomes_bars_check": _between("bars", 0, 24),
                "signal_outcomes_touch_check": _in("touch", "none", "target", "stop"),
            },
        ),
        Table(
            "alert_mutes",
            {
                "id": _col(U, False),
                "user_id": _col(U, False),
                "kind": _col(T, False),
                "target": _col(T, False),
                "created_at": CREATED,
            },
            "id",
            checks={
                "alert_mutes_kind_check": _in("kind", "symbol", "trader"),
                "alert_mutes_target_check": lambda r: 1 <= len(r["target"]) <= 128,
            },
        ),
        Table(
            "cloud_machines",
            {
                "id": ID,
                "user_id": _col(U, False),
                "machine_id": _col(T, False),
                "region": _col(T),
                "status": _col(T, False, "provisioning"),
                "cpus": _col(INT),
                "memory_mb": _col(INT),
                "websocket_url": _col(T),
                "health_check_url": _col(T),
                "provisioned_at": _col(TS),
                "started_at": _col(TS),
                "stopped_at": _col(TS),
                "last_health_check": _col(TS),
                "error_message": _col(T),
                "error_count": _col(INT, False, 0),
                "fly_app_name": _col(T),
                "fly_machine_version": _col(T),
                "created_at": CREATED,
                "updated_at": CREATED,
            },
            "id",
            unique=("user_id", "machine_id"),
            checks={
                "cloud_machines_status_check": _in(
                    "status", "provisioning", "starting", "running", "stopping", "stopped", "error"
                ),
                "cloud_machines_cpus_check": _between("cpus", 1, 8),
            },
        ),
        Table(
            "cloud_metrics",
            {
                "id": ID,
                "machine_id": _col(U, False),
                "cpu_usage_vcpus": _col(F),
                "memory_used_mb": _col(F),
                "memory_total_mb": _col(F),
                "active_signals": _col(INT),
                "analysis_queue_depth": _col(INT),
                "websocket_latency_ms": _col(F),
                "filter_execution_time_ms": _col(F),
                "ai_analysis_time_ms": _col(F),
                "signals_created_count": _col(INT),
                "analyses_completed_count": _col(INT),
                "errors_count": _col(INT),
                "recorded_at": CREATED,
            },
            "id",
        ),
        Table(
            "cloud_events",
            {
                "id": ID,
                "machine_id": _col(U),
                "user_id": _col(U),
                "event_type": _col(T, False),
                "severity": _col(T, False, "info"),
                "message": _col(T, False),
                "details": _col(J, False, {}),
                "created_at": CREATED,
            },
            "id",
            checks={
                "cloud_events_event_type_check": _in("event_type", *EVENT_TYPES),
                "cloud_events_severity_check": _in("severity", "info", "warning", "error"),
            },
        ),
        Table(
            "user_subscriptions",
            {
                "id": ID,
                "user_id": _col(U, False),
                "tier": _col(T, False, "free"),
                "status": _col(T, False, "active"),
                "created_at": CREATED,
                "updated_at": CREATED,
            },
            "id",
            unique=("user_id",),
            checks={
                "user_subscriptions_tier_check": _in("tier", "free", "pro", "elite"),
                "user_subscriptions_status_check": _in("status", "active", "cancelled", "past_due"),
            },
        ),
    )
}


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
            raise _bad_input("uuid", literal) from None
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
