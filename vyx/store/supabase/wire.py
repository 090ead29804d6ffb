"""PostgREST wire format: rows as PostgREST wants them, and what its errors mean.

Pure code, no I/O. The store's rows carry timestamps as epoch milliseconds (the SQLite backend's
habit); PostgreSQL's ``timestamptz`` wants ISO-8601, so :func:`to_wire` converts the columns in
:data:`TIMESTAMP_COLUMNS` and makes jsonb values JSON-safe (NaN/±inf → ``null``, as
:func:`~vyx.store.records.to_json` does for SQLite).

:func:`classify` decides what a failed request means for the rows it carried:

- ``retry`` — the database did not answer or is overloaded (network error, timeout, 408, 429,
  5xx): the same rows are sent again after a backoff; they stay in the spool meanwhile.
- ``blocked`` — the request can never succeed as configured (401/403: wrong key, RLS refusal of
  a non-service key; 404/PGRST205: table missing, migrations not applied). Retrying row by row
  would quarantine *every* row for a configuration mistake, so the rows wait in the spool, the
  store reports itself down, and sending resumes once the project is fixed.
- ``reject`` — the database refused the rows themselves (400/409/422: a constraint 23xxx, a bad
  value 22xxx, an unknown column PGRST204): the batch is split to find the poison row, which is
  quarantined with its error; the others land.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import attrs

from vyx.json_finite import finite
from vyx.retry import parse_retry_after

Verdict = Literal["retry", "blocked", "reject"]

#: Columns holding timestamps (epoch ms in Vyx, ``timestamptz`` in PostgreSQL).
TIMESTAMP_COLUMNS: Mapping[str, frozenset[str]] = {
    "signals": frozenset({"created_at", "bar_open_time"}),
    "signal_analyses": frozenset({"created_at"}),
    "signal_outcomes": frozenset({"bar_open_time", "updated_at"}),
    "cloud_metrics": frozenset({"recorded_at"}),
    "cloud_events": frozenset({"created_at"}),
    "traders": frozenset({"updated_at"}),
    "cloud_machines": frozenset(
        {
            "provisioned_at",
            "started_at",
            "stopped_at",
            "last_health_check",
            "created_at",
            "updated_at",
        }
    ),
}

#: Upsert conflict target (``on_conflict``) of each batched table: always the primary key, so
#: no other unique constraint is needed (``signal_analyses`` rows carry a deterministic ``id``,
#: :func:`~vyx.store.records.analysis_row_id`; the original product's table has no unique
#: constraint on ``signal_id``). ``cloud_machines`` rows are not upserted: see
#: :mod:`vyx.store.supabase.project`.
CONFLICT_KEYS: Mapping[str, str] = {
    "signals": "id",
    "signal_analyses": "id",
    "signal_outcomes": "signal_id",
    "cloud_metrics": "id",
    "cloud_events": "id",
}

#: Tables whose rows are immutable facts: a replay must change nothing
#: (``Prefer: resolution=ignore-duplicates``); the others merge (``merge-duplicates``).
IMMUTABLE_TABLES: frozenset[str] = frozenset({"cloud_metrics", "cloud_events"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_from_ms(ms: int) -> str:
    """Epoch milliseconds → ISO-8601 UTC with milliseconds (``timestamptz`` input)."""
    return (_EPOCH + timedelta(milliseconds=int(ms))).isoformat(timespec="milliseconds")


def encode_wire(table: str, row: Mapping[str, Any]) -> str:
    """:func:`to_wire` as compact JSON text (what the spool stores)."""
    out = _stamped(table, row)
    try:
        return json.dumps(out, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN/inf somewhere: rare, so only then walk the row
        return json.dumps(finite(out), separators=(",", ":"), allow_nan=False)


def _stamped(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    stamps = TIMESTAMP_COLUMNS.get(table, frozenset())
    out = dict(row)
    for column in stamps & out.keys():
        value = out[column]
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{table}.{column}: timestamp {value!r} is not finite")
            out[column] = iso_from_ms(int(value))
    return out


def to_wire(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object PostgREST receives for ``row`` of ``table``.

    Timestamps given as numbers become ISO strings (strings are passed through); non-finite
    floats become ``null``. Raises ``TypeError``/``ValueError`` for a value JSON cannot carry
    (the row is then quarantined before it is ever sent)."""
    out: dict[str, Any] = json.loads(encode_wire(table, row))
    return out


def from_wire(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row read from PostgREST with its ISO timestamps as epoch ms (the SQLite habit)."""
    out = dict(row)
    for column in TIMESTAMP_COLUMNS.get(table, frozenset()) & out.keys():
        value = out[column]
        if isinstance(value, str):
            out[column] = int(datetime.fromisoformat(value).timestamp() * 1000)
    return out


@attrs.frozen
class ApiFailure:
    """A failed PostgREST request, as the caller sees it."""

    #: HTTP status, or None when no response arrived (network error, timeout).
    status: int | None
    #: PostgreSQL SQLSTATE or PostgREST ``PGRSTxxx`` code, if the body had one.
    code: str | None
    message: str
    details: str | None = None
    hint: str | None = None
    #: Seconds from a ``Retry-After`` header (429/503), if any.
    retry_after_s: float | None = None

    def __str__(self) -> str:
        head = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        tail = f" ({self.details})" if self.details else ""
        return f"{head}{code}: {self.message}{tail}"


def classify(failure: ApiFailure) -> Verdict:
    """What to do with the rows of a failed request (see the module docstring)."""
    status = failure.status
    if status is None or status in (408, 429) or status >= 500:
        return "retry"
    if status in (401, 403, 404) or failure.code in ("42501", "PGRST205", "PGRST301"):
        return "blocked"
    return "reject"


def failure_from_response(status: int, body: bytes, headers: Mapping[str, str]) -> ApiFailure:
    """Parse a PostgREST error response (``{code, message, details, hint}``; a proxy's HTML
    error page has none of them)."""
    retry_after = parse_retry_after(headers.get("retry-after"))
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    text = body[:200].decode("utf-8", "replace").strip()
    message = parsed.get("message") or text or f"HTTP {status}"
    details = parsed.get("details")
    hint = parsed.get("hint")
    return ApiFailure(
        status=status,
        code=str(parsed["code"]) if parsed.get("code") is not None else None,
        message=str(message),
        details=None if details is None else str(details),
        hint=None if hint is None else str(hint),
        retry_after_s=retry_after,
    )
