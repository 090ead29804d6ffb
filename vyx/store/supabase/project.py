"""The user's Supabase project as the drain meets it: the columns its tables have (PostgREST
describes them at ``/``), each spooled row adapted to them, and the machine's own row.

Projects differ. A fresh one has our migrations' tables; one the Vyx web app already uses has
the original product's (``../shared/data/vyx-original/schema.sql``): INTEGER metrics columns,
no unique constraint on ``signal_analyses.signal_id``, and, at its latest state,
``signals.fly_app_id`` where ours say ``signals.machine_id``. The drain asks
:meth:`Project.describe` once, before its first request, and sends every row through
:meth:`Project.adapt` (pure: :meth:`ProjectSchema.adapt`):

- a number for an integer column is rounded (``cloud_metrics.memory_used_mb`` 187.4 → 187);
- ``signals.machine_id`` goes to ``fly_app_id`` when the table has that column instead (NULL
  when that column points at another table than ``cloud_machines``: our row id is not a key
  there), and is left out when the table has neither;
- a column a later migration adds (:data:`OPTIONAL_COLUMNS`: ``signals.bar_open_time``,
  ``signals.alert_muted``) is left out when the table does not have it (or the project could
  not be described);
- a ``signal_analyses`` row gets its deterministic ``id``, the upsert's key;
- the machine's row id the rows were written with is replaced by the one the database holds.

That last point is why the machine's row is written here, not upserted: a row made by the
provisioner or by the web app keeps its ``id``, which every ``signals``/``cloud_metrics``/
``cloud_events`` row must then carry. :meth:`Project.write_machine` PATCHes the row by
``user_id`` and INSERTs it with the machine's id only when there is none; the id the database
answers with is remembered in the spool (:class:`MachineIds`), so the next start writes it from
the first row on. Until the database has answered once, rows carry the derived id
(:func:`~vyx.store.records.machine_row_id`) and are rewritten when they are sent.

When PostgREST cannot describe the project (a proxy in front, an old version), rows are sent as
our migrations define the tables (:meth:`ProjectSchema.assumed`), and that is logged once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
from loguru import logger

from vyx.store.records import analysis_row_id, machine_row_id
from vyx.store.supabase.rest import PostgrestError, Rest
from vyx.store.supabase.spool import Spool

#: PostgreSQL types whose JSON input must be an integer.
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
#: ``cloud_metrics`` columns our migrations make ``double precision`` (the machine sends
#: fractions; an INTEGER column of the project gets them rounded).
FRACTIONAL_METRICS = frozenset(
    {
        "cpu_usage_vcpus",
        "memory_used_mb",
        "memory_total_mb",
        "websocket_latency_ms",
        "filter_execution_time_ms",
        "ai_analysis_time_ms",
    }
)
#: Tables whose ``machine_id`` is ``cloud_machines.id``.
MACHINE_TABLES = frozenset({"signals", "cloud_metrics", "cloud_events"})
#: Tables a later migration adds: a project without one keeps nothing of it, and every other
#: row still lands (its rows are settled without being sent; logged once).
OPTIONAL_TABLES = frozenset({"signal_outcomes", "alert_mutes"})
#: Columns a later migration adds to a table the original product has: a project without one
#: gets the rest of the row (table -> columns).
OPTIONAL_COLUMNS: Mapping[str, frozenset[str]] = {
    "signals": frozenset({"bar_open_time", "alert_muted"})
}
_FK = re.compile(r"<fk table='([^']+)' column='([^']+)'/>")


@attrs.frozen
class TableShape:
    """One table as described: column → PostgreSQL type, and single-column foreign keys."""

    columns: Mapping[str, str]
    #: column → referenced table
    references: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class ProjectSchema:
    """The project's tables (those PostgREST describes)."""

    tables: Mapping[str, TableShape]
    #: False when assumed (PostgREST did not describe the project).
    described: bool = True

    @classmethod
    def from_openapi(cls, doc: Mapping[str, Any]) -> ProjectSchema:
        """From PostgREST's OpenAPI (Swagger 2.0) description: ``definitions.<table>.
        properties.<column>.format`` is the type, ``description`` carries ``<fk .../>``."""
        tables: dict[str, TableShape] = {}
        definitions = doc.get("definitions")
        for name, definition in (definitions if isinstance(definitions, Mapping) else {}).items():
            properties = definition.get("properties") if isinstance(definition, Mapping) else None
            if not isinstance(properties, Mapping):
                continue
            columns: dict[str, str] = {}
            references: dict[str, str] = {}
            for column, prop in properties.items():
                if not isinstance(prop, Mapping):
                    continue
                columns[column] = str(prop.get("format") or "")
                fk = _FK.search(str(prop.get("description") or ""))
                if fk:
                    references[column] = fk.group(1)
            tables[str(name)] = TableShape(columns, references)
        return cls(tables)

    @classmethod
    def assumed(cls) -> ProjectSchema:
        """Our migrations' tables, as far as adapting rows goes (nothing is changed)."""
        return cls({"signals": TableShape({"machine_id": "uuid"})}, described=False)

    def lacks(self, table: str) -> bool:
        """Is ``table`` an optional table this project (as described) does not have?"""
        return self.described and table in OPTIONAL_TABLES and table not in self.tables

    def lacks_column(self, table: str, column: str) -> bool:
        """Is ``column`` an optional column of ``table`` this project may not have (it does
        not, as described; or the project was not described)?"""
        if column not in OPTIONAL_COLUMNS.get(table, ()):
            return False
        shape = self.tables.get(table)
        return not self.described or shape is None or column not in shape.columns

    def machine_column(self) -> tuple[str | None, bool]:
        """The ``signals`` column pointing at the machine (``machine_id``, ``fly_app_id`` or
        None) and whether our ``cloud_machines.id`` belongs there."""
        signals = self.tables.get("signals")
        if signals is None:
            return "machine_id", True
        for column in ("machine_id", "fly_app_id"):
            if column in signals.columns:
                target = signals.references.get(column, "cloud_machines")
                return column, target == "cloud_machines"
        return None, False

    def adapt(
        self, table: str, row: Mapping[str, Any], machine_ids: Mapping[str, str]
    ) -> dict[str, Any]:
        """``row`` (wire format) as ``table`` of this project takes it (module docstring);
        ``machine_ids`` maps ids the rows were written with to the row the database holds."""
        out = dict(row)
        if table == "signal_analyses" and not out.get("id") and out.get("signal_id"):
            out["id"] = analysis_row_id(str(out["signal_id"]))
        if table in MACHINE_TABLES and out.get("machine_id") in machine_ids:
            out["machine_id"] = machine_ids[out["machine_id"]]
        if table == "signals" and "machine_id" in out:
            column, ours = self.machine_column()
            value = out.pop("machine_id")
            if column is not None:
                out[column] = value if ours else None
        for column in OPTIONAL_COLUMNS.get(table, ()):
            if column in out and self.lacks_column(table, column):
                del out[column]
        shape = self.tables.get(table)
        if shape is not None:
            for column, value in out.items():
                if isinstance(value, float) and shape.columns.get(column) in INTEGER_TYPES:
                    out[column] = round(value) if math.isfinite(value) else None
        return out

    def differences(self) -> list[str]:
        """What :meth:`adapt` changes for this project, one line each (logged at start)."""
        lines = []
        column, ours = self.machine_column()
        if column != "machine_id":
            lines.append(
                f"signals.machine_id is written to {column or 'no column'}"
                + ("" if ours else " as NULL (it points at another table)")
            )
        metrics = self.tables.get("cloud_metrics")
        columns = metrics.columns if metrics is not None else {}
        rounded = sorted(c for c in FRACTIONAL_METRICS if columns.get(c) in INTEGER_TYPES)
        if rounded:
            lines.append(f"cloud_metrics: {', '.join(rounded)} are INTEGER (values are rounded)")
        for table, optional in sorted(OPTIONAL_COLUMNS.items() if self.described else ()):
            for column in sorted(c for c in optional if self.lacks_column(table, c)):
                lines.append(f"no {table}.{column} column (apply supabase/migrations): not kept")
        for table in sorted(t for t in OPTIONAL_TABLES if self.lacks(t)):
            lines.append(
                f"no {table} table (apply supabase/migrations): its rows are not kept there"
            )
        return lines


