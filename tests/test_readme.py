"""The README states the limits and the settings the code has.

Its *Limits* table is checked row by row against the constants and defaults each row describes
(the filter budget's own table in ``tests/kernels/lang/test_budget.py``), and every environment
variable the configuration reads is named in the README and described in docs/configuration.md,
so changing a limit or adding a setting without the documentation fails here; the README's and
docs/' relative links resolve.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernels.lang import MAX_RING
from kernels.lang.checker import MAX_LOOKBACK
from kernels.lang.errors import MAX_SHOWN, WINDOW
from kernels.outcomes import HORIZON
from kernels.track_record import RECENT_MS
from vyx.analysis.service import AnalyzerOptions
from vyx.authoring.draft import MAX_FILTER_CHARS as DRAFT_FILTER_CHARS
from vyx.authoring.draft import MAX_NAME_CHARS as DRAFT_NAME_CHARS
from vyx.authoring.draft import ROUNDS
from vyx.authoring.legacy import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS
from vyx.authoring.phrasebook import MAX_WORDS_CHARS as PHRASEBOOK_WORDS_CHARS
from vyx.authoring.preview import MAX_PREVIEW_BARS, PREVIEW_BARS
from vyx.charts import CHART_BARS, MAX_CHART_BARS, MAX_SERIES
from vyx.cloud.traders import TraderSyncConfig
from vyx.config import Config, ConfigError
from vyx.daemon.delivery import RECENT_SIGNALS
from vyx.daemon.scaler import ScalerConfig
from vyx.fleet.doctor import PROBE_TIMEOUT_S
from vyx.fleet.machine_config import ProvisionSettings
from vyx.history import HISTORY_PAGE
from vyx.market.connection import StreamConfig
from vyx.market.rest import RestConfig
from vyx.market.shards import MAX_STREAMS
from vyx.market.websocket import MAX_MESSAGE
from vyx.mutes import MAX_MUTES
from vyx.notify import notices, render
from vyx.notify.channels import MAX_URL_CHARS, MAX_URLS, parse_urls
from vyx.notify.limits import windows_for
from vyx.notify.outbox import OutboxPolicy
from vyx.notify.settings import NotifySettings
from vyx.outcomes.live import MAX_OPEN
from vyx.outcomes.records import RECORD_SIZE
from vyx.screener.config import ScreenerConfig
from vyx.server import protocol, requests
from vyx.server.fields import MAX_ID_CHARS
from vyx.server.hub import BURST_FACTOR
from vyx.server.service import ServerConfig
from vyx.settings import AnalyzerConfig, RuntimeConfig, StoreConfig
from vyx.store.outbox import PRUNE_EVERY_S, RETENTION_S

ROOT = Path(__file__).resolve().parents[1]


def _rows() -> dict[str, str]:
    """The Limits section's table rows by their first cell."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| (.+?) \| ", line)
        if match:
            rows[match.group(1)] = line
    return rows


def n(value: float) -> str:
    """A number as the README writes it: ``10,000``, ``0.1``."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def dur(seconds: float) -> str:
    """A duration as the README writes it: ``30 s``, ``60 s``, ``15 min``, ``6 h``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def rate(limit: int, period_s: float) -> str:
    """A rate window as the README writes it: ``30/s``, ``20/min``, ``5 per 2 s``."""
    if period_s == 1:
        return f"{limit}/s"
    if period_s == 60:
        return f"{limit}/min"
    return f"{limit} per {dur(period_s)}"


def env_range(name: str) -> str:
    """The accepted range of a variable, read from its parser's error: ``1–1,000``."""
    with pytest.raises(ConfigError) as caught:
        Config.from_env({name: "-1"}, cpu_count=1)
    (problem,) = caught.value.problems
    found = re.search(r"in ([\d.]+)\.\.([\d.]+)", problem)
    assert found is not None, problem
    return f"{n(float(found.group(1)))}–{n(float(found.group(2)))}"


def _dashboard_const(name: str) -> int:
    js = (ROOT / "vyx/server/static/dashboard/history.js").read_text()
    found = re.search(rf"const {name} = (\d+);", js)
    assert found is not None, name
    return int(found.group(1))


def _alert_rates() -> list[str]:
    urls = "tgram://123456:abcdef/42 discord://123456789/abcdefghijkl json://127.0.0.1:9/h ntfy://topic"
    return [rate(w.limit, w.period_s) for ch in parse_urls(urls) for w in windows_for(ch)]


