"""Typed rows read from the store, and builders of the rows written to it.

Rows come from two backends with different habits: PostgREST returns jsonb as objects (or, as
the browser often stores them, as a JSON *string* inside jsonb) and timestamps as ISO strings;
SQLite returns JSON text and epoch milliseconds. :data:`converter` (cattrs) accepts all of them;
its errors go through ``transform_error`` so a bad row's message names the field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NewType

import attrs
import cattrs
from cattrs.errors import ClassValidationError

from vyx.json_finite import finite
from vyx.store.errors import RowError

#: Namespace of event and metrics ids (fixed forever: changing it would duplicate replays).
ROW_NAMESPACE = uuid.UUID("0b8e3f55-2a61-5c4d-8f7e-91d2c3b4a5f6")

#: Epoch milliseconds (structured from an int, a float or an ISO-8601 string).
EpochMs = NewType("EpochMs", int)
JsonObject = NewType("JsonObject", dict)  # type: ignore[type-arg]

MachineStatus = Literal["provisioning", "starting", "running", "stopping", "stopped", "error"]
Severity = Literal["info", "warning", "error"]

converter = cattrs.Converter(forbid_extra_keys=False)


def _structure_json_object(value: Any, _: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes):
        value = json.loads(value) if value.strip() else {}
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return dict(value)


def json_object(value: Any) -> dict[str, Any]:
    """A jsonb value as an object: decoded when the browser stored a JSON string, empty when
    it is not an object at all."""
    try:
        return _structure_json_object(value, None)
    except (TypeError, ValueError):
        return {}


def _structure_epoch_ms(value: Any, _: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected epoch ms or an ISO-8601 timestamp, got a boolean")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    raise TypeError(f"expected epoch ms or an ISO-8601 timestamp, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise TypeError(f"expected a boolean, got {value!r}")


converter.register_structure_hook(JsonObject, _structure_json_object)
converter.register_structure_hook(EpochMs, _structure_epoch_ms)
converter.register_structure_hook(bool, _structure_bool)


def _structure(cls: type[Any], row: Mapping[str, Any], what: str) -> Any:
    try:
        return converter.structure(dict(row), cls)
    except ClassValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, path=what))
        raise RowError(f"{what} {row.get('id')!r}: {problems}") from None


@attrs.frozen
class Trader:
    """A ``traders`` row: a named filter of a user. ``filter``, ``strategy`` and
    ``cloud_config`` are kept as decoded JSON objects; the screener interprets them."""

    id: str
    user_id: str
    name: str
    filter: JsonObject
    description: str = ""
    enabled: bool = True
    strategy: JsonObject = attrs.field(factory=lambda: JsonObject({}))
    cloud_config: JsonObject = attrs.field(factory=lambda: JsonObject({}))
    execution_interval: str = "5m"
    access_tier: str | None = None
    language: str | None = None
    auto_analyze_signals: bool = False
    version: int = 1
    updated_at: EpochMs | None = None

    @property
    def enabled_in_cloud(self) -> bool:
        """False when ``cloud_config.enabledInCloud`` is explicitly false."""
        return self.cloud_config.get("enabledInCloud") is not False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Trader:
        """Structure a row of either backend; raises :class:`~vyx.store.errors.RowError`."""
        trader: Trader = _structure(cls, row, "trader")
        return trader

    def to_row(self) -> dict[str, Any]:
        """The ``traders`` row."""
        return attrs.asdict(self)


#: Columns a browser's trader edit sets; every other column of an existing row stays
#: (``description``, ``access_tier``, the web app's own columns; ``cloud_config`` but the
#: alert switches the browser set).
EDITED_COLUMNS = ("name", "enabled", "execution_interval", "language", "auto_analyze_signals")


#: The keys of ``cloud_config`` a browser's trader edit may set (its alert switches and its
#: own cooldown).
EDITED_CLOUD_KEYS = ("notifyOnSignal", "notifyOnAnalysis", "notifyMuted", "cooldownBars")


def merge_trader_edit(existing: Mapping[str, Any], edit: Trader) -> dict[str, Any]:
    """The values a browser's edit ``edit`` writes into the ``traders`` row ``existing`` (of
    either backend): :data:`EDITED_COLUMNS`, ``filter`` and ``strategy`` merged into the
    row's objects (the edit's keys win; others, such as ``filter.description``, stay), so are
    the edit's ``cloud_config`` keys of :data:`EDITED_CLOUD_KEYS` (alert switches, cooldown),
    ``version`` + 1. ``updated_at`` is the caller's."""
    new = edit.to_row()
    out = {column: new[column] for column in EDITED_COLUMNS}
    out["filter"] = {**json_object(existing.get("filter")), **edit.filter}
    out["strategy"] = {**json_object(existing.get("strategy")), **edit.strategy}
    switches = {k: v for k, v in edit.cloud_config.items() if k in EDITED_CLOUD_KEYS}
    if switches:  # the settings the browser set; the row's other keys stay
        out["cloud_config"] = {**json_object(existing.get("cloud_config")), **switches}
    version = existing.get("version")
    out["version"] = (version if isinstance(version, int) else 0) + 1
    return out


