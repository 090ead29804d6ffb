"""The daemon's settings: one frozen value per service, with the defaults.

Each service takes its own group (the store a :class:`StoreConfig`, the analyzer an
:class:`AnalyzerConfig`, ...); :mod:`vyx.config` reads them all from the environment into one
:class:`~vyx.config.Config`. This module reads nothing and imports no service, so every layer
may import it. Secrets (``repr=False``) never appear in a repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs

DEFAULT_BINANCE_REST_URL = "https://api.binance.com"
DEFAULT_BINANCE_WS_URL = "wss://stream.binance.com:9443"
DEFAULT_GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"
DEFAULT_FLY_API_URL = "https://api.machines.dev/v1"
#: The user of an embedded (local) daemon when ``USER_ID`` is unset: the nil UUID.
LOCAL_USER_ID = "00000000-0000-0000-0000-000000000000"


@attrs.frozen
class MachineConfig:
    """Who this daemon serves and what it runs on."""

    #: Supabase auth user id (a UUID) this machine serves; :data:`LOCAL_USER_ID` when embedded.
    user_id: str = LOCAL_USER_ID
    #: ``cloud_machines.machine_id`` (``MACHINE_ID``).
    machine_id: str = "local"
    #: ``MACHINE_REGION`` (falls back to Fly's ``FLY_REGION``).
    region: str | None = None
    #: vCPUs of the machine, 1..8 (``MACHINE_CPUS``).
    cpus: int = attrs.field(default=1, validator=[attrs.validators.ge(1), attrs.validators.le(8)])
    #: Memory of the machine in MB (``MACHINE_MEMORY``).
    memory_mb: int = attrs.field(default=256, validator=attrs.validators.ge(128))


@attrs.frozen
class SupabaseConfig:
    """The user's Supabase project (present in cloud mode only)."""

    url: str
    service_key: str = attrs.field(repr=False)
    #: HS256 secret for browser access tokens (``SUPABASE_JWT_SECRET``), if the project uses one.
    jwt_secret: str | None = attrs.field(default=None, repr=False)
    #: Asymmetric signing keys; defaults to ``{url}/auth/v1/.well-known/jwks.json``.
    jwks_url: str | None = None


@attrs.frozen
class MarketSettings:
    """Binance market data and screening cadence."""

    #: The default timeframe of traders and of the screen (``KLINE_INTERVAL``).
    kline_interval: str = "5m"
    #: Intrabar (provisional) screen period in ms; 0 disables intrabar screens.
    screening_interval_ms: int = 0
    #: Top-N USDT pairs by 24 h quote volume (``SYMBOL_COUNT``), ignored when ``symbols`` is set.
    symbol_count: int = 100
    #: Explicit symbol list (``SYMBOLS``), upper case, de-duplicated, in the given order.
    symbols: tuple[str, ...] | None = None
    rest_url: str = DEFAULT_BINANCE_REST_URL
    ws_url: str = DEFAULT_BINANCE_WS_URL
    #: Minimum bars between two signals of one trader on one symbol (``SIGNAL_COOLDOWN_BARS``).
    cooldown_bars: int = 0


@attrs.frozen
class StoreConfig:
    """Where and how rows are written."""

    #: Directory of the SQLite database and the spool (``VYX_DATA_DIR``).
    data_dir: Path = attrs.field(converter=Path)
    #: A batch is written once it holds this many rows (``VYX_STORE_BATCH_ROWS``)... (a busy
    #: close's signals and outcome rows in one or two transactions: each commit writes the
    #: pages it touched and fsyncs, so fewer, larger ones cost less per row)
    batch_rows: int = 500
    #: ...or once its oldest row is this old (``VYX_STORE_FLUSH_MS``).
    flush_interval_ms: int = 250
    #: Rows queued in memory before producers wait (``VYX_STORE_BUFFER_ROWS``).
    buffer_rows: int = 10_000
    #: Deadline of the final flush on shutdown: half of ``DRAIN_TIMEOUT_S`` (sources stop and
    #: the screen in flight finishes first).
    final_flush_s: float = 5.0

    @property
    def database_path(self) -> Path:
        """The embedded SQLite database (also the spool of the SQLite backend)."""
        return self.data_dir / "vyx.sqlite3"

    @property
    def spool_path(self) -> Path:
        """The durable spool of rows not yet acknowledged by a remote backend."""
        return self.data_dir / "spool.sqlite3"


@attrs.frozen
class ServerSettings:
    """The HTTP/WebSocket server (one port)."""

    #: Bind address; 127.0.0.1 in embedded mode, 0.0.0.0 in cloud mode unless ``HOST`` is set.
    host: str = "127.0.0.1"
    #: TCP port (``PORT``); 0 picks a free one (tests).
    port: int = 8080


@attrs.frozen
class AnalyzerConfig:
    """Gemini signal analysis; off without an API key."""

    api_key: str | None = attrs.field(default=None, repr=False)
    model: str = DEFAULT_GEMINI_MODEL
    base_url: str = DEFAULT_GEMINI_BASE_URL
    #: Concurrent Gemini calls (``GEMINI_MAX_CONCURRENCY``).
    max_concurrency: int = 4
    #: Requests per minute (``GEMINI_RPM``).
    requests_per_minute: int = 60
    #: Per-call deadline in seconds (``GEMINI_TIMEOUT_S``).
    timeout_s: float = 30.0
    #: Tokens per UTC day, 0 = unlimited (``GEMINI_DAILY_TOKEN_BUDGET``).
    daily_token_budget: int = 0

    @property
    def enabled(self) -> bool:
        """Analysis runs only with an API key."""
        return self.api_key is not None


@attrs.frozen
class FlyConfig:
    """Fly Machines API (provisioning, vCPU scaling) and what Fly tells a machine about itself."""

    api_token: str | None = attrs.field(default=None, repr=False)
    api_url: str = DEFAULT_FLY_API_URL
    app_name: str | None = None
    #: Set by Fly inside a machine (``FLY_MACHINE_ID``): the id the Machines API uses.
    machine_id: str | None = None
    #: Set by Fly inside a machine (``FLY_MACHINE_VERSION``).
    machine_version: str | None = None


@attrs.frozen
class LogConfig:
    """Logging (loguru)."""

    format: Literal["text", "json"] = "text"
    level: str = "INFO"


@attrs.frozen
class RuntimeConfig:
    """Process-level knobs."""

    #: Screen worker threads (``WORKERS``); defaults to the CPUs this process may use.
    workers: int = 1
    #: Budget of the graceful drain on SIGTERM/SIGINT in seconds (``DRAIN_TIMEOUT_S``); keep it
    #: below fly.toml's ``kill_timeout``.
    drain_timeout_s: float = 10.0