class MachineIds:
    """The machine's ``cloud_machines.id``: the one its rows are written with (:attr:`current`)
    and the one the database holds (:attr:`resolved`), kept in the spool's ``meta`` table so a
    restart starts with the right one. Blocking (spool thread)."""

    KEY = "machine_row"

    def __init__(
        self, user_id: str, resolved: str | None, aliases: set[str], error_count: int
    ) -> None:
        self.user_id = user_id
        self.resolved = resolved
        self.current = resolved or machine_row_id(user_id)
        self.aliases = aliases | {self.current}
        #: ``error_count`` of the row when the database last answered.
        self.error_count = error_count

    @classmethod
    def load(cls, spool: Spool, user_id: str) -> MachineIds:
        """What the spool remembers for ``user_id`` (nothing for a new spool or user)."""
        raw = spool.get_meta(cls.KEY)
        data = json.loads(raw) if raw else {}
        if data.get("user_id") != user_id:
            data = {}
        return cls(
            user_id, data.get("id"), set(data.get("aliases", ())), int(data.get("error_count", 0))
        )

    def mapping(self) -> dict[str, str]:
        """Ids rows may carry → the database's (empty until it has answered)."""
        if self.resolved is None:
            return {}
        return {a: self.resolved for a in self.aliases if a != self.resolved}

    def learn(self, row: Mapping[str, Any], spool: Spool) -> None:
        """Remember the row the database answered with."""
        self.resolved = str(row["id"])
        count = row.get("error_count")
        self.error_count = count if isinstance(count, int) else self.error_count
        data = {
            "user_id": self.user_id,
            "id": self.resolved,
            "aliases": sorted(self.aliases),
            "error_count": self.error_count,
        }
        spool.set_meta(self.KEY, json.dumps(data))


