"""PostgREST's request grammar as SQL, for the PostgREST test server (no I/O).

The URL grammar (``docs/references/api/tables_views.rst``, ``url_grammar.rst``) and the
``Prefer`` header become one parameterised statement per request, shaped like PostgREST's own:

- ``GET /t?select=a,b&c=eq.v&order=x.desc.nullslast&limit=n&offset=m`` — filters ``eq neq gt
  gte lt lte like ilike is in`` (``not.`` negates); values are bound untyped, so PostgreSQL
  casts them to the column's type as it does for PostgREST.
- ``POST /t`` — ``INSERT ... SELECT FROM json_populate_recordset(NULL::t, $1)``: the database
  converts every JSON value to the column type (an ``187.4`` sent to an ``integer`` column
  fails exactly as it does behind PostgREST). ``columns=`` names the columns (keys missing from
  a row are NULL, as PostgREST does without ``Prefer: missing=default``); without it every
  object must have the same keys (PGRST102). ``Prefer: resolution=merge-duplicates`` adds
  ``ON CONFLICT (on_conflict or the primary key) DO UPDATE SET`` every given column,
  ``ignore-duplicates`` ``DO NOTHING``.
- ``PATCH /t?filters`` — ``UPDATE ... FROM json_populate_record(NULL::t, $1)``; ``DELETE``.
  Without a filter both are refused as Supabase's ``pg-safeupdate`` does (21000).
- ``POST /rpc/f`` — the JSON object's keys are the named arguments (``json_to_record``).
- Results are built by PostgreSQL (``json_agg``/``to_json``), so timestamps, numerics and
  jsonb come back exactly as PostgREST prints them.

Not implemented (the machine and supabase-py as used here never send them): resource
embedding, ``Prefer: missing=default``/``count=``/``tx=``, ``Range`` headers, singular
responses (``Accept: application/vnd.pgrst.object+json``), CSV.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

import attrs
from psycopg import sql

from tests.vyx.store.supabase.pgrest_catalog import SCHEMA, Function, TableInfo


class ApiError(Exception):
    """A PostgREST error response: HTTP status and ``{code, details, hint, message}``."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.body = {"code": code, "details": details, "hint": hint, "message": message}
        super().__init__(f"{status} {code}: {message}")


def parse_error(message: str, details: str | None = None) -> ApiError:
    """PGRST100: the query string does not parse."""
    return ApiError(400, "PGRST100", message, details)


def missing_column(column: str, table: str) -> ApiError:
    """PGRST204: a payload or ``columns=`` names a column the table does not have."""
    return ApiError(
        400, "PGRST204", f"Could not find the '{column}' column of '{table}' in the schema cache"
    )


@attrs.frozen
class Prefer:
    """The ``Prefer`` header's preferences PostgREST acts on here."""

    representation: bool = False
    resolution: Literal["merge", "ignore"] | None = None

    @classmethod
    def parse(cls, header: str) -> Prefer:
        items = {p.strip() for p in header.split(",") if p.strip()}
        resolution: Literal["merge", "ignore"] | None = None
        if "resolution=merge-duplicates" in items:
            resolution = "merge"
        elif "resolution=ignore-duplicates" in items:
            resolution = "ignore"
        return cls("return=representation" in items, resolution)


#: Query parameters that are not filters.
RESERVED = frozenset({"select", "order", "limit", "offset", "on_conflict", "columns"})
_OPERATORS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
}
_IS = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _column(table: TableInfo, name: str) -> sql.Composable:
    return sql.Identifier(table.name, name)


def _list_values(raw: str) -> list[str]:
    """``(a,"b,c",d)`` → ``["a", "b,c", "d"]``."""
    if not (raw.startswith("(") and raw.endswith(")")):
        raise parse_error(f'"failed to parse filter (in.{raw})"', "unexpected end of input")
    out, current, quoted, body = [], "", False, raw[1:-1]
    for ch in body:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(current)
            current = ""
        else:
            current += ch
    if body:
        out.append(current)
    return out


