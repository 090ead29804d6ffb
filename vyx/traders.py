"""Traders as the daemon runs them, from any source: the local file, the ``traders`` table or
the browser (``trader_upsert``, ``config_update``). Every source ends in one type,
:class:`TraderInfo`, and every trader that cannot run in one, :class:`TraderRejected`:
:func:`from_mapping` (browser, loose rows), :func:`from_record` (typed rows) and
:func:`vyx.traders_file.parse_traders` (the file) share one admission (:func:`admit`).

Admission compiles the filter, once (:func:`compiled`, :func:`kernels.program.compile_trader`),
and the result travels with the trader (:attr:`TraderInfo.compiled`): the rings are sized from
its warm-up, the cloud sync reports a filter that does not compile, and the executor links it
into the running plan without compiling it again. Admission is blocking work (a filter of the
budget's size compiles in tens of milliseconds): the daemon admits in worker threads.

Rows of the ``traders`` table keep jsonb ``filter = {code, language?, ...}``; only filters in
the Vyx language (``language: 'vyx'`` on the filter or the row) run on this machine. Others are
reported with a reason, never skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from kernels.edges import MAX_COOLDOWN_BARS
from kernels.lang import CompileError, Diagnostic
from kernels.lang.errors import SourceMap
from kernels.program import CompiledTrader, TraderDef, compile_trader
from kernels.timeframes import TIMEFRAME_MS
from vyx.notify.notices import AlertsError, TraderAlerts

if TYPE_CHECKING:
    from vyx.store.records import Trader


class TraderRejected(ValueError):
    """A trader this machine cannot run (not the Vyx language, malformed, not compiling); says
    why. Raised where a trader is admitted, and listed by a load of the ``traders`` table.

    Args:
        trader_id: its id (``"?"`` when it has none).
        reason: why, for the user.
        name: its name, when known.
        kind: ``unreadable`` (the row), ``language`` (not Vyx), ``compile`` (the filter).
        version: the row's ``version`` (a rejected trader is reported again only when it
            changes).
    """

    def __init__(
        self,
        trader_id: str,
        reason: str,
        *,
        name: str = "",
        kind: str = "unreadable",
        version: int = 0,
    ) -> None:
        super().__init__(f"trader {trader_id}: {reason}")
        self.trader_id = trader_id
        self.reason = reason
        self.name = name
        self.kind = kind
        self.version = version

    @property
    def id(self) -> str:
        """The trader's id (as :attr:`trader_id`)."""
        return self.trader_id


