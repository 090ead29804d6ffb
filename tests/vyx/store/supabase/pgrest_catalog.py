"""What the PostgREST test server knows of the database: tables, columns, keys, functions, and
the OpenAPI (Swagger 2.0) description PostgREST serves at ``/``.

Blocking; every function takes an open psycopg connection (inside the request's transaction).
The description follows PostgREST's ``Response/OpenAPI.hs``: one ``definitions`` entry per
table or view with ``properties`` (``format`` = the PostgreSQL type, ``type`` = its Swagger
type, ``default``, and a ``description`` carrying ``<pk/>`` and
``<fk table='t' column='c'/>`` notes) and ``required`` = the NOT NULL columns; ``paths`` has
``/``, one entry per table and one per function (``/rpc/name``). Only what the request's role
may use is described (PostgREST's default ``openapi-mode = follow-privileges``).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import psycopg

#: The schema PostgREST exposes (``db-schemas``), as on Supabase.
SCHEMA = "public"
VERSION = "12.2.3"

_SWAGGER_TYPES = {
    "character varying": "string",
    "character": "string",
    "text": "string",
    "boolean": "boolean",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
}


def swagger_type(pg_type: str) -> str | None:
    """Swagger's type of a PostgreSQL type (None for json/jsonb, which may be anything)."""
    if pg_type in ("json", "jsonb"):
        return None
    if pg_type.endswith("[]"):
        return "array"
    return _SWAGGER_TYPES.get(pg_type, "string")


@attrs.frozen
class Column:
    name: str
    type: str
    nullable: bool
    default: str | None


@attrs.frozen
class TableInfo:
    """A table or view of :data:`SCHEMA`."""

    name: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...]
    #: Single-column foreign keys: column -> (table, column).
    foreign: dict[str, tuple[str, str]]
    writable: bool


_TABLE = """
select c.oid, c.relkind in ('r', 'p') from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')
"""
_COLUMNS = """
select a.attname, format_type(a.atttypid, null), not a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attrelid = %s and a.attnum > 0 and not a.attisdropped order by a.attnum
"""
_PRIMARY_KEY = """
select a.attname from pg_index i
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
where i.indrelid = %s and i.indisprimary order by array_position(i.indkey, a.attnum)
"""
_FOREIGN = """
select a.attname, ft.relname, fa.attname from pg_constraint k
join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
join pg_class ft on ft.oid = k.confrelid
join pg_attribute fa on fa.attrelid = k.confrelid and fa.attnum = k.confkey[1]
where k.conrelid = %s and k.contype = 'f' and cardinality(k.conkey) = 1
"""
_TABLES = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and (has_table_privilege(%s, c.oid, 'select') or has_table_privilege(%s, c.oid, 'insert')
       or has_table_privilege(%s, c.oid, 'update') or has_table_privilege(%s, c.oid, 'delete'))
order by c.relname
"""


def table_info(conn: psycopg.Connection[Any], name: str) -> TableInfo | None:
    """The table or view ``name`` of :data:`SCHEMA`, or None."""
    found = conn.execute(_TABLE, (SCHEMA, name)).fetchone()
    if found is None:
        return None
    oid, writable = found
    columns = {
        n: Column(n, t, nullable, default)
        for n, t, nullable, default in conn.execute(_COLUMNS, (oid,)).fetchall()
    }
    pk = tuple(r[0] for r in conn.execute(_PRIMARY_KEY, (oid,)).fetchall())
    foreign = {c: (t, fc) for c, t, fc in conn.execute(_FOREIGN, (oid,)).fetchall()}
    return TableInfo(name, columns, pk, foreign, bool(writable))


@attrs.frozen
class Function:
    """A function of :data:`SCHEMA` callable as ``/rpc/name``."""

    name: str
    #: (name, PostgreSQL type) of each input argument.
    args: tuple[tuple[str, str], ...]
    returns_set: bool
    #: The result is a row type (a table's, or ``returns table (...)``).
    returns_rows: bool
    returns_void: bool
    volatile: bool


_FUNCTIONS = """
select p.proname, coalesce(p.proargnames, '{}'), p.proargtypes::oid[], p.proretset,
       t.typtype = 'c' or p.proargmodes is not null and 't' = any(p.proargmodes),
       p.prorettype = 'void'::regtype, p.provolatile = 'v'
