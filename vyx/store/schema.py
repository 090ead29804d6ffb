"""The logical schema of CONTRACTS.md in SQLite.

Same tables and column names as the Supabase project; jsonb columns hold JSON text, booleans are
0/1, uuids are text and timestamps are epoch milliseconds (INTEGER). The CHECK constraints are
those of the Supabase migrations, so a row SQLite rejects is a row PostgreSQL would reject too.
``quarantine`` holds rows rejected for good, with their error.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS traders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    filter TEXT NOT NULL CHECK (json_valid(filter)),
    strategy TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(strategy)),
    cloud_config TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(cloud_config)),
    execution_interval TEXT NOT NULL DEFAULT '5m',
    access_tier TEXT,
    language TEXT,
    auto_analyze_signals INTEGER NOT NULL DEFAULT 0 CHECK (auto_analyze_signals IN (0, 1)),
    version INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER
);
CREATE INDEX IF NOT EXISTS traders_user_enabled ON traders (user_id, enabled);

CREATE TABLE IF NOT EXISTS signals (
    id TEXT PRIMARY KEY,
    trader_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    price REAL NOT NULL,
    matched_conditions TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(matched_conditions)),
    indicator_data TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(indicator_data)),
    status TEXT NOT NULL DEFAULT 'new',
    source TEXT NOT NULL DEFAULT 'cloud',
    machine_id TEXT,
    created_at INTEGER NOT NULL,
    bar_open_time INTEGER,
    alert_muted INTEGER CHECK (alert_muted IN (0, 1))
);
CREATE INDEX IF NOT EXISTS signals_user_created ON signals (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS signals_trader_created ON signals (trader_id, created_at DESC);

CREATE TABLE IF NOT EXISTS signal_analyses (
    signal_id TEXT PRIMARY KEY,
    trader_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('enter_trade', 'bad_setup', 'wait')),
    confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    reasoning TEXT,
    key_levels TEXT CHECK (key_levels IS NULL OR json_valid(key_levels)),
    trade_plan TEXT CHECK (trade_plan IS NULL OR json_valid(trade_plan)),
    technical_indicators TEXT
        CHECK (technical_indicators IS NULL OR json_valid(technical_indicators)),
    raw_ai_response TEXT,
    analysis_latency_ms INTEGER,
    gemini_tokens_used INTEGER,
    model_name TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS signal_outcomes (
    signal_id TEXT PRIMARY KEY,
    trader_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    bar_open_time INTEGER NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('long', 'short')),
    entry REAL NOT NULL,
    stop_level REAL,
    target_level REAL,
    levels TEXT NOT NULL CHECK (levels IN ('analysis', 'atr', 'none')),
    bars INTEGER NOT NULL CHECK (bars BETWEEN 0 AND 24),
    complete INTEGER NOT NULL CHECK (complete IN (0, 1)),
    return_1 REAL,
    return_3 REAL,
    return_6 REAL,
    return_12 REAL,
    return_24 REAL,
    mfe REAL,
    mae REAL,
    touch TEXT NOT NULL CHECK (touch IN ('none', 'target', 'stop')),
    touch_bar INTEGER,
    trade_return REAL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS signal_outcomes_user_open
    ON signal_outcomes (user_id, complete, bar_open_time DESC);

CREATE TABLE IF NOT EXISTS cloud_metrics (
    id TEXT PRIMARY KEY,
    machine_id TEXT NOT NULL,
    cpu_usage_vcpus REAL,
    memory_used_mb REAL,
    memory_total_mb REAL,
    active_signals INTEGER,
    analysis_queue_depth INTEGER,
    websocket_latency_ms REAL,
    filter_execution_time_ms REAL,
    ai_analysis_time_ms REAL,
    signals_created_count INTEGER,
    analyses_completed_count INTEGER,
    errors_count INTEGER,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cloud_metrics_machine_recorded
    ON cloud_metrics (machine_id, recorded_at);

CREATE TABLE IF NOT EXISTS cloud_events (
    id TEXT PRIMARY KEY,
    machine_id TEXT,
    user_id TEXT,
    event_type TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'error')),
    message TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cloud_events_machine_created ON cloud_events (machine_id, created_at);

CREATE TABLE IF NOT EXISTS cloud_machines (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    machine_id TEXT NOT NULL UNIQUE,
    region TEXT,
    status TEXT NOT NULL CHECK (status IN
        ('provisioning', 'starting', 'running', 'stopping', 'stopped', 'error')),
    cpus INTEGER CHECK (cpus BETWEEN 1 AND 8),
    memory_mb INTEGER,
    websocket_url TEXT,
    health_check_url TEXT,
    provisioned_at INTEGER,
    started_at INTEGER,
    stopped_at INTEGER,
    last_health_check INTEGER,
    error_message TEXT,
    error_count INTEGER NOT NULL DEFAULT 0,
    fly_app_name TEXT,
    fly_machine_version TEXT,
    created_at INTEGER,
    updated_at INTEGER
);

CREATE TABLE IF NOT EXISTS alert_mutes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('symbol', 'trader')),
    target TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_mutes_user ON alert_mutes (user_id, created_at);

CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
"""