@attrs.frozen
class TraderInfo:
    """A trader: its definition, its compiled filter, and what the analyzer and the alerts
    need."""

    definition: TraderDef
    enabled: bool = True
    auto_analyze: bool = False
    #: The trader's ``strategy`` (instructions, riskManagement, aiAnalysisLimit, ...).
    strategy: Mapping[str, Any] = attrs.field(factory=dict)
    #: Its alert settings (the traders file's ``notify``/``mute``, the table's
    #: ``cloud_config.notifyOnSignal``/``notifyOnAnalysis``).
    alerts: TraderAlerts = attrs.field(factory=TraderAlerts)
    #: The filter compiled at admission, or why it does not compile (None: not compiled yet,
    #: a trader made by hand; :func:`compiled` compiles it).
    compiled: CompiledTrader | CompileError | None = attrs.field(
        default=None, kw_only=True, eq=False, repr=False
    )

    @property
    def id(self) -> str:
        """The trader's id."""
        return self.definition.id

    @property
    def executable(self) -> CompiledTrader | TraderDef:
        """What the executor installs: the compiled filter (as this definition's: an edit of
        the cooldown keeps the compile), linked without compiling again; or the definition of
        one that did not compile (or was not compiled), compiled where it is installed, so its
        error is said against the timeframes streamed there."""
        if isinstance(self.compiled, CompiledTrader):
            found = self.compiled.of(self.definition)
            if found is not None:
                return found
        return self.definition

    @property
    def instructions(self) -> str:
        """The strategy's instructions to the analyst ("" when none)."""
        value = self.strategy.get("instructions", "")
        return value if isinstance(value, str) else ""

    def to_message(self, state: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The trader as the browser sees it (``snapshot.traders``, ``trader_updated``)."""
        d = self.definition
        return {
            "id": d.id,
            "name": d.name or d.id,
            "timeframe": d.timeframe,
            "direction": d.direction,
            # Its own cooldown in bars; null: the machine's (``status_update.cooldownBars``).
            "cooldownBars": d.cooldown,
            "filter": {"code": d.filter, "language": "vyx"},
            "enabled": self.enabled,
            "autoAnalyze": self.auto_analyze,
            "notify": alerts_message(self.alerts),
            **(dict(state) if state else {}),
        }


#: The browser's names of a trader's alert switches (``trader.notify``) -> the attribute of
#: :class:`TraderAlerts` and the key of ``traders.cloud_config`` the alerts code reads.
NOTIFY_FLAGS = {
    "onSignal": ("on_signal", "notifyOnSignal"),
    "onAnalysis": ("on_analysis", "notifyOnAnalysis"),
    "muted": ("muted", "notifyMuted"),
}


def alerts_message(alerts: TraderAlerts) -> dict[str, Any]:
    """A trader's alert settings as the browser sees them: the switches and its own channels
    as ``service:hash`` ids (never a URL or a token)."""
    return {
        "onSignal": alerts.on_signal,
        "onAnalysis": alerts.on_analysis,
        "muted": alerts.muted,
        "channels": [channel.id for channel in alerts.channels],
    }


#: Where a trader's own cooldown is kept: its ``traders.cloud_config`` key and the browser's
#: name (``trader.cooldownBars``).
COOLDOWN_KEY = "cooldownBars"


def parse_cooldown(value: object, where: str) -> int | None:
    """A trader's own cooldown in bars (None: the machine's); raises ``ValueError`` naming
    ``where`` for anything but null or a whole number from 0 to :data:`MAX_COOLDOWN_BARS`."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COOLDOWN_BARS:
        shown = str(value).lower() if isinstance(value, bool) else str(value)[:40]  # as written
        raise ValueError(
            f"{where} must be a whole number of bars from 0 to {MAX_COOLDOWN_BARS:,} "
            f"(or left out: the machine's), not {shown!r}"
        )
    return value


@attrs.frozen
class BrowserEdit:
    """What a browser's ``trader_upsert`` sets beyond the trader itself: its alert switches
    (``trader.notify``, by browser name) and its cooldown (``trader.cooldownBars``, when the
    key is there). What it leaves out keeps its value (:meth:`apply`)."""

    notify: Mapping[str, bool] = attrs.field(factory=dict)
    cooldown_set: bool = False
    cooldown: int | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> BrowserEdit:
        """The edit of a ``trader_upsert``'s trader; raises :class:`TraderRejected`."""
        tid = str(row.get("id") or "?")
        notify = notify_edit(row)
        # Either spelling, as :func:`from_mapping` reads it (a row's ``cooldown_bars`` too).
        key = next((k for k in (COOLDOWN_KEY, "cooldown_bars") if k in row), None)
        if key is None:
            return cls(notify)
        try:
            return cls(notify, True, parse_cooldown(row[key], key))
        except ValueError as exc:
            raise TraderRejected(tid, str(exc)) from None

    def apply(self, info: TraderInfo, running: TraderInfo | None) -> TraderInfo:
        """``info`` with the settings of ``running`` (the trader as it runs now; None for a
        new one) that this edit leaves out."""
        info = with_notify_edit(info, self.notify, running.alerts if running else None)
        if not self.cooldown_set and running is not None:
            kept = attrs.evolve(info.definition, cooldown=running.definition.cooldown)
            info = attrs.evolve(info, definition=kept)
        return info

    def cloud_config(self) -> dict[str, Any]:
        """The ``traders.cloud_config`` keys this edit sets (merged into the row's)."""
        cloud: dict[str, Any] = {NOTIFY_FLAGS[name][1]: v for name, v in self.notify.items()}
        if self.cooldown_set:
            cloud[COOLDOWN_KEY] = self.cooldown
        return cloud


