"""What is announced, and to whom (pure values).

A :class:`SignalNotice` is a signal as an alert needs it (with its trader's name and each
clause's values); a :class:`VerdictNotice` is the analysis that follows it. :class:`TraderAlerts`
says where a trader's alerts go: the machine's channels (``NOTIFY_URLS``) plus the trader's own
(``notify = [...]`` in the traders file), switched by ``notifyOnSignal``/``notifyOnAnalysis``
(the original product's ``traders.cloud_config``) and a per-trader ``mute``. :class:`QuietHours`
hold alerts back at night (they go out as one digest when the quiet hours end).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from vyx.json_finite import finite
from vyx.notify.channels import Channel, ChannelError, parse_urls
from vyx.signal import Signal

#: At most this many clauses and values per clause are carried into a message.
MAX_CLAUSES = 12
MAX_VALUES = 6
#: Characters of an analysis' reasoning carried into a message.
MAX_REASONING = 600

Value = float | str | None


@attrs.frozen
class SignalClause:
    """One top-level clause of the trader's filter at the signal bar."""

    label: str
    held: bool
    #: Operand values, in the filter's order.
    values: tuple[tuple[str, Value], ...] = ()


def _value(raw: Any) -> Value:
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return str(raw).lower()
    if isinstance(raw, int | float):
        return float(raw) if math.isfinite(raw) else None
    return str(raw)[:40]


def clauses_of(indicator_data: Mapping[str, Any]) -> tuple[SignalClause, ...]:
    """The clauses of a signal's ``indicator_data`` (``{label: {held, values}}``)."""
    clauses = []
    for label, entry in list(indicator_data.items())[:MAX_CLAUSES]:
        entry = entry if isinstance(entry, Mapping) else {}
        values = entry.get("values")
        pairs = list(values.items())[:MAX_VALUES] if isinstance(values, Mapping) else []
        clauses.append(
            SignalClause(
                str(label),
                bool(entry.get("held", True)),
                tuple((str(k), _value(v)) for k, v in pairs),
            )
        )
    return tuple(clauses)


@attrs.frozen
class SignalNotice:
    """A signal, as its alert says it."""

    signal_id: str
    trader_id: str
    trader_name: str
    symbol: str
    interval: str
    price: float
    #: Open time of the signal bar, epoch ms.
    bar_open_time: int
    clauses: tuple[SignalClause, ...] = ()
    provisional: bool = False

    @property
    def key(self) -> str:
        """The outbox key of this notice (with the channel: the dedupe key)."""
        return self.signal_id

    @classmethod
    def of(cls, signal: Signal, trader_name: str | None = None) -> SignalNotice:
        """From a stored signal (``trader_name`` defaults to the trader's id)."""
        return cls(
            signal_id=signal.id,
            trader_id=signal.trader_id,
            trader_name=trader_name or signal.trader_id,
            symbol=signal.symbol,
            interval=signal.interval,
            price=signal.price,
            bar_open_time=signal.bar_open_time,
            clauses=clauses_of(signal.indicator_data),
            provisional=signal.provisional,
        )


@attrs.frozen
class VerdictNotice:
    """The analysis of a signal (sent after it: an edit or a follow-up)."""

    signal_id: str
    trader_id: str
    decision: str
    confidence: int
    reasoning: str
    #: ``entry``, ``stopLoss``, ``takeProfit`` (first), when known.
    levels: tuple[tuple[str, float], ...] = ()

    @property
    def key(self) -> str:
        """The outbox key of this notice."""
        return f"{self.signal_id}/analysis"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> VerdictNotice | None:
        """From a ``signal_analyses`` row (None for a failed analysis: nothing to announce)."""
        technical = row.get("technical_indicators") or {}
        if isinstance(technical, Mapping) and technical.get("analysis_status") == "failed":
            return None
        levels = row.get("key_levels") or {}
        picked: list[tuple[str, float]] = []
        if isinstance(levels, Mapping):
            for name in ("entry", "stopLoss", "takeProfit"):
                value = levels.get(name)
                if isinstance(value, list):
                    value = value[0] if value else None
                if isinstance(value, int | float) and math.isfinite(value):
                    picked.append((name, float(value)))
        return cls(
            signal_id=str(row["signal_id"]),
            trader_id=str(row["trader_id"]),
            decision=str(row["decision"]),
            confidence=int(row.get("confidence") or 0),
            reasoning=str(row.get("reasoning") or "")[:MAX_REASONING],
            levels=tuple(picked),
        )


Notice = SignalNotice | VerdictNotice


def notice_to_json(notice: Notice) -> str:
    """A notice as the outbox row keeps it: compact JSON text of ``kind`` and its fields,
    finite numbers only (built once per alert, shared by its channels' rows)."""
    body: dict[str, Any]
    if isinstance(notice, SignalNotice):
        body = {
            "kind": "signal",
            "signal_id": notice.signal_id,
            "trader_id": notice.trader_id,
            "trader_name": notice.trader_name,
            "symbol": notice.symbol,
            "interval": notice.interval,
            "price": notice.price,
            "bar_open_time": notice.bar_open_time,
            "clauses": [
                {"label": c.label, "held": c.held, "values": c.values} for c in notice.clauses
            ],
            "provisional": notice.provisional,
        }
    else:
        body = {"kind": "verdict", **attrs.asdict(notice, recurse=False)}
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a price that is not finite: rare, so only then walk the body
        return json.dumps(finite(body), separators=(",", ":"), allow_nan=False)