#: Columns added to a table after a database was first made (table -> column -> its type):
#: :func:`~vyx.store.sqlite.SqliteDatabase.open` adds the missing ones to an older database.
ADDED_COLUMNS: Mapping[str, Mapping[str, str]] = {
    # The signal's bar (open time, epoch ms); NULL in rows written before it was kept.
    # Its alert was muted when it was made (0/1); NULL in rows written before it was kept.
    "signals": {
        "bar_open_time": "INTEGER",
        "alert_muted": "INTEGER CHECK (alert_muted IN (0, 1))",
    },
}

#: Columns of each table, in DDL order.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "traders": (
        "id",
        "user_id",
        "name",
        "description",
        "enabled",
        "filter",
        "strategy",
        "cloud_config",
        "execution_interval",
        "access_tier",
        "language",
        "auto_analyze_signals",
        "version",
        "updated_at",
    ),
    "signals": (
        "id",
        "trader_id",
        "user_id",
        "symbol",
        "interval",
        "price",
        "matched_conditions",
        "indicator_data",
        "status",
        "source",
        "machine_id",
        "created_at",
        "bar_open_time",
        "alert_muted",
    ),
    "signal_analyses": (
        "signal_id",
        "trader_id",
        "user_id",
        "decision",
        "confidence",
        "reasoning",
        "key_levels",
        "trade_plan",
        "technical_indicators",
        "raw_ai_response",
        "analysis_latency_ms",
        "gemini_tokens_used",
        "model_name",
        "created_at",
    ),
    "signal_outcomes": (
        "signal_id",
        "trader_id",
        "user_id",
        "symbol",
        "interval",
        "bar_open_time",
        "direction",
        "entry",
        "stop_level",
        "target_level",
        "levels",
        "bars",
        "complete",
        "return_1",
        "return_3",
        "return_6",
        "return_12",
        "return_24",
        "mfe",
        "mae",
        "touch",
        "touch_bar",
        "trade_return",
        "updated_at",
    ),
    "cloud_metrics": (
        "id",
        "machine_id",
        "cpu_usage_vcpus",
        "memory_used_mb",
        "memory_total_mb",
        "active_signals",
        "analysis_queue_depth",
        "websocket_latency_ms",
        "filter_execution_time_ms",
        "ai_analysis_time_ms",
        "signals_created_count",
        "analyses_completed_count",
        "errors_count",
        "recorded_at",
    ),
    "cloud_events": (
        "id",
        "machine_id",
        "user_id",
        "event_type",
        "severity",
        "message",
        "details",
        "created_at",
    ),
    "cloud_machines": (
        "id",
        "user_id",
        "machine_id",
        "region",
        "status",
        "cpus",
        "memory_mb",
        "websocket_url",
        "health_check_url",
        "provisioned_at",
        "started_at",
        "stopped_at",
        "last_health_check",
        "error_message",
        "error_count",
        "fly_app_name",
        "fly_machine_version",
        "created_at",
        "updated_at",
    ),
}

#: jsonb columns (JSON text here).
JSON_COLUMNS: Mapping[str, frozenset[str]] = {
    "traders": frozenset({"filter", "strategy", "cloud_config"}),
    "signals": frozenset({"matched_conditions", "indicator_data"}),
    "signal_analyses": frozenset({"key_levels", "trade_plan", "technical_indicators"}),
    "cloud_events": frozenset({"details"}),
}

#: Upsert conflict target of each table.
CONFLICT_KEY: Mapping[str, str] = {
    "traders": "id",
    "signals": "id",
    "signal_analyses": "signal_id",
    "signal_outcomes": "signal_id",
    "cloud_metrics": "id",
    "cloud_events": "id",
    "cloud_machines": "machine_id",
}

#: Columns an upsert never overwrites. Metrics and events are immutable facts: a replay of the
#: same id changes nothing. A re-sent signal keeps its first ``created_at``.
IMMUTABLE: Mapping[str, frozenset[str] | None] = {
    "signals": frozenset({"id", "created_at"}),
    "cloud_metrics": None,
    "cloud_events": None,
    "cloud_machines": frozenset({"machine_id", "id", "created_at"}),
}


@functools.cache
def updated_columns(table: str) -> tuple[str, ...]:
    """The columns an upsert of ``table`` overwrites when its key exists (none: the rows are
    immutable facts)."""
    keep = IMMUTABLE.get(table, frozenset({CONFLICT_KEY[table]}))
    if keep is None:
        return ()
    return tuple(c for c in COLUMNS[table] if c not in keep)


@functools.cache
def upsert_sql(table: str) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE/NOTHING`` with every column as a parameter."""
    columns = COLUMNS[table]
    head = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({CONFLICT_KEY[table]}) DO "
    )
    updated = updated_columns(table)
    if not updated:
        return head + "NOTHING"
    return head + "UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updated)


@functools.cache
def update_sql(table: str) -> str:
    """``UPDATE`` of one row by its key, setting what an upsert overwrites (parameters: those
    columns, :func:`updated_columns`, then the key). Raises ``ValueError`` for a table whose
    rows are never updated."""
    updated = updated_columns(table)
    if not updated:
        raise ValueError(f"{table} rows are never updated")
    sets = ", ".join(f"{c} = ?" for c in updated)
    return f"UPDATE {table} SET {sets} WHERE {CONFLICT_KEY[table]} = ?"