def notify_edit(row: Mapping[str, Any]) -> dict[str, bool]:
    """The alert switches a browser's ``trader_upsert`` sets (``trader.notify {onSignal?,
    onAnalysis?, muted?}``), by browser name; a switch left out is not changed, channels are
    never set from a browser. Raises :class:`TraderRejected` for a value not true/false."""
    notify = row.get("notify")
    if notify is None:
        return {}
    tid = str(row.get("id") or "?")
    if not isinstance(notify, Mapping):
        raise TraderRejected(tid, "notify must be an object {onSignal, onAnalysis, muted}")
    edit: dict[str, bool] = {}
    for name in NOTIFY_FLAGS:
        if name in notify:
            if not isinstance(notify[name], bool):
                raise TraderRejected(tid, f"notify.{name} must be true or false")
            edit[name] = notify[name]
    return edit


def with_notify_edit(
    info: TraderInfo, edit: Mapping[str, bool], kept: TraderAlerts | None
) -> TraderInfo:
    """``info`` with the alert settings ``kept`` (the running trader's; ``info``'s own when
    None) and the browser's switches ``edit`` over them: an upsert that omits them keeps them."""
    base = kept if kept is not None else info.alerts
    alerts = TraderAlerts(
        edit.get("onSignal", base.on_signal),
        edit.get("onAnalysis", base.on_analysis),
        edit.get("muted", base.muted),
        base.channels,
    )
    return attrs.evolve(info, alerts=alerts)


def _json(value: Any) -> Any:
    # The browser often stores jsonb values as a JSON string inside jsonb: accept both.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def compile_filter(definition: TraderDef) -> CompiledTrader | CompileError:
    """The one compile of a trader's filter on its way in (blocking): the compiled filter, or
    why it does not compile. The compiler refuses anything wrong with a filter with a
    :class:`CompileError`; should it fail otherwise, that is the trader's error too, never
    the daemon's."""
    try:
        return compile_trader(definition)
    except CompileError as exc:
        return exc
    except Exception as exc:
        message = f"could not be compiled ({type(exc).__name__})"
        return CompileError([Diagnostic(message, SourceMap("").span(0, 0))])


def compiled(info: TraderInfo) -> TraderInfo:
    """``info`` with its filter compiled (``info`` itself when it already is). Blocking."""
    if info.compiled is not None:
        return info
    return attrs.evolve(info, compiled=compile_filter(info.definition))


def from_record(trader: Trader) -> TraderInfo:
    """A row of the ``traders`` table, as the store typed it; raises :class:`TraderRejected`
    (with the row's name and version). Blocking (it compiles)."""
    return admit(
        trader.id,
        trader.filter,
        language=trader.language,
        timeframe=trader.execution_interval or "5m",
        name=trader.name,
        enabled=trader.enabled,
        auto_analyze=trader.auto_analyze_signals,
        strategy=trader.strategy,
        direction=None,
        cloud_config=trader.cloud_config,
        version=trader.version,
    )


def from_mapping(row: Mapping[str, Any]) -> TraderInfo:
    """A trader object as the table or the browser spells it (snake_case or camelCase);
    raises :class:`TraderRejected` naming the problem. Blocking (it compiles)."""
    timeframe = (
        row.get("execution_interval")
        or row.get("executionInterval")
        or row.get("timeframe")
        or "5m"
    )
    auto = row.get("auto_analyze_signals", row.get("autoAnalyzeSignals", row.get("autoAnalyze")))
    return admit(
        str(row.get("id") or ""),
        _json(row.get("filter")),
        language=row.get("language"),
        timeframe=str(timeframe),
        name=row.get("name"),
        enabled=bool(row.get("enabled", True)),
        auto_analyze=bool(auto),
        strategy=_json(row.get("strategy")),
        direction=row.get("direction"),
        cloud_config=row.get("cloud_config", row.get("cloudConfig")),
        cooldown=row.get(COOLDOWN_KEY, row.get("cooldown_bars", _UNSET)),
    )


