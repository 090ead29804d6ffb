"""``vyx backtest --outcomes --html FILE``: a small self-contained report.

One page, no script and no external request (inline CSS and SVG): per trader, its track
record (all time and recent), a histogram of its signals' +24 bar returns and the cumulative
curve of its trades' returns (summed, in signal order). Every text from the user (trader
names, ids) is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from kernels.outcomes import HORIZONS
from kernels.track_record import TrackRecord
from vyx.cli.outcomes_table import HEADER, record_cells

_W, _H, _PAD = 360, 140, 24
BINS = 24


def _axis(x0: float, y: float, x1: float) -> str:
    return f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" class="axis"/>'


def histogram_svg(values: Sequence[float]) -> str:
    """Bars of how many ``values`` fall in each of :data:`BINS` equal bins (zero marked)."""
    if not values:
        return '<p class="empty">no complete signal</p>'
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - 0.005, hi + 0.005
    counts = [0] * BINS
    for v in values:
        counts[min(BINS - 1, int((v - lo) / (hi - lo) * BINS))] += 1
    top = max(counts)
    bw = (_W - 2 * _PAD) / BINS
    parts = []
    for i, c in enumerate(counts):
        h = (_H - 2 * _PAD) * c / top
        x = _PAD + i * bw
        cls = "up" if lo + (i + 0.5) * (hi - lo) / BINS > 0 else "down"
        parts.append(
            f'<rect x="{x:.1f}" y="{_H - _PAD - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}"'
            f' class="{cls}"><title>{c}</title></rect>'
        )
    if lo < 0 < hi:
        zx = _PAD + (0 - lo) / (hi - lo) * (_W - 2 * _PAD)
        parts.append(
            f'<line x1="{zx:.1f}" y1="{_PAD}" x2="{zx:.1f}" y2="{_H - _PAD}" class="zero"/>'
        )
    parts.append(_axis(_PAD, _H - _PAD, _W - _PAD))
    parts.append(
        f'<text x="{_PAD}" y="{_H - 6}">{lo * 100:+.2f}%</text>'
        f'<text x="{_W - _PAD}" y="{_H - 6}" text-anchor="end">{hi * 100:+.2f}%</text>'
    )
    return _svg("".join(parts), f"+{HORIZONS[-1]} bar returns")


def curve_svg(trades: Sequence[float]) -> str:
    """The running sum of ``trades``' returns, with the zero line."""
    if not trades:
        return '<p class="empty">no complete trade</p>'
    total, points = 0.0, [0.0]
    for t in trades:
        total += t
        points.append(total)
    lo, hi = min(points), max(points)
    if hi == lo:
        lo, hi = lo - 0.005, hi + 0.005

    def y(v: float) -> float:
        return _H - _PAD - (v - lo) / (hi - lo) * (_H - 2 * _PAD)

    step = (_W - 2 * _PAD) / max(1, len(points) - 1)
    path = " ".join(f"{_PAD + i * step:.1f},{y(v):.1f}" for i, v in enumerate(points))
    parts = [
        _axis(_PAD, y(0.0), _W - _PAD).replace('class="axis"', 'class="zero"'),
        f'<polyline points="{path}" class="curve"/>',
        f'<text x="{_PAD}" y="{_PAD - 8}">{hi * 100:+.2f}%</text>',
        f'<text x="{_PAD}" y="{_H - 6}">{lo * 100:+.2f}%</text>',
        f'<text x="{_W - _PAD}" y="{_H - 6}" text-anchor="end">{len(trades)} trades, '
        f"{total * 100:+.2f}%</text>",
    ]
    return _svg("".join(parts), "cumulative trade return")


def _svg(body: str, label: str) -> str:
    caption = f'<text x="{_W - _PAD}" y="14" text-anchor="end">{html.escape(label)}</text>'
    return (
        f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{html.escape(label)}">{caption}{body}</svg>'
    )


_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}
section{border-top:1px solid #ddd;margin-top:1em}.charts{display:flex;flex-wrap:wrap;gap:1em}
svg{background:#fafafa;border:1px solid #e4e4e4}text{font-size:10px;fill:#555}
.axis{stroke:#999}.zero{stroke:#bbb;stroke-dasharray:3 3}.up{fill:#2a9d5c}.down{fill:#d1495b}
.curve{fill:none;stroke:#3366cc;stroke-width:1.5}.empty{color:#888}
"""


def _table(rows: Sequence[tuple[str, TrackRecord]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("", *HEADER))
    body = "".join(
        "<tr><td>"
        + html.escape(label)
        + "</td>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in record_cells(r))
        + "</tr>"
        for label, r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(
    title: str,
    records: Mapping[str, tuple[TrackRecord, TrackRecord]],
    names: Mapping[str, str],
    returns: Mapping[str, Sequence[float]],
    trades: Mapping[str, Sequence[float]],
) -> str:
    """The report: ``records`` per trader id (all time, recent), ``returns`` its complete
    signals' last-horizon returns and ``trades`` its trade returns, in signal order."""
    sections = []
    for tid, (whole, recent) in records.items():
        name = names.get(tid) or tid
        sections.append(
            f"<section><h2>{html.escape(name)}</h2>"
            f"<p>id <code>{html.escape(tid)}</code></p>"
            + _table([("all time", whole), ("last 7 days", recent)])
            + '<div class="charts">'
            + histogram_svg(returns.get(tid, ()))
            + curve_svg(trades.get(tid, ()))
            + "</div></section>"
        )
    summary = _table([(names.get(t) or t, r[0]) for t, r in records.items()])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<p>Returns at +N bars close to close, in each trader's direction; trades leave at "
        "the target or stop touched first (a bar touching both: the stop), else at +"
        f"{HORIZONS[-1]} bars. Levels: ATR-based (stop 1.5 ATR, target 3 ATR).</p>"
        + summary
        + "".join(sections)
        + "</body></html>"
    )


def finite(values: Sequence[float | None]) -> list[float]:
    """The values that are numbers."""
    return [v for v in values if v is not None and math.isfinite(v)]