def _clause(body: Mapping[str, Any]) -> SignalClause:
    values = tuple((str(k), _value(v)) for k, v in body["values"][:MAX_VALUES])
    return SignalClause(str(body["label"]), bool(body["held"]), values)


def notice_from_json(body: Mapping[str, Any]) -> Notice:
    """The notice of an outbox row; raises ``ValueError`` for a body that is not one."""
    try:
        kind = body["kind"]
        if kind == "verdict":
            return VerdictNotice(
                signal_id=str(body["signal_id"]),
                trader_id=str(body["trader_id"]),
                decision=str(body["decision"]),
                confidence=int(body["confidence"]),
                reasoning=str(body["reasoning"])[:MAX_REASONING],
                levels=tuple((str(k), float(v)) for k, v in body["levels"]),
            )
        if kind != "signal":
            raise ValueError(f"unknown notice kind {kind!r}")
        clauses = tuple(_clause(c) for c in body["clauses"][:MAX_CLAUSES])
        return SignalNotice(
            signal_id=str(body["signal_id"]),
            trader_id=str(body["trader_id"]),
            trader_name=str(body["trader_name"]),
            symbol=str(body["symbol"]),
            interval=str(body["interval"]),
            price=math.nan if body["price"] is None else float(body["price"]),
            bar_open_time=int(body["bar_open_time"]),
            clauses=clauses,
            provisional=bool(body.get("provisional", False)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not an alert notice: {exc!r}") from None


class AlertsError(ValueError):
    """A trader's alert settings that cannot be used (the message names the setting)."""


@attrs.frozen
class TraderAlerts:
    """Where one trader's alerts go, beyond the machine's own channels."""

    on_signal: bool = True
    on_analysis: bool = True
    muted: bool = False
    #: The trader's own channels (``notify = [...]``).
    channels: tuple[Channel, ...] = ()

    @classmethod
    def from_cloud_config(cls, config: Any) -> TraderAlerts:
        """From ``traders.cloud_config`` (jsonb, possibly a JSON string inside jsonb):
        ``notifyOnSignal``, ``notifyOnAnalysis`` (both default true, like the original's
        column default), ``notifyMuted`` and ``notifyUrls``."""
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except (ValueError, RecursionError):  # nested thousands deep: not a setting
                raise AlertsError("cloud_config is not JSON") from None
        if config is None:
            return cls()
        if not isinstance(config, Mapping):
            raise AlertsError("cloud_config must be an object")
        return cls._build(
            config.get("notifyOnSignal", True),
            config.get("notifyOnAnalysis", True),
            config.get("notifyMuted", False),
            config.get("notifyUrls", ()),
            "cloud_config",
        )

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> TraderAlerts:
        """From a traders-file table: ``notify`` (URLs), ``notify_on_signal``,
        ``notify_on_analysis`` and ``mute``."""
        return cls._build(
            table.get("notify_on_signal", True),
            table.get("notify_on_analysis", True),
            table.get("mute", False),
            table.get("notify", ()),
            "traders file",
        )

    @classmethod
    def _build(
        cls, on_signal: Any, on_analysis: Any, muted: Any, urls: Any, where: str
    ) -> TraderAlerts:
        for name, flag in (
            ("notify on signal", on_signal),
            ("notify on analysis", on_analysis),
            ("mute", muted),
        ):
            if not isinstance(flag, bool):
                raise AlertsError(f"{where}: {name} must be true or false")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, Sequence) or not all(isinstance(u, str) for u in urls):
            raise AlertsError(f"{where}: notify must be a list of apprise URLs")
        try:
            channels = parse_urls(urls, where=f"{where}: notify")
        except ChannelError as exc:
            raise AlertsError(str(exc)) from None
        if where == "cloud_config":  # set by whoever can write the row, not the operator
            channels = tuple(attrs.evolve(c, remote=True) for c in channels)
        return cls(on_signal, on_analysis, muted, channels)


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@attrs.frozen
class QuietHours:
    """A daily window (local time of ``zone``) when alerts wait; ``start == end`` is none."""

    start: dt.time
    end: dt.time
    zone: str = "UTC"

    @classmethod
    def parse(cls, text: str, zone: str = "UTC") -> QuietHours:
        """From ``"22:00-07:00"``; raises ValueError naming what is wrong."""
        start, sep, end = text.replace(" ", "").partition("-")
        a, b = _HHMM.match(start), _HHMM.match(end)
        if not sep or a is None or b is None:
            raise ValueError(f"quiet hours must look like 22:00-07:00, got {text!r}")
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return cls(dt.time(int(a[1]), int(a[2])), dt.time(int(b[1]), int(b[2])), zone)

    def until(self, wall_s: float) -> float | None:
        """When the quiet hours around ``wall_s`` (epoch seconds) end, or None if it is not
        within them."""
        if self.start == self.end:
            return None
        tz = zoneinfo.ZoneInfo(self.zone)
        local = dt.datetime.fromtimestamp(wall_s, tz)
        t = local.time()
        if self.start < self.end:
            inside = self.start <= t < self.end
            end_day = local.date()
        else:  # across midnight
            inside = t >= self.start or t < self.end
            end_day = local.date() + dt.timedelta(days=1 if t >= self.start else 0)
        if not inside:
            return None
        end = dt.datetime.combine(end_day, self.end, tz)
        return end.timestamp()