def filter_sql(table: TableInfo, column: str, expression: str) -> tuple[sql.Composable, list[Any]]:
    """One ``column=op.value`` filter."""
    negate = expression.startswith("not.")
    rest = expression.removeprefix("not.")
    op, dot, value = rest.partition(".")
    if not dot:
        raise parse_error(f'"failed to parse filter ({expression})"', "unexpected end of input")
    target = _column(table, column)
    params: list[Any] = []
    if op in _OPERATORS:
        if op in ("like", "ilike"):
            value = value.replace("*", "%")
        clause: sql.Composable = sql.SQL("{} {} %s").format(target, sql.SQL(_OPERATORS[op]))
        params.append(value)
    elif op == "is" and value.lower() in _IS:
        clause = sql.SQL("{} IS {}").format(target, sql.SQL(_IS[value.lower()]))
    elif op == "in":
        values = _list_values(value)
        if not values:
            clause = sql.SQL("FALSE")
        else:
            marks = sql.SQL(", ").join(sql.Placeholder() * len(values))
            clause = sql.SQL("{} IN ({})").format(target, marks)
            params.extend(values)
    else:
        raise parse_error(
            f'"failed to parse filter ({expression})"',
            f'unexpected "{op[:1]}" expecting an operator',
        )
    if negate:
        clause = sql.SQL("NOT ({})").format(clause)
    return clause, params


def where(
    table: TableInfo, pairs: Sequence[tuple[str, str]]
) -> tuple[sql.Composable | None, list[Any]]:
    """The filters of a query string (``None`` when there are none)."""
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    for key, value in pairs:
        if key in RESERVED:
            continue
        clause, values = filter_sql(table, key, value)
        clauses.append(clause)
        params.extend(values)
    if not clauses:
        return None, []
    return sql.SQL(" AND ").join(clauses), params


def select_list(table: TableInfo, raw: str | None) -> sql.Composable:
    """``select=*`` / ``a,b`` / ``alias:col`` / ``col::type``."""
    if raw is None or raw.strip() in ("", "*"):
        return sql.SQL("{}.*").format(sql.Identifier(table.name))
    items: list[sql.Composable] = []
    for item in raw.split(","):
        item = item.strip().strip('"')
        alias, _, rest = item.rpartition(":") if "::" not in item else ("", "", item)
        name, _, cast = rest.partition("::")
        if (
            not _NAME.match(name)
            or (alias and not _NAME.match(alias))
            or (cast and not _NAME.match(cast))
        ):
            raise parse_error(f'"failed to parse select parameter ({raw})"')
        expr: sql.Composable = _column(table, name)
        if cast:
            expr = sql.SQL("{}::{}").format(expr, sql.Identifier(cast))
        items.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(alias or name)))
    return sql.SQL(", ").join(items)


def order_by(table: TableInfo, raw: str | None) -> sql.Composable:
    """``order=a.desc.nullslast,b``."""
    if not raw:
        return sql.SQL("")
    terms: list[sql.Composable] = []
    for term in raw.split(","):
        name, *mods = term.strip().split(".")
        words = []
        for mod in mods:
            word = {
                "asc": "ASC",
                "desc": "DESC",
                "nullsfirst": "NULLS FIRST",
                "nullslast": "NULLS LAST",
            }.get(mod)
            if word is None or not _NAME.match(name):
                raise parse_error(f'"failed to parse order ({raw})"')
            words.append(word)
        terms.append(sql.SQL("{} {}").format(_column(table, name), sql.SQL(" ".join(words))))
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)


def _count(raw: str | None, what: str) -> sql.Composable:
    if raw is None:
        return sql.SQL("")
    if not raw.isdigit():
        raise parse_error(f'"failed to parse {what} parameter ({raw})"')
    return sql.SQL(f" {what.upper()} {int(raw)}")


def _as_json_array(statement: sql.Composable) -> sql.Composed:
    return sql.SQL(
        "WITH pgrst_source AS ({}) "
        "SELECT coalesce(json_agg(pgrst_source), '[]')::text, count(*) FROM pgrst_source"
    ).format(statement)


def select_sql(
    table: TableInfo, params: dict[str, str], pairs: Sequence[tuple[str, str]]
) -> tuple[sql.Composed, list[Any]]:
    """``GET /table``: a JSON array of the matching rows."""
    condition, values = where(table, pairs)
    inner = sql.SQL("SELECT {} FROM {}{}{}{}{}").format(
        select_list(table, params.get("select")),
        sql.Identifier(SCHEMA, table.name),
        sql.SQL(" WHERE ") + condition if condition is not None else sql.SQL(""),
        order_by(table, params.get("order")),
        _count(params.get("limit"), "limit"),
        _count(params.get("offset"), "offset"),
    )
    return _as_json_array(inner), values


def _returning(table: TableInfo, params: dict[str, str], prefer: Prefer) -> sql.Composable:
    if prefer.representation:
        return sql.SQL(" RETURNING ") + select_list(table, params.get("select"))
    return sql.SQL(" RETURNING 1")


