"""A batch of the writer's items as SQLite statements, bound straight from the items.

A close's signals are bound from their fields (:func:`signal_params`), rows of
:class:`~vyx.store.api.PendingRows` by their columns (:func:`row_params`), any other row by
:func:`encode` (jsonb columns as JSON text, :func:`jsonb_text`; booleans as 0/1).
:func:`batch_runs` groups them into as few ``executemany`` runs as order allows: rows of
different tables never depend on each other, so every statement but those of
:class:`~vyx.store.api.PendingRows` is grouped by its SQL (the signals first, each run in the
batch's order); the rows of :class:`~vyx.store.api.PendingRows` follow in the batch's order
(an outcome's row opened and then progressed in one batch lands in that order). Progressed
rows are updated in place (an upsert first tries an insert, which costs about half as much
again), and upserted, in the same order, when any of them is missing: the table ends as the
upserts alone would leave it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from vyx.store import outbox
from vyx.store.api import Pending, PendingRow, PendingRows, PendingSignals
from vyx.store.records import to_json
from vyx.store.schema import (
    COLUMNS,
    CONFLICT_KEY,
    JSON_COLUMNS,
    update_sql,
    updated_columns,
    upsert_sql,
)

if TYPE_CHECKING:
    from vyx.signal import Signal

Params = tuple[Any, ...]


@attrs.frozen
class Run:
    """One ``executemany``: ``sql`` over ``params``. With a ``fallback`` (rows updated in
    place), when fewer rows changed than ``params`` holds, the fallback's statement runs over
    its parameters (the same rows' upserts, in the same order)."""

    sql: str
    params: list[Params]
    fallback: tuple[str, list[Params]] | None = None


def batch_runs(items: Sequence[Pending]) -> list[Run]:
    """The runs that write ``items`` (module docstring). Raises ``TypeError``/``ValueError``
    for a value a column cannot take."""
    signals: list[Params] = []
    by_sql: dict[str, list[Params]] = {upsert_sql("signals"): signals}
    ordered: list[Run] = []
    for item in items:
        if isinstance(item, PendingSignals):
            signals.extend(map(signal_params, item.signals))
            for attached in item.alerts.values():
                for a in attached:
                    by_sql.setdefault(outbox.INSERT_SQL, []).append(outbox.encode(a.row))
        elif isinstance(item, PendingRows):
            _add_rows(item, ordered)
        else:
            for sql, params in statements(item):
                by_sql.setdefault(sql, []).append(params)
    return [Run(sql, params) for sql, params in by_sql.items() if params] + ordered


def _add_rows(item: PendingRows, ordered: list[Run]) -> None:
    """``item``'s rows as the last run of ``ordered`` (extended when it is of the same kind)."""
    params = [row_params(item.table, row) for row in item.data]
    upsert = upsert_sql(item.table)
    if item.progressed:
        order = _update_order(item.table)
        run = Run(update_sql(item.table), [order(p) for p in params], (upsert, params))
    else:
        run = Run(upsert, params)
    last = ordered[-1] if ordered else None
    if (
        last is not None
        and last.sql == run.sql
        and (last.fallback is None) == (run.fallback is None)
    ):
        last.params.extend(run.params)
        if last.fallback is not None and run.fallback is not None:
            last.fallback[1].extend(run.fallback[1])
        return
    ordered.append(run)


def signal_params(s: Signal) -> Params:
    """A signal's ``signals`` row as upsert parameters, straight from its fields: the same as
    ``encode("signals", s.to_row())`` (a test holds them equal) without the row dictionary."""
    return (
        s.id,
        s.trader_id,
        s.user_id,
        s.symbol,
        s.interval,
        s.price,
        jsonb_text(s.matched_conditions),
        jsonb_text(s.indicator_data),
        s.status,
        s.source,
        s.machine_id,
        s.created_at,
        s.bar_open_time,
        int(s.alert_muted),
    )


def row_params(table: str, row: Mapping[str, Any]) -> Params:
    """``row``'s upsert parameters: the same as ``encode(table, row)`` (a test holds them
    equal), read with one ``itemgetter`` when the row has exactly the table's columns and none
    of them is jsonb (a boolean stays a boolean: SQLite binds it as 0/1, as ``encode`` gives)."""
    if len(row) == len(COLUMNS[table]) and table not in JSON_COLUMNS:
        try:
            return _getter(table)(row)
        except KeyError:
            pass
    return encode(table, row)


@functools.cache
def _getter(table: str) -> Callable[[Mapping[str, Any]], Params]:
    return operator.itemgetter(*COLUMNS[table])


@functools.cache
def _update_order(table: str) -> Callable[[Params], Params]:
    """Upsert parameters (every column) → :func:`~vyx.store.schema.update_sql`'s (the
    columns an upsert overwrites, then the key)."""
    columns = COLUMNS[table]
    get = operator.itemgetter(
        *(columns.index(c) for c in (*updated_columns(table), CONFLICT_KEY[table]))
    )
    return get


def statements(pending: PendingRow) -> tuple[tuple[str, Params], ...]:
    """The SQL and parameters of ``pending`` and of the rows attached to it."""
    out = [_statement(pending)]
    out.extend(_statement(a) for a in pending.attached)
    return tuple(out)


def _statement(pending: PendingRow) -> tuple[str, Params]:
    if pending.table == outbox.TABLE:
        return outbox.INSERT_SQL, outbox.encode(pending.row)
    return upsert_sql(pending.table), encode(pending.table, pending.row)


@functools.cache
def _column_set(table: str) -> frozenset[str]:
    return frozenset(COLUMNS[table])


def encode(table: str, row: Mapping[str, Any]) -> Params:
    """Row → parameters in column order (JSON text for jsonb, 0/1 for booleans).

    Raises ``ValueError`` for an unknown column and ``TypeError``/``ValueError`` for a value
    that cannot be encoded."""
    columns = COLUMNS[table]
    unknown = row.keys() - _column_set(table)
    if unknown:
        raise ValueError(f"unknown column(s) of {table}: {', '.join(sorted(unknown))}")
    json_columns = JSON_COLUMNS.get(table, frozenset())
    values = []
    for column in columns:
        value = row.get(column)
        if value is not None and column in json_columns:
            value = jsonb_text(value)
        elif isinstance(value, bool):
            value = int(value)
        values.append(value)
    return tuple(values)


def jsonb_text(value: Any) -> str:
    """JSON text of a jsonb column: orjson (a tenth of the standard library's time; a close
    stores dozens of signals' clauses and operand values), NaN and ±inf as ``null``; what orjson
    cannot encode (a non-string key, an integer beyond 64 bits, a numpy scalar) goes through
    :func:`~vyx.store.records.to_json`, which raises for what nothing can encode. Either text
    decodes to the same value."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return to_json(value)