def new_trader_row(trader: Trader, now_ms: int) -> dict[str, Any]:
    """The ``traders`` row a browser's new trader becomes: ``updated_at`` now, on this machine
    (``cloud_config.enabledInCloud``) unless it says otherwise; None values are left out, so
    the table's defaults apply."""
    row = {k: v for k, v in trader.to_row().items() if v is not None}
    row["updated_at"] = now_ms
    row["cloud_config"] = {"enabledInCloud": True, **trader.cloud_config}
    return row


def machine_row_id(user_id: str) -> str:
    """The ``cloud_machines.id`` a machine gives the row it creates for ``user_id`` (derived,
    as the provisioner derives it, so every writer agrees before the database is reached)."""
    return str(uuid.uuid5(ROW_NAMESPACE, f"machine|{user_id}"))


def analysis_row_id(signal_id: str) -> str:
    """The ``signal_analyses.id`` of a signal's analysis (one per signal): the upsert's key,
    which needs no unique constraint on ``signal_id``."""
    return str(uuid.uuid5(ROW_NAMESPACE, f"analysis|{signal_id}"))


def mute_row_id(user_id: str, kind: str, target: str) -> str:
    """The ``alert_mutes.id`` of one mute of ``user_id`` (setting it again changes nothing)."""
    return str(uuid.uuid5(ROW_NAMESPACE, f"mute|{user_id}|{kind}|{target}"))


@attrs.frozen
class MachineRecord:
    """A ``cloud_machines`` row (timestamps in epoch ms)."""

    id: str
    user_id: str
    machine_id: str
    status: MachineStatus
    region: str | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    websocket_url: str | None = None
    health_check_url: str | None = None
    provisioned_at: EpochMs | None = None
    started_at: EpochMs | None = None
    stopped_at: EpochMs | None = None
    last_health_check: EpochMs | None = None
    error_message: str | None = None
    error_count: int = 0
    fly_app_name: str | None = None
    fly_machine_version: str | None = None
    created_at: EpochMs | None = None
    updated_at: EpochMs | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MachineRecord:
        """Structure a row of either backend; raises :class:`~vyx.store.errors.RowError`."""
        record: MachineRecord = _structure(cls, row, "machine")
        return record

    def to_row(self) -> dict[str, Any]:
        """The ``cloud_machines`` row."""
        return attrs.asdict(self)


def to_json(value: Any) -> str:
    """Compact JSON for a jsonb column. NaN and ±inf become ``null`` (PostgreSQL's jsonb
    rejects them, and a warm-up NaN must never cost a signal); other unencodable values raise
    ``TypeError``/``ValueError`` (the row is quarantined)."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), separators=(",", ":"), allow_nan=False)


def event_row(
    *,
    machine_id: str,
    user_id: str,
    event_type: str,
    message: str,
    created_at: int,
    severity: Severity = "info",
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``cloud_events`` row whose ``id`` is derived from its content, so a retried or
    replayed event never duplicates (two identical events in the same millisecond are one)."""
    details = dict(details or {})
    identity = to_json([machine_id, user_id, event_type, severity, message, details, created_at])
    return {
        "id": str(uuid.uuid5(ROW_NAMESPACE, "event|" + identity)),
        "machine_id": machine_id,
        "user_id": user_id,
        "event_type": event_type,
        "severity": severity,
        "message": message,
        "details": details,
        "created_at": created_at,
    }


def metrics_row(*, machine_id: str, recorded_at: int, **values: float | int) -> dict[str, Any]:
    """A ``cloud_metrics`` row; its ``id`` is derived from (machine, ``recorded_at``)."""
    return {
        "id": str(uuid.uuid5(ROW_NAMESPACE, f"metrics|{machine_id}|{recorded_at}")),
        "machine_id": machine_id,
        "recorded_at": recorded_at,
        **values,
    }