def _expected() -> dict[str, list[str]]:
    server, store, gemini = ServerConfig(), StoreConfig(data_dir=Path(".")), AnalyzerConfig()
    stream, outbox, sync = StreamConfig(), OutboxPolicy(), TraderSyncConfig(user_id="u")
    return {
        "look-back `x[n]`": [f"n ≤ {n(MAX_LOOKBACK)}"],
        "compile errors shown": [f"first {MAX_SHOWN}", f"≤ {WINDOW} characters"],
        "history held (rings)": [f"–{n(MAX_RING)} bars"],
        "catch-up after a restart": [dur(ScreenerConfig(user_id="u").catch_up_ms / 1000)],
        "symbols": [env_range("SYMBOL_COUNT")],
        "cooldown": [f"{env_range('SIGNAL_COOLDOWN_BARS')} bars"],
        "description in words": [
            f"{n(requests.MAX_WORDS_CHARS)} characters",
            f"{n(PHRASEBOOK_WORDS_CHARS)} characters",
        ],
        "filter from a browser or a draft": [
            f"{n(requests.MAX_FILTER_CHARS)} characters",
            f"{n(DRAFT_FILTER_CHARS)} characters",
        ],
        "trader name": [
            f"{requests._MAX_NAME_CHARS} characters in a check",
            f"{DRAFT_NAME_CHARS} in a draft",
        ],
        "model drafting": [f"{ROUNDS} rounds"],
        "preview": [n(PREVIEW_BARS), f"at most {n(MAX_PREVIEW_BARS)}"],
        "import file": [
            f"{MAX_IMPORT_BYTES // 2**20} MiB",
            f"{n(MAX_IMPORT_ROWS)} rows",
        ],
        "WebSocket frame from a browser": [f"{protocol.MAX_FRAME_BYTES // 1024} KiB"],
        "first `auth` message": [
            f"within {dur(server.auth_timeout_s)}",
            f"≤ {protocol._MAX_TOKEN_CHARS // 1024} KiB",
        ],
        "ids (`requestId`, `traderId`, `symbol`)": [f"{MAX_ID_CHARS} characters"],
        "traders in one `config_update`": [n(protocol._MAX_TRADERS)],
        "requests in flight per session": [str(server.session_requests)],
        "a request / a command": [
            f"within {dur(server.request_timeout_s)}",
            f"within {dur(server.command_timeout_s)}",
        ],
        "a browser's send queue": [
            f"{server.client_queue_size} messages",
            f"stalled {dur(server.client_stall_s)}",
            n(BURST_FACTOR * server.client_queue_size),
        ],
        "signals in one `signals_created` message (protocol 2)": [
            n(protocol.MAX_SIGNALS_PER_MESSAGE)
        ],
        "replies": [f"{n(protocol.MAX_MESSAGE_BYTES)} bytes"],
        "signals a page gets on connecting": [f"the newest {RECENT_SIGNALS}"],
        "signal history page": [
            f"{HISTORY_PAGE} by default",
            f"at most {requests.MAX_HISTORY_PAGE}",
        ],
        "chart": [
            f"{CHART_BARS} candles by default",
            f"–{MAX_CHART_BARS}",
            f"{MAX_SERIES} indicator lines",
        ],
        "dashboard page": [
            f"{n(_dashboard_const('MAX_KEPT'))} signals held",
            f"{_dashboard_const('MAX_SHOWN')} drawn",
        ],
        "dead browser connections": [f"every {dur(server.ping_interval_s or 0)}"],
        "Binance streams": [
            f"{n(MAX_STREAMS)} per connection",
            f"≤ {stream.subscribe_rate:g} messages/s",
            f"≤ {MAX_MESSAGE // 2**20} MiB",
            f"silent ≤ {dur(stream.stale_after_s)}",
        ],
        "Binance REST weight": [f"{RestConfig().weight_headroom * 100:g} %"],
        "rows queued for the store": [
            n(store.buffer_rows),
            f"batches of {store.batch_rows} rows or {store.flush_interval_ms} ms",
        ],
        "AI analysis": [
            f"{gemini.max_concurrency} calls at once",
            f"{gemini.requests_per_minute}/min",
            f"{dur(gemini.timeout_s)} each",
            f"{AnalyzerOptions().queue_size} queued",
        ],
        "analyses resumed after a restart": [f"≤ {dur(AnalyzerOptions().resume_within_s)} old"],
        "alert channels": [f"{MAX_URLS} URLs per list", f"{n(MAX_URL_CHARS)} characters each"],
        "alert rates": _alert_rates(),
        "alert retries": [
            f"capped at {dur(outbox.max_retry_after_s)}",
            f"backoff {dur(outbox.backoff.initial)}–{dur(outbox.backoff.maximum)}",
            f"after {outbox.breaker.threshold} failures",
            f"{dur(outbox.breaker.cooldown_s)} doubling to {dur(outbox.breaker.max_cooldown_s)}",
            f"{dur(NotifySettings().timeout_s)} per send",
        ],
        "alert give-up (`dead`)": [
            f"{outbox.max_rejections} times",
            f"pending {dur(outbox.max_age_s)}",
            f"{n(outbox.max_pending)} pending per channel",
        ],
        "alert outbox": [
            f"kept {RETENTION_S // 86_400} days after it was sent or given up",
            f"at most every {dur(PRUNE_EVERY_S)}",
        ],
        "alert message": [
            f"{notices.MAX_CLAUSES} clauses × {notices.MAX_VALUES} values",
            f"reasoning {notices.MAX_REASONING} characters",
            f"{render.TOP_N} signals per trader, {render.TOP_TRADERS} traders",
        ],
        "mutes": [f"{MAX_MUTES} per user", "2–20 letters or digits"],
        "signal outcomes": [
            f"{HORIZON} bars followed",
            f"{n(MAX_OPEN)} open at once",
            f"newest {n(RECORD_SIZE)} complete signals",
            f"last {RECENT_MS // 86_400_000} days",
        ],
        "graceful stop": [
            dur(RuntimeConfig().drain_timeout_s),
            f"Fly waits {dur(ProvisionSettings(app='a', image='i').kill_timeout_s)}",
            env_range("DRAIN_TIMEOUT_S"),
        ],
        "screen threads": [env_range("WORKERS")],
        "machine size": [
            f"1–{ScalerConfig().max_cpus} shared vCPUs",
            f"at most once per {dur(ScalerConfig().cpu_cooldown_s)}",
        ],
        "cloud sync": [
            f"every {dur(sync.reload_s)}",
            f"every {dur(sync.subscription_s)}",
            f"≤ {dur(sync.first_load_s)}",
        ],
        "`vyx doctor`": [f"{dur(PROBE_TIMEOUT_S)} per probe"],
    }


