"""Configuration: every environment variable, parsed once into frozen attrs classes.

:meth:`Config.from_env` is the only reader of the environment in Vyx (pass ``os.environ``); the
rest of the daemon receives these objects. Each variable has one parser that returns its value or
raises ``ValueError("expected ...")``; all bad variables are collected and reported together in
one :class:`ConfigError` whose lines read ``NAME='value': expected ...``. Secrets (``repr=False``)
never appear in a repr, a str, or an error message (their value is shown as ``<hidden>``).

An empty or blank variable counts as unset (Fly and docker-compose often pass ``FOO=``).

Mode: **cloud** when ``SUPABASE_URL``, a service key and ``USER_ID`` are all set; **embedded**
when none of ``SUPABASE_URL``/``SUPABASE_SERVICE_KEY``/``SUPABASE_SERVICE_ROLE_KEY`` is set;
anything in between is an error naming what is missing.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import attrs

from kernels.edges import MAX_COOLDOWN_BARS
from kernels.timeframes import TIMEFRAME_MS
from vyx.notify.channels import Channel, ChannelError, parse_urls
from vyx.notify.notices import QuietHours
from vyx.notify.settings import DISCORD_API_URL, TELEGRAM_API_URL, NotifySettings
from vyx.settings import (
    DEFAULT_BINANCE_REST_URL,
    DEFAULT_BINANCE_WS_URL,
    DEFAULT_FLY_API_URL,
    DEFAULT_GEMINI_BASE_URL,
    DEFAULT_GEMINI_MODEL,
    LOCAL_USER_ID,
    AnalyzerConfig,
    FlyConfig,
    LogConfig,
    MachineConfig,
    MarketSettings,
    RuntimeConfig,
    ServerSettings,
    StoreConfig,
    SupabaseConfig,
)

T = TypeVar("T")

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")

Mode = Literal["cloud", "embedded"]


class ConfigError(Exception):
    """One or more environment variables are invalid; :attr:`problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@attrs.frozen
class Config:
    """The whole configuration; build it with :meth:`from_env`."""

    machine: MachineConfig
    supabase: SupabaseConfig | None
    market: MarketSettings
    store: StoreConfig
    server: ServerSettings
    analyzer: AnalyzerConfig
    fly: FlyConfig
    log: LogConfig
    runtime: RuntimeConfig
    #: Alerts: ``NOTIFY_URLS`` (secret), quiet hours, the services' base URLs.
    notify: NotifySettings = attrs.field(factory=NotifySettings)

    @property
    def mode(self) -> Mode:
        """``cloud`` with Supabase configured, ``embedded`` otherwise."""
        return "embedded" if self.supabase is None else "cloud"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, cpu_count: int | None = None) -> Config:
        """Parse ``environ`` (normally ``os.environ``).

        ``cpu_count`` overrides the detected CPU count used for the ``WORKERS`` default.
        Raises :class:`ConfigError` listing every invalid or missing variable.
        """
        return _Reader(environ).config(cpu_count if cpu_count is not None else _usable_cpus())


# --------------------------------------------------------------------------- parsers
# Each returns the value or raises ValueError whose message says what was expected.


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.replace("_", ""), 10)
        except ValueError:
            raise ValueError(f"expected an integer in {lo}..{hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected an integer in {lo}..{hi}")
        return value

    return parse


def _float_in(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number in {lo:g}..{hi:g}") from None
        if not lo <= value <= hi:  # also rejects nan
            raise ValueError(f"expected a number in {lo:g}..{hi:g}")
        return value

    return parse


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        expected = f"expected a {' or '.join(schemes)} URL with a host"
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError(expected) from None
        if parts.scheme not in schemes or not parts.hostname or any(c.isspace() for c in raw):
            raise ValueError(expected)
        return raw.rstrip("/")

    return parse


def _choice(*options: str, fold: Callable[[str], str] = str.lower) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = fold(raw)
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _timeframe(raw: str) -> str:
    if raw not in TIMEFRAME_MS:
        raise ValueError(f"expected a timeframe: one of {', '.join(TIMEFRAME_MS)}")
    return raw


def _uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ValueError("expected a UUID (the Supabase auth user id)") from None


def _token(raw: str) -> str:
    """A free-text identifier or secret: printable, no whitespace."""
    if not raw.isprintable() or any(c.isspace() for c in raw):
        raise ValueError("expected a value without whitespace or control characters")
    return raw


def _fly_token(raw: str) -> str:
    """A Fly API token: ``FlyV1 fm2_...`` (as ``fly tokens create`` prints it) or a bare one."""
    scheme, _, rest = raw.partition(" ")
    if rest and scheme == "FlyV1":
        return f"FlyV1 {_token(rest)}"
    return _token(raw)


def _symbols(raw: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in raw.split(","):
        symbol = item.strip().upper()
        if not symbol:
            continue
        if not (symbol.isascii() and symbol.isalnum() and 2 <= len(symbol) <= 20):
            raise ValueError(f"expected comma-separated symbols like BTCUSDT,ETHUSDT ({symbol!r})")
        seen[symbol] = None
    if not seen:
        raise ValueError("expected comma-separated symbols like BTCUSDT,ETHUSDT")
    return tuple(seen)


def _path(raw: str) -> Path:
    try:
        if "\x00" in raw:
            raise ValueError
        return Path(raw).expanduser()
    except (ValueError, RuntimeError):  # RuntimeError: "~nosuchuser"
        raise ValueError("expected a directory path") from None


def _screen_interval(raw: str) -> int:
    value = _int_in(0, 3_600_000)(raw)
    if 0 < value < 100:
        raise ValueError("expected 0 (off) or a period in 100..3600000 ms")
    return value


def _channels(raw: str) -> tuple[Channel, ...]:
    try:
        return parse_urls(raw, where="URL list")
    except ChannelError as exc:
        raise ValueError(f"expected apprise URLs ({exc})") from None


def _zone(raw: str) -> str:
    QuietHours.parse("00:00-00:00", raw)  # raises ValueError naming an unknown zone
    return raw


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/vyx``, ``~/.local/share/vyx`` (Linux, Fly),
    ``~/Library/Application Support/vyx`` (macOS) or ``%LOCALAPPDATA%\\vyx`` (Windows)."""
    home = Path(environ.get("HOME") or Path.home())
    if sys.platform == "win32":
        base = environ.get("LOCALAPPDATA")
        return Path(base) / "vyx" if base else home / "AppData" / "Local" / "vyx"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "vyx"
    xdg = environ.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg) if xdg else home / ".local" / "share") / "vyx"


# --------------------------------------------------------------------------- reader


class _Reader:
    """Reads variables, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = environ
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def get(self, name: str, parse: Callable[[str], T], default: T, *, secret: bool = False) -> T:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            shown = "<hidden>" if secret else repr(raw)
            self.problems.append(f"{name}={shown}: {exc}")
            return default

    def opt(self, name: str, parse: Callable[[str], T], *, secret: bool = False) -> T | None:
        return self.get(name, parse, None, secret=secret)

    def config(self, cpus_available: int) -> Config:
        supabase = self.supabase()
        cloud = supabase is not None
        machine = self.machine()
        market = MarketSettings(
            kline_interval=self.get("KLINE_INTERVAL", _timeframe, "5m"),
            screening_interval_ms=self.get("SCREENING_INTERVAL_MS", _screen_interval, 0),
            symbol_count=self.get("SYMBOL_COUNT", _int_in(1, 1000), 100),
            symbols=self.opt("SYMBOLS", _symbols),
            rest_url=self.get("BINANCE_REST_URL", _url("https", "http"), DEFAULT_BINANCE_REST_URL),
            ws_url=self.get("BINANCE_WS_URL", _url("wss", "ws"), DEFAULT_BINANCE_WS_URL),
            cooldown_bars=self.get("SIGNAL_COOLDOWN_BARS", _int_in(0, MAX_COOLDOWN_BARS), 0),
        )
        drain = self.get("DRAIN_TIMEOUT_S", _float_in(0.1, 300), 10.0)
        batch_rows = self.get("VYX_STORE_BATCH_ROWS", _int_in(1, 10_000), 500)
        store = StoreConfig(
            data_dir=self.get("VYX_DATA_DIR", _path, default_data_dir(self._env)),
            batch_rows=batch_rows,
            flush_interval_ms=self.get("VYX_STORE_FLUSH_MS", _int_in(1, 60_000), 250),
            buffer_rows=self.get("VYX_STORE_BUFFER_ROWS", _int_in(1, 1_000_000), 10_000),
            final_flush_s=drain / 2,
        )
        if store.buffer_rows < store.batch_rows:
            self.problems.append(
                f"VYX_STORE_BUFFER_ROWS={str(store.buffer_rows)!r}: expected at least "
                f"VYX_STORE_BATCH_ROWS ({store.batch_rows})"
            )
        server = ServerSettings(
            host=self.get("HOST", _token, "0.0.0.0" if cloud else "127.0.0.1"),
            port=self.get("PORT", _int_in(0, 65535), 8080),
        )
        analyzer = AnalyzerConfig(
            api_key=self.opt("GEMINI_API_KEY", _token, secret=True),
            model=self.get("GEMINI_MODEL", _token, DEFAULT_GEMINI_MODEL),
            base_url=self.get("GEMINI_BASE_URL", _url("https", "http"), DEFAULT_GEMINI_BASE_URL),
            max_concurrency=self.get("GEMINI_MAX_CONCURRENCY", _int_in(1, 64), 4),
            requests_per_minute=self.get("GEMINI_RPM", _int_in(1, 100_000), 60),
            timeout_s=self.get("GEMINI_TIMEOUT_S", _float_in(1, 600), 30.0),
            daily_token_budget=self.get("GEMINI_DAILY_TOKEN_BUDGET", _int_in(0, 10**12), 0),
        )
        fly = FlyConfig(
            api_token=self.opt("FLY_API_TOKEN", _fly_token, secret=True),
            api_url=self.get("FLY_API_URL", _url("https", "http"), DEFAULT_FLY_API_URL),
            app_name=self.opt("FLY_APP_NAME", _token),
            machine_id=self.opt("FLY_MACHINE_ID", _token),
            machine_version=self.opt("FLY_MACHINE_VERSION", _token),
        )
        log_format = self.get("LOG_FORMAT", _choice("text", "json"), "text")
        log = LogConfig(
            format="json" if log_format == "json" else "text",
            level=self.get("LOG_LEVEL", _choice(*LOG_LEVELS, fold=str.upper), "INFO"),
        )
        runtime = RuntimeConfig(
            workers=self.get("WORKERS", _int_in(1, 64), min(cpus_available, 64)),
            drain_timeout_s=drain,
        )
        notify = self.notify()
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            machine=machine,
            supabase=supabase,
            market=market,
            store=store,
            server=server,
            analyzer=analyzer,
            fly=fly,
            log=log,
            runtime=runtime,
            notify=notify,
        )

    def notify(self) -> NotifySettings:
        web = _url("https", "http")
        zone = self.get("NOTIFY_TIMEZONE", _zone, "UTC")
        return NotifySettings(
            channels=self.get("NOTIFY_URLS", _channels, (), secret=True),
            telegram_url=self.get("TELEGRAM_API_URL", web, TELEGRAM_API_URL),
            discord_url=self.get("DISCORD_API_URL", web, DISCORD_API_URL),
            dashboard_url=self.opt("DASHBOARD_URL", web),
            quiet_hours=self.opt("NOTIFY_QUIET_HOURS", lambda raw: QuietHours.parse(raw, zone)),
            allow_private=self.get("NOTIFY_ALLOW_PRIVATE", _choice("true", "false"), "false")
            == "true",
        )

    def machine(self) -> MachineConfig:
        return MachineConfig(
            user_id=self.get("USER_ID", _uuid, LOCAL_USER_ID),
            machine_id=self.get("MACHINE_ID", _token, "local"),
            region=self.opt("MACHINE_REGION", _token) or self.opt("FLY_REGION", _token),
            cpus=self.get("MACHINE_CPUS", _int_in(1, 8), 1),
            memory_mb=self.get("MACHINE_MEMORY", _int_in(128, 131_072), 256),
        )

    def supabase(self) -> SupabaseConfig | None:
        url = self.opt("SUPABASE_URL", _url("https", "http"))
        key = self.opt("SUPABASE_SERVICE_KEY", _token, secret=True)
        role_key = self.opt("SUPABASE_SERVICE_ROLE_KEY", _token, secret=True)
        if key and role_key and key != role_key:
            self.problems.append(
                "SUPABASE_SERVICE_KEY and SUPABASE_SERVICE_ROLE_KEY are both set and differ: "
                "expected one of them (or equal values)"
            )
        key = key or role_key
        jwt_secret = self.opt("SUPABASE_JWT_SECRET", _token, secret=True)
        jwks_url = self.opt("SUPABASE_JWKS_URL", _url("https", "http"))
        has_url = self.raw("SUPABASE_URL") is not None
        has_key = any(self.raw(n) for n in ("SUPABASE_SERVICE_KEY", "SUPABASE_SERVICE_ROLE_KEY"))
        if not (has_url or has_key):
            return None
        missing = []
        if not has_url:
            missing.append("SUPABASE_URL")
        if not has_key:
            missing.append("SUPABASE_SERVICE_KEY (or SUPABASE_SERVICE_ROLE_KEY)")
        if self.raw("USER_ID") is None:
            missing.append("USER_ID")
        if missing:
            self.problems.append(
                "Supabase is partly configured (cloud mode needs SUPABASE_URL, "
                "SUPABASE_SERVICE_KEY and USER_ID): missing " + ", ".join(missing)
            )
            return None
        if url is None or key is None:  # present but invalid: already reported
            return None
        return SupabaseConfig(
            url=url,
            service_key=key,
            jwt_secret=jwt_secret,
            jwks_url=jwks_url or f"{url}/auth/v1/.well-known/jwks.json",
        )


#: The alert variables ``vyx demo`` takes from the environment (its other settings are fixed).
NOTIFY_VARIABLES = ("NOTIFY_URLS", "NOTIFY_QUIET_HOURS", "NOTIFY_TIMEZONE", "DASHBOARD_URL")


def environment(names: tuple[str, ...]) -> dict[str, str]:
    """The variables ``names`` of this process's environment that are set."""
    return {name: os.environ[name] for name in names if name in os.environ}


def load_config() -> Config:
    """The configuration of this process, from its environment; raises :class:`ConfigError`."""
    return Config.from_env(os.environ)
