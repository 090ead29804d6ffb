"""The tables of ``supabase/migrations`` as the PostgREST fake's database holds them: typed
columns (values parsed the way PostgreSQL parses JSON input, so an epoch-ms number sent to a
``timestamptz`` fails like it would), NOT NULL, CHECK, keys, defaults, and :class:`PgError` with
the real SQLSTATE and message shapes PostgREST forwards. ``test_migrations.py`` compares these
column lists with the migrated PostgreSQL schema; :mod:`.fake_tables` keeps the rows.
"""

import re
import uuid
from collections.abc import Callable, Mapping
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


def bad_input(pg_type: str, value: Any) -> PgError:
    return PgError(
        400,
        "22P02" if pg_type != "timestamp with time zone" else "22007",
        f'invalid input syntax for type {pg_type}: "{value}"',
    )


def parse_uuid(v: Any) -> str:
    if not isinstance(v, str) or not _UUID.match(v):
        raise bad_input("uuid", v)
    return str(uuid.UUID(v))


def parse_text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def parse_int(v: Any) -> int:
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and v.isdigit())):
        raise bad_input("integer", v)
    value = int(v)
    if not -(2**31) <= value < 2**31:
        raise PgError(400, "22003", 'value "{v}" is out of range for type integer')
    return value


def parse_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise bad_input("double precision", v)
    return float(v)


def parse_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise bad_input("boolean", v)


def parse_json(v: Any) -> Any:
    return v  # fresh from json.loads: nothing else holds it


def parse_timestamp(v: Any) -> datetime:
    if not isinstance(v, str):
        raise bad_input("timestamp with time zone", v)
    try:
        parsed = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise bad_input("timestamp with time zone", v) from None
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
                "alert_muted": _col(B),
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