@pytest.mark.parametrize("what", list(_expected()))
def test_the_readme_states_the_limit(what: str) -> None:
    rows = _rows()
    assert what in rows, f"the README's Limits table has no row {what!r}"
    for text in _expected()[what]:
        assert text in rows[what], f"{what}: {text!r} not in {rows[what]!r}"


def test_every_environment_variable_is_documented() -> None:
    """Each variable the configuration reads is named in the README and described in
    docs/configuration.md's table."""
    source = (ROOT / "vyx/config.py").read_text()
    names = set(re.findall(r'self\.(?:get|opt|raw)\(\s*"([A-Z][A-Z0-9_]+)"', source))
    assert {"USER_ID", "NOTIFY_URLS", "WORKERS"} <= names  # the pattern still finds them
    readme = (ROOT / "README.md").read_text()
    table = (ROOT / "docs/configuration.md").read_text().split("## Every variable", 1)[1]
    table = table.split("\n## ", 1)[0]
    assert [v for v in sorted(names) if f"`{v}`" not in readme] == []
    assert [v for v in sorted(names) if not re.search(rf"^\|[^|]*`{v}`", table, re.M)] == []


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    titles = re.findall(r"^#+\s+(.*)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", t.strip().lower()).replace(" ", "-") for t in titles}


def test_the_readme_and_docs_links_resolve() -> None:
    """Every relative link of the README and docs/ names a file that exists (and a heading of
    it, for a ``#fragment`` of a page)."""
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", link):
                continue
            path, _, fragment = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                broken.append(f"{page.name}: {link}")
            elif fragment and target.suffix == ".md" and fragment not in _anchors(target):
                broken.append(f"{page.name}: {link} (no such heading)")
    assert broken == []