def payload_columns(table: TableInfo, rows: list[Any], columns: str | None) -> list[str]:
    """The columns an insert writes: ``columns=`` or the rows' keys (which must all match)."""
    if columns is not None:
        names = [c.strip().strip('"') for c in columns.split(",") if c.strip()]
    else:
        if not all(isinstance(r, dict) for r in rows):
            raise ApiError(400, "PGRST102", "All object keys must match")
        names = list(rows[0]) if rows else []
        if any(set(r) != set(names) for r in rows):
            raise ApiError(400, "PGRST102", "All object keys must match")
    for name in names:
        if name not in table.columns:
            raise missing_column(name, table.name)
    return names


def insert_sql(
    table: TableInfo, params: dict[str, str], prefer: Prefer, names: list[str]
) -> sql.Composed:
    """``POST /table``: insert (or upsert) the JSON array bound as the one parameter."""
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    head = sql.SQL(
        "INSERT INTO {table} ({cols}) "
        "SELECT {cols} FROM json_populate_recordset(NULL::{table}, %s::json)"
    ).format(table=sql.Identifier(SCHEMA, table.name), cols=cols)
    conflict: sql.Composable = sql.SQL("")
    if prefer.resolution is not None:
        raw = params.get("on_conflict")
        target = [c.strip().strip('"') for c in raw.split(",")] if raw else list(table.primary_key)
        keys = sql.SQL(", ").join(sql.Identifier(c) for c in target)
        if prefer.resolution == "ignore":
            conflict = sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys)
        else:
            sets = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in names
            )
            conflict = sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(keys, sets)
    return _as_json_array(head + conflict + _returning(table, params, prefer))


def _guarded(
    table: TableInfo, pairs: Sequence[tuple[str, str]], verb: str
) -> tuple[sql.Composable, list[Any]]:
    condition, values = where(table, pairs)
    if condition is None:  # Supabase runs pg-safeupdate
        raise ApiError(400, "21000", f"{verb} requires a WHERE clause")
    return condition, values


def update_sql(
    table: TableInfo,
    params: dict[str, str],
    pairs: Sequence[tuple[str, str]],
    prefer: Prefer,
    names: list[str],
) -> tuple[sql.Composed, list[Any]]:
    """``PATCH /table?filters``: the JSON object bound first, then the filter values."""
    for name in names:
        if name not in table.columns:
            raise missing_column(name, table.name)
    condition, values = _guarded(table, pairs, "UPDATE")
    sets = sql.SQL(", ").join(
        sql.SQL("{0} = pgrst_body.{0}").format(sql.Identifier(n)) for n in names
    )
    statement = sql.SQL(
        "UPDATE {table} SET {sets} "
        "FROM (SELECT * FROM json_populate_record(NULL::{table}, %s::json)) pgrst_body "
        "WHERE {where}"
    ).format(table=sql.Identifier(SCHEMA, table.name), sets=sets, where=condition)
    return _as_json_array(statement + _returning(table, params, prefer)), values


def delete_sql(
    table: TableInfo, params: dict[str, str], pairs: Sequence[tuple[str, str]], prefer: Prefer
) -> tuple[sql.Composed, list[Any]]:
    """``DELETE /table?filters``."""
    condition, values = _guarded(table, pairs, "DELETE")
    statement = sql.SQL("DELETE FROM {} WHERE {}").format(
        sql.Identifier(SCHEMA, table.name), condition
    )
    return _as_json_array(statement + _returning(table, params, prefer)), values


def rpc_sql(fn: Function, args: dict[str, Any]) -> tuple[sql.Composed, list[Any]]:
    """``POST /rpc/fn``: one JSON text (a scalar, an object or an array) or NULL for void."""
    name = sql.Identifier(SCHEMA, fn.name)
    if fn.args:
        spec = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(a), sql.SQL(t)) for a, t in fn.args
        )
        source = sql.SQL(" FROM json_to_record(%s::json) AS pgrst_args({})").format(spec)
        call = name + sql.SQL("({})").format(
            sql.SQL(", ").join(
                sql.SQL("{0} => pgrst_args.{0}").format(sql.Identifier(a)) for a, _ in fn.args
            )
        )
        params = [json.dumps(args)]
    else:
        source, call, params = sql.SQL(""), name + sql.SQL("()"), []
    if fn.returns_set:
        statement = sql.SQL(
            "SELECT coalesce(json_agg(pgrst_call), '[]')::text FROM (SELECT {} AS pgrst_call{}) q"
        ).format(call, source)
        if fn.returns_rows:
            statement = sql.SQL(
                "SELECT coalesce(json_agg(pgrst_call), '[]')::text "
                "FROM (SELECT ({}).*{}) pgrst_call"
            ).format(call, source)
    else:
        statement = sql.SQL("SELECT to_json({})::text{}").format(call, source)
    return statement, params