from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_type t on t.oid = p.prorettype
where n.nspname = %s and p.prokind = 'f' and (%s::text is null or p.proname = %s)
  and has_function_privilege(%s, p.oid, 'execute')
order by p.proname
"""


def functions(conn: psycopg.Connection[Any], role: str, name: str | None = None) -> list[Function]:
    """The functions ``role`` may execute (named ``name`` if given)."""
    out = []
    rows = conn.execute(_FUNCTIONS, (SCHEMA, name, name, role)).fetchall()
    for fname, argnames, argtypes, retset, rows_type, void, volatile in rows:
        types = [
            conn.execute("select format_type(%s, null)", (oid,)).fetchone()[0]  # type: ignore[index]
            for oid in argtypes
        ]
        names = list(argnames[: len(types)])
        if len(names) < len(types) or not all(names):
            continue  # unnamed arguments (extension functions): not callable by name
        args = tuple(zip(names, types, strict=True))
        out.append(Function(fname, args, retset, bool(rows_type), void, volatile))
    return out


def _default(column: Column) -> Any:
    """The ``default`` PostgREST shows (``parseDefault``): strings unquoted from their cast,
    numbers and booleans as JSON, nothing when the expression is not JSON."""
    raw = column.default
    if raw is None:
        return None
    kind = swagger_type(column.type)
    if kind == "string":
        text = raw.removesuffix("::" + column.type)
        if text != raw:
            text = text.strip("'")
        return text
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _property(table: TableInfo, column: Column) -> dict[str, Any]:
    notes = ["Note:"]
    if column.name in table.primary_key:
        notes.append("This is a Primary Key.<pk/>")
    if column.name in table.foreign:
        ft, fc = table.foreign[column.name]
        notes.append(f"This is a Foreign Key to `{ft}.{fc}`.<fk table='{ft}' column='{fc}'/>")
    prop: dict[str, Any] = {}
    default = _default(column)
    if default is not None:
        prop["default"] = default
    if len(notes) > 1:
        prop["description"] = "\n".join(notes)
    prop["format"] = column.type
    kind = swagger_type(column.type)
    if kind is not None:
        prop["type"] = kind
    if kind == "array":
        item = swagger_type(column.type.removesuffix("[]"))
        prop["items"] = {"type": item} if item else {}
    return prop


def _table_paths(table: TableInfo) -> dict[str, Any]:
    filters = [{"$ref": f"#/parameters/rowFilter.{table.name}.{c}"} for c in table.columns]
    tag = {"tags": [table.name]}
    get = {
        **tag,
        "parameters": [
            *filters,
            *(
                {"$ref": f"#/parameters/{p}"}
                for p in ("select", "order", "range", "rangeUnit", "offset", "limit", "preferCount")
            ),
        ],
        "responses": {
            "200": {
                "description": "OK",
                "schema": {"type": "array", "items": {"$ref": f"#/definitions/{table.name}"}},
            },
            "206": {"description": "Partial Content"},
        },
    }
    item: dict[str, Any] = {"get": get}
    if table.writable:
        body = {"$ref": f"#/parameters/body.{table.name}"}
        item["post"] = {
            **tag,
            "parameters": [
                body,
                {"$ref": "#/parameters/select"},
                {"$ref": "#/parameters/preferPost"},
            ],
            "responses": {"201": {"description": "Created"}},
        }
        item["patch"] = {
            **tag,
            "parameters": [*filters, body, {"$ref": "#/parameters/preferReturn"}],
            "responses": {"204": {"description": "No Content"}},
        }
        item["delete"] = {
            **tag,
            "parameters": [*filters, {"$ref": "#/parameters/preferReturn"}],
            "responses": {"204": {"description": "No Content"}},
        }
    return item


def _prefer(*values: str) -> dict[str, Any]:
    return {
        "name": "Prefer",
        "description": "Preference",
        "required": False,
        "in": "header",
        "type": "string",
        "enum": list(values),
    }


_RETURN = ("return=representation", "return=minimal", "return=none")
_RESOLUTION = ("resolution=ignore-duplicates", "resolution=merge-duplicates")


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "required": False,
        "in": "query",
        "type": "string",
    }


def describe(conn: psycopg.Connection[Any], role: str, host: str) -> dict[str, Any]:
    """PostgREST's OpenAPI description of :data:`SCHEMA` as ``role`` sees it."""
    names = [r[0] for r in conn.execute(_TABLES, (SCHEMA, role, role, role, role)).fetchall()]
    tables = [t for t in (table_info(conn, n) for n in names) if t is not None]
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "tags": ["Introspection"],
                "summary": "OpenAPI description (this document)",
                "produces": ["application/openapi+json", "application/json"],
                "responses": {"200": {"description": "OK"}},
            }
        }
    }
    definitions: dict[str, Any] = {}
    parameters: dict[str, Any] = {
        "preferParams": _prefer("params=single-object"),
        "preferReturn": _prefer(*_RETURN),
        "preferCount": _prefer("count=none"),
        "preferPost": _prefer(*_RETURN, *_RESOLUTION),
        "select": _query("select", "Filtering Columns"),
        "on_conflict": _query("on_conflict", "On Conflict"),
        "order": _query("order", "Ordering"),
        "offset": _query("offset", "Limiting and Pagination"),
        "limit": _query("limit", "Limiting and Pagination"),
        "range": {
            "name": "Range",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "header",
            "type": "string",
        },
        "rangeUnit": {
            "name": "Range-Unit",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "header",
            "type": "string",
            "default": "items",
        },
    }
    for table in tables:
        paths[f"/{table.name}"] = _table_paths(table)
        definitions[table.name] = {
            "required": [c.name for c in table.columns.values() if not c.nullable],
            "properties": {c.name: _property(table, c) for c in table.columns.values()},
            "type": "object",
        }
        parameters[f"body.{table.name}"] = {
            "name": table.name,
            "description": table.name,
            "required": False,
            "in": "body",
            "schema": {"$ref": f"#/definitions/{table.name}"},
        }
        for c in table.columns.values():
            parameters[f"rowFilter.{table.name}.{c.name}"] = _query(c.name, "")
    for fn in functions(conn, role):
        schema = {
            "type": "object",
            "required": [a for a, _ in fn.args],
            "properties": {
                a: {"format": t, **({"type": swagger_type(t)} if swagger_type(t) else {})}
                for a, t in fn.args
            },
        }
        op = {
            "tags": [f"(rpc) {fn.name}"],
            "produces": ["application/json"],
            "parameters": [
                {"name": "args", "required": True, "in": "body", "schema": schema},
                {"$ref": "#/parameters/preferParams"},
            ],
            "responses": {"200": {"description": "OK"}},
        }
        paths[f"/rpc/{fn.name}"] = {"post": op}
    return {
        "swagger": "2.0",
        "info": {"description": "", "title": "standard public schema", "version": VERSION},
        "host": host,
        "basePath": "/",
        "schemes": ["http"],
        "consumes": [
            "application/json",
            "application/vnd.pgrst.object+json;nulls=stripped",
            "application/vnd.pgrst.object+json",
            "text/csv",
        ],
        "produces": [
            "application/json",
            "application/vnd.pgrst.object+json;nulls=stripped",
            "application/vnd.pgrst.object+json",
            "text/csv",
        ],
        "paths": paths,
        "definitions": definitions,
        "parameters": parameters,
        "externalDocs": {
            "description": "PostgREST Documentation",
            "url": "https://postgrest.org/en/v12/references/api.html",
        },
    }
