"""Traders as the daemon runs them, from any source: the local file, the ``traders`` table or
the browser (``trader_upsert``, ``config_update``).

Rows of the ``traders`` table keep jsonb ``filter = {code, language?, ...}``; only filters in
the Vyx language (``language: 'vyx'`` on the filter or the row) run on this machine. Others are
reported with a reason, never skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from kernels.program import TraderDef
from kernels.timeframes import TIMEFRAME_MS
from vyx.store.records import Trader
from vyx.traders_file import TraderEntry


class TraderRejected(ValueError):
    """A trader this machine cannot run (not the Vyx language, malformed); says why."""

    def __init__(self, trader_id: str, reason: str) -> None:
        super().__init__(f"trader {trader_id}: {reason}")
        self.trader_id = trader_id
        self.reason = reason


@attrs.frozen
class TraderInfo:
    """A trader: its compiled definition's source plus what the analyzer needs."""

    definition: TraderDef
    enabled: bool = True
    auto_analyze: bool = False
    #: The trader's ``strategy`` (instructions, riskManagement, aiAnalysisLimit, ...).
    strategy: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def id(self) -> str:
        """The trader's id."""
        return self.definition.id

    def to_message(self, state: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The trader as the browser sees it (``snapshot.traders``, ``trader_updated``)."""
        d = self.definition
        return {
            "id": d.id,
            "name": d.name or d.id,
            "timeframe": d.timeframe,
            "direction": d.direction,
            "filter": {"code": d.filter, "language": "vyx"},
            "enabled": self.enabled,
            "autoAnalyze": self.auto_analyze,
            **(dict(state) if state else {}),
        }


def from_entry(entry: TraderEntry) -> TraderInfo:
    """A trader of the local traders file."""
    strategy = {"instructions": entry.instructions} if entry.instructions else {}
    return TraderInfo(entry.definition, entry.enabled, entry.auto_analyze, strategy)


def _json(value: Any) -> Any:
    # The browser often stores jsonb values as a JSON string inside jsonb: accept both.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def from_record(trader: Trader) -> TraderInfo:
    """A row of the ``traders`` table; raises :class:`TraderRejected`."""
    return from_mapping(trader.to_row())


def from_mapping(row: Mapping[str, Any]) -> TraderInfo:
    """A trader object as the table or the browser spells it (snake_case or camelCase);
    raises :class:`TraderRejected` naming the problem."""
    trader_id = str(row.get("id") or "")
    if not trader_id:
        raise TraderRejected("?", "a trader needs an id")
    flt = _json(row.get("filter"))
    if isinstance(flt, str):
        flt = {"code": flt}
    if not isinstance(flt, Mapping) or not isinstance(flt.get("code"), str):
        raise TraderRejected(trader_id, "filter.code (the filter's source) is missing")
    language = flt.get("language") or row.get("language")
    if language not in (None, "vyx"):
        raise TraderRejected(
            trader_id, f"its filter is in {language!r}, not the Vyx filter language"
        )
    timeframe = str(
        row.get("execution_interval")
        or row.get("executionInterval")
        or row.get("timeframe")
        or "5m"
    )
    if timeframe not in TIMEFRAME_MS:
        raise TraderRejected(trader_id, f"timeframe {timeframe!r} is not a Binance interval")
    strategy = _json(row.get("strategy")) or {}
    if not isinstance(strategy, Mapping):
        strategy = {}
    auto = row.get("auto_analyze_signals", row.get("autoAnalyzeSignals", row.get("autoAnalyze")))
    # The table has no direction column: it rides in ``strategy`` (additive, any schema).
    direction = row.get("direction") or strategy.get("direction") or "long"
    if direction not in ("long", "short"):
        raise TraderRejected(trader_id, f"direction {direction!r} is not 'long' or 'short'")
    name = str(row.get("name") or trader_id)
    definition = TraderDef(trader_id, flt["code"], timeframe, name, direction)
    return TraderInfo(definition, bool(row.get("enabled", True)), bool(auto), dict(strategy))


def to_record(info: TraderInfo, user_id: str) -> Trader:
    """The ``traders`` row of a trader added or edited from the browser."""
    d = info.definition
    return Trader.from_row(
        {
            "id": d.id,
            "user_id": user_id,
            "name": d.name or d.id,
            "filter": {"code": d.filter, "language": "vyx"},
            "enabled": info.enabled,
            "strategy": {**info.strategy, "direction": d.direction},
            "execution_interval": d.timeframe,
            "language": "vyx",
            "auto_analyze_signals": info.auto_analyze,
        }
    )
