"""The words of an alert (pure): one signal, a digest of a burst, an analysis verdict.

A message is built once per markup — Telegram's HTML, Discord's Markdown or plain text — and
always fits the service's length limit: a digest lists each trader's first :data:`TOP_N`
signals with "and K more", shrinking until it fits; a single signal drops values before clauses.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable, Sequence

import attrs
import numpy as np

from vyx.notify.notices import SignalNotice, VerdictNotice
from vyx.notify.outbox import Batch

#: Signals listed per trader in a digest before "and K more".
TOP_N = 5
#: Traders listed in a digest before "and K more traders".
TOP_TRADERS = 8

_DECISIONS = {"enter_trade": "ENTER TRADE", "bad_setup": "BAD SETUP", "wait": "WAIT"}
_LEVELS = {"entry": "entry", "stopLoss": "stop", "takeProfit": "target"}
_MD_SPECIAL = re.compile(r"([\\*_~`|>\[\]()#-])")


@attrs.frozen
class Markup:
    """How a service formats text."""

    name: str
    #: Longest message the service accepts (characters).
    limit: int
    escape: Callable[[str], str]
    bold: Callable[[str], str]
    link: Callable[[str, str], str]


def _html_link(text: str, url: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{text}</a>'


TELEGRAM = Markup(
    "html", 4096, lambda s: html.escape(s, quote=False), lambda s: f"<b>{s}</b>", _html_link
)
DISCORD = Markup(
    "markdown",
    2000,
    lambda s: _MD_SPECIAL.sub(r"\\\1", s),
    lambda s: f"**{s}**",
    lambda text, url: f"[{text}](<{url}>)",
)
PLAIN = Markup("text", 8000, lambda s: s, lambda s: s, lambda text, url: f"{text} {url}")


def number(value: float) -> str:
    """A price or indicator value: 8 significant digits, never in exponent form."""
    if value != value:  # NaN
        return "n/a"
    text = np.format_float_positional(value, precision=8, unique=True, fractional=False, trim="-")
    return str(text)


def _value(value: float | str | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return number(value)


def signal_link(base: str | None, signal_id: str) -> str | None:
    """The dashboard address of a signal (None without a base URL)."""
    return f"{base.rstrip('/')}/?signal={signal_id}" if base else None


def _headline(n: SignalNotice, m: Markup) -> str:
    tag = " (forming bar)" if n.provisional else ""
    return (
        f"{m.bold(m.escape(n.symbol))} · {m.escape(n.interval)} · {number(n.price)}{tag}\n"
        f"{m.escape(n.trader_name)}"
    )


def _verdict_line(v: VerdictNotice, m: Markup) -> str:
    decision = _DECISIONS.get(v.decision, v.decision.upper())
    levels = ", ".join(f"{_LEVELS[k]} {number(x)}" for k, x in v.levels)
    tail = f" · {levels}" if levels else ""
    return f"Analysis: {m.bold(m.escape(decision))} ({v.confidence}%){m.escape(tail)}"


def _clause_lines(n: SignalNotice, m: Markup, with_values: bool) -> list[str]:
    lines = []
    for clause in n.clauses:
        mark = "✓" if clause.held else "✗"
        text = f"{mark} {m.escape(clause.label[:200])}"
        if with_values and clause.values:
            values = ", ".join(f"{k[:60]} = {_value(v)}" for k, v in clause.values)
            text += f"  [{m.escape(values)}]"
        lines.append(text)
    return lines


def _fit(candidates: Iterable[str], limit: int) -> str:
    """The first candidate (built lazily, longest first) that fits in ``limit``."""
    text = ""
    for text in candidates:
        if len(text) <= limit:
            return text
    return text[: limit - 1] + "…"


def signal_text(
    n: SignalNotice,
    m: Markup,
    *,
    verdict: VerdictNotice | None = None,
    link_base: str | None = None,
) -> str:
    """One signal: symbol, timeframe, price, trader, each clause with its values, the verdict
    when known, the dashboard link."""
    url = signal_link(link_base, n.signal_id)

    def build(with_values: bool, reasoning: bool) -> str:
        parts = [_headline(n, m), *_clause_lines(n, m, with_values)]
        if verdict is not None:
            parts.append(_verdict_line(verdict, m))
            if reasoning and verdict.reasoning:
                parts.append(m.escape(verdict.reasoning))
        if url:
            parts.append(m.link("Open on the dashboard", url))
        return "\n".join(parts)

    shapes = [(True, True), (True, False), (False, False)]
    return _fit((build(*shape) for shape in shapes), m.limit)


def verdict_text(
    v: VerdictNotice,
    m: Markup,
    *,
    signal: SignalNotice | None = None,
    link_base: str | None = None,
) -> str:
    """The analysis of a signal sent earlier (a follow-up message)."""
    if signal is not None:
        about = f"{m.bold(m.escape(signal.symbol))} · {m.escape(signal.interval)}"
        about += f" · {m.escape(signal.trader_name)}"
    else:
        about = f"signal {m.escape(v.signal_id[:8])}"
    url = signal_link(link_base, v.signal_id)

    def build(reasoning: bool) -> str:
        parts = [f"Analysis of {about}", _verdict_line(v, m)]
        if reasoning and v.reasoning:
            parts.append(m.escape(v.reasoning))
        if url:
            parts.append(m.link("Open on the dashboard", url))
        return "\n".join(parts)

    return _fit((build(reasoning) for reasoning in (True, False)), m.limit)


def _digest_line(n: SignalNotice, v: VerdictNotice | None, m: Markup, link_base: str | None) -> str:
    url = signal_link(link_base, n.signal_id)
    symbol = m.link(m.escape(n.symbol), url) if url else m.escape(n.symbol)
    first = next((c for c in n.clauses if c.values), None)
    detail = ""
    if first is not None:
        k, val = first.values[0]
        detail = f" — {m.escape(f'{k[:40]} = {_value(val)}')}"
    verdict = ""
    if v is not None:
        verdict = f" · {m.escape(_DECISIONS.get(v.decision, v.decision))} {v.confidence}%"
    return f"• {symbol} {m.escape(n.interval)} @ {number(n.price)}{detail}{verdict}"


def digest_title(signals: int, verdicts: int) -> str:
    """The title of a digest (for services with a title field)."""
    parts = []
    if signals:
        parts.append(f"{signals} signal{'s' if signals != 1 else ''}")
    if verdicts:
        parts.append(f"{verdicts} analys{'es' if verdicts != 1 else 'is'}")
    return " and ".join(parts) or "nothing"


def digest_text(
    signals: Sequence[tuple[SignalNotice, VerdictNotice | None]],
    verdicts: Sequence[tuple[VerdictNotice, SignalNotice | None]],
    m: Markup,
    *,
    link_base: str | None = None,
    now_ms: int | None = None,
) -> str:
    """Many alerts in one message: signals grouped by trader (each trader's first N, "and K
    more"), then analyses of signals sent before."""
    groups: dict[str, list[tuple[SignalNotice, VerdictNotice | None]]] = {}
    for n, v in signals:
        groups.setdefault(n.trader_name, []).append((n, v))
    when = ""
    if now_ms is not None:
        when = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).strftime(" at %H:%M UTC")

    def build(top: int, top_traders: int, with_verdicts: bool) -> str:
        parts = [m.bold(m.escape(digest_title(len(signals), len(verdicts)) + when))]
        for name, items in list(groups.items())[:top_traders]:
            parts.append(m.bold(m.escape(f"{name} ({len(items)})")))
            parts += [_digest_line(n, v, m, link_base) for n, v in items[:top]]
            if len(items) > top:
                parts.append(f"and {len(items) - top} more")
        if len(groups) > top_traders:
            rest = sum(len(items) for items in list(groups.values())[top_traders:])
            parts.append(f"and {len(groups) - top_traders} more traders ({rest} signals)")
        if verdicts:
            parts.append(m.bold("Analyses"))
            shown = verdicts if with_verdicts else verdicts[:0]
            for v, s in shown[:top]:
                about = f"{s.symbol} {s.interval}" if s is not None else v.signal_id[:8]
                parts.append(f"• {m.escape(about)}: {_verdict_line(v, m)}")
            if len(verdicts) > len(shown[:top]):
                parts.append(f"and {len(verdicts) - len(shown[:top])} more")
        if link_base:
            parts.append(m.link("Open the dashboard", link_base))
        return "\n".join(parts)

    shapes = [
        (TOP_N, TOP_TRADERS, True),
        (3, TOP_TRADERS, True),
        (1, TOP_TRADERS, False),
        (1, 3, False),
        (0, 0, False),
    ]
    return _fit((build(*shape) for shape in shapes), m.limit)


def batch_text(batch: Batch, m: Markup, link_base: str | None = None) -> str:
    """The text of a batch: one signal, one analysis, or a digest."""
    if batch.kind == "signal":
        notice, verdict = batch.signals[0]
        return signal_text(notice, m, verdict=verdict, link_base=link_base)
    if batch.kind == "verdict":
        verdict_notice, signal = batch.verdicts[0]
        return verdict_text(verdict_notice, m, signal=signal, link_base=link_base)
    return digest_text(batch.signals, batch.verdicts, m, link_base=link_base)