class Project:
    """The drain's view of the project (see the module docstring)."""

    def __init__(self, rest: Rest, machine: MachineIds | None) -> None:
        self._rest = rest
        self.machine = machine
        self.schema: ProjectSchema | None = None

    async def describe(self) -> ProjectSchema:
        """The project's tables (asked once). Raises :class:`PostgrestError` when the database is
        unreachable (``retry``); a project PostgREST will not describe is assumed."""
        if self.schema is not None:
            return self.schema
        try:
            doc = await self._rest.describe()
        except PostgrestError as exc:
            if exc.verdict == "retry":
                raise
            logger.warning(
                "supabase: PostgREST does not describe the tables ({}); rows are "
                "written as our migrations define them (without their optional columns)",
                exc,
            )
            self.schema = ProjectSchema.assumed()
        else:
            self.schema = ProjectSchema.from_openapi(doc)
            for line in self.schema.differences():
                logger.info("supabase: this project's tables differ from ours: {}", line)
        return self.schema

    def adapt(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` as the project takes it (call :meth:`describe` first)."""
        schema = self.schema or ProjectSchema.assumed()
        mapping = self.machine.mapping() if self.machine is not None else {}
        return schema.adapt(table, row, mapping)

    async def write_machine(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Update the user's ``cloud_machines`` row (by ``user_id``) with ``row``, or insert it
        with the machine's id when there is none; returns the row the database holds. Raises
        :class:`PostgrestError`."""
        user_id = str(row["user_id"])
        values = {k: v for k, v in row.items() if k not in ("id", "user_id")}
        for attempt in range(2):
            updated = await self._rest.update("cloud_machines", values, eq={"user_id": user_id})
            if updated:
                return updated[0]
            current = self.machine.current if self.machine else machine_row_id(user_id)
            try:
                inserted = await self._rest.insert(
                    "cloud_machines", [{**row, "id": current}], returning=True
                )
            except PostgrestError as exc:
                # Inserted by someone else meanwhile (unique user_id): update that row.
                if exc.failure.code == "23505" and attempt == 0:
                    continue
                raise
            return inserted[0]
        raise AssertionError("unreachable")  # pragma: no cover