#: ``admit``'s ``cooldown`` when the source gave none (then ``cloud_config``'s counts).
_UNSET: Any = object()


def admit(
    trader_id: str,
    flt: Any,
    *,
    language: object,
    timeframe: str,
    name: object,
    enabled: bool,
    auto_analyze: bool,
    strategy: Any,
    direction: object,
    cloud_config: Any = None,
    cooldown: Any = _UNSET,
    alerts: TraderAlerts | None = None,
    version: int = 0,
) -> TraderInfo:
    """The one admission of a trader from any source: it has an id, a filter's source in the
    Vyx language (``flt``: ``{code, language?}`` or the source; ``language``: the row's
    column), a Binance timeframe and a direction (``direction``, else the strategy's, else
    long: the table has no direction column, it rides in ``strategy``); its alert settings
    are ``alerts`` (the file's), else come from ``cloud_config``
    (:meth:`TraderAlerts.from_cloud_config`), its cooldown from ``cooldown`` when given, else
    ``cloud_config.cooldownBars`` (:func:`parse_cooldown`). Its filter is compiled here, once
    (:func:`compiled`): one that does not compile is still a trader (the browser shows it with
    its error), it does not run. Blocking.

    Raises:
        TraderRejected: naming the problem (with ``name`` and the row's ``version``).
    """
    label = str(name or "")

    def rejected(reason: str, kind: str = "unreadable") -> TraderRejected:
        return TraderRejected(trader_id or "?", reason, name=label, kind=kind, version=version)

    if not trader_id:
        raise rejected("a trader needs an id")
    if isinstance(flt, str):
        flt = {"code": flt}
    if not isinstance(flt, Mapping) or not isinstance(flt.get("code"), str):
        raise rejected("filter.code (the filter's source) is missing")
    lang = flt.get("language") or language
    if lang not in (None, "vyx"):
        raise rejected(f"its filter is in {lang!r}, not the Vyx filter language", "language")
    if timeframe not in TIMEFRAME_MS:
        raise rejected(f"timeframe {timeframe!r} is not a Binance interval")
    if not isinstance(strategy, Mapping):
        strategy = {}
    direction = direction or strategy.get("direction") or "long"
    if direction not in ("long", "short"):
        raise rejected(f"direction {direction!r} is not 'long' or 'short'")
    try:
        if alerts is None:
            alerts = TraderAlerts.from_cloud_config(cloud_config)
        if cooldown is _UNSET:
            config = _json(cloud_config)
            where = f"cloud_config.{COOLDOWN_KEY}"
            cooldown = config.get(COOLDOWN_KEY) if isinstance(config, Mapping) else None
        else:
            where = COOLDOWN_KEY
        bars = parse_cooldown(cooldown, where)
    except (AlertsError, ValueError) as exc:
        raise rejected(str(exc)) from None
    definition = TraderDef(
        trader_id, flt["code"], timeframe, str(name or trader_id), direction, bars
    )
    return compiled(TraderInfo(definition, enabled, auto_analyze, dict(strategy), alerts))


def to_record(info: TraderInfo, user_id: str, edit: BrowserEdit | None = None) -> Trader:
    """The ``traders`` row of a trader added or edited from the browser; what ``edit`` (the
    browser's settings, :class:`BrowserEdit`) sets goes into ``cloud_config``, merged there
    into the row's (:func:`~vyx.store.records.merge_trader_edit`)."""
    # The store's row types (and cattrs) only when a row is made: `vyx backtest` reads a
    # traders file without them (~11 ms of its start).
    from vyx.store import records

    d = info.definition
    cloud = edit.cloud_config() if edit is not None else {}
    return records.Trader.from_row(
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
            **({"cloud_config": cloud} if cloud else {}),
        }
    )
