"""Config.from_env: every variable's happy path and bad values, modes, secrets never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vyx.config import Config, ConfigError
from vyx.settings import LOCAL_USER_ID

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"
SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.service-role-secret-XYZ"
JWT_SECRET = "jwt-secret-do-not-print-42"
GEMINI_KEY = "AIzaSy-gemini-secret-77"
FLY_TOKEN = "FlyV1 fm2_fly-secret-token"  # contains a space: only valid as a bad value
SECRETS = (SERVICE_KEY, JWT_SECRET, GEMINI_KEY, "fm2_fly-secret-token")
CLOUD = {
    "SUPABASE_URL": "https://abc.supabase.co",
    "SUPABASE_SERVICE_KEY": SERVICE_KEY,
    "USER_ID": USER,
}


def _load(**env: str) -> Config:
    return Config.from_env({"HOME": "/home/trader", **env}, cpu_count=4)


def _error(**env: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _load(**env)
    return info.value


def _get(cfg: Config, path: str) -> Any:
    value: Any = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_defaults_are_embedded_and_sane() -> None:
    cfg = _load()
    assert cfg.mode == "embedded"
    assert cfg.supabase is None
    assert cfg.machine.user_id == LOCAL_USER_ID
    assert cfg.market.kline_interval == "5m"
    assert cfg.market.symbol_count == 100
    assert cfg.market.symbols is None
    assert cfg.market.rest_url == "https://api.binance.com"
    assert cfg.market.ws_url == "wss://stream.binance.com:9443"
    assert cfg.market.screening_interval_ms == 0
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 8080)
    assert cfg.store.data_dir == Path("/home/trader/.local/share/vyx")
    assert cfg.store.database_path.parent == cfg.store.data_dir
    assert cfg.analyzer.enabled is False
    assert cfg.fly.api_url == "https://api.machines.dev/v1"
    assert (cfg.log.format, cfg.log.level) == ("text", "INFO")
    assert cfg.runtime.workers == 4
    assert cfg.runtime.drain_timeout_s == 10.0
    assert cfg.store.final_flush_s == 5.0


def test_xdg_data_home_is_respected() -> None:
    assert _load(XDG_DATA_HOME="/data").store.data_dir == Path("/data/vyx")


def test_blank_values_count_as_unset() -> None:
    assert _load(PORT="", KLINE_INTERVAL="  ", SUPABASE_URL="").mode == "embedded"


GOOD = [
    ("USER_ID", USER.upper(), "machine.user_id", USER),
    ("MACHINE_ID", "vyx-m-1", "machine.machine_id", "vyx-m-1"),
    ("MACHINE_REGION", "fra", "machine.region", "fra"),
    ("FLY_REGION", "ams", "machine.region", "ams"),
    ("MACHINE_CPUS", "8", "machine.cpus", 8),
    ("MACHINE_MEMORY", "512", "machine.memory_mb", 512),
    ("KLINE_INTERVAL", "1h", "market.kline_interval", "1h"),
    ("SCREENING_INTERVAL_MS", "5000", "market.screening_interval_ms", 5000),
    ("SCREENING_INTERVAL_MS", "0", "market.screening_interval_ms", 0),
    ("SYMBOL_COUNT", "250", "market.symbol_count", 250),
    ("SYMBOLS", "btcusdt, ETHUSDT,,BTCUSDT", "market.symbols", ("BTCUSDT", "ETHUSDT")),
    ("BINANCE_REST_URL", "http://127.0.0.1:9000/", "market.rest_url", "http://127.0.0.1:9000"),
    ("BINANCE_WS_URL", "ws://localhost:9001", "market.ws_url", "ws://localhost:9001"),
    ("GEMINI_API_KEY", GEMINI_KEY, "analyzer.enabled", True),
    ("GEMINI_MODEL", "gemini-2.5-pro", "analyzer.model", "gemini-2.5-pro"),
    ("GEMINI_BASE_URL", "http://gemini.test", "analyzer.base_url", "http://gemini.test"),
    ("GEMINI_MAX_CONCURRENCY", "2", "analyzer.max_concurrency", 2),
    ("GEMINI_RPM", "15", "analyzer.requests_per_minute", 15),
    ("GEMINI_TIMEOUT_S", "12.5", "analyzer.timeout_s", 12.5),
    ("GEMINI_DAILY_TOKEN_BUDGET", "1_000_000", "analyzer.daily_token_budget", 1_000_000),
    ("FLY_API_TOKEN", "fm2_abc", "fly.api_token", "fm2_abc"),
    ("SIGNAL_COOLDOWN_BARS", "12", "market.cooldown_bars", 12),
    ("FLY_API_TOKEN", "FlyV1 fm2_a,fm2_b", "fly.api_token", "FlyV1 fm2_a,fm2_b"),
    ("FLY_API_URL", "http://fly.test/v1", "fly.api_url", "http://fly.test/v1"),
    ("FLY_APP_NAME", "vyx-machines", "fly.app_name", "vyx-machines"),
    ("FLY_MACHINE_ID", "148e21ea", "fly.machine_id", "148e21ea"),
    ("FLY_MACHINE_VERSION", "01HX", "fly.machine_version", "01HX"),
    ("HOST", "0.0.0.0", "server.host", "0.0.0.0"),
    ("PORT", "0", "server.port", 0),
    ("LOG_FORMAT", "JSON", "log.format", "json"),
    ("LOG_LEVEL", "debug", "log.level", "DEBUG"),
    ("VYX_DATA_DIR", "/var/lib/vyx", "store.data_dir", Path("/var/lib/vyx")),
    ("VYX_STORE_BATCH_ROWS", "500", "store.batch_rows", 500),
    ("VYX_STORE_FLUSH_MS", "1000", "store.flush_interval_ms", 1000),
    ("VYX_STORE_BUFFER_ROWS", "50000", "store.buffer_rows", 50000),
    ("WORKERS", "3", "runtime.workers", 3),
    ("DRAIN_TIMEOUT_S", "20", "runtime.drain_timeout_s", 20.0),
    ("DRAIN_TIMEOUT_S", "20", "store.final_flush_s", 10.0),
]


@pytest.mark.parametrize(("name", "raw", "path", "expected"), GOOD)
def test_each_variable_parses(name: str, raw: str, path: str, expected: object) -> None:
    assert _get(_load(**{name: raw}), path) == expected


BAD = [
    ("USER_ID", "alice", "UUID"),
    ("MACHINE_ID", "has space", "without whitespace"),
    ("MACHINE_CPUS", "0", "1..8"),
    ("MACHINE_CPUS", "9", "1..8"),
    ("MACHINE_CPUS", "two", "1..8"),
    ("MACHINE_MEMORY", "64", "128.."),
    ("MACHINE_MEMORY", "1GB", "integer"),
    ("KLINE_INTERVAL", "1M", "timeframe"),
    ("KLINE_INTERVAL", "7m", "5m"),
    ("SCREENING_INTERVAL_MS", "-1", "0..3600000"),
    ("SCREENING_INTERVAL_MS", "50", "0 (off)"),
    ("SYMBOL_COUNT", "0", "1..1000"),
    ("SIGNAL_COOLDOWN_BARS", "-1", "0..10000"),
    ("SYMBOL_COUNT", "1e3", "integer"),
    ("SYMBOLS", "BTC/USDT", "BTCUSDT"),
    ("SYMBOLS", ",,", "comma-separated"),
    ("BINANCE_REST_URL", "api.binance.com", "https or http URL"),
    ("BINANCE_REST_URL", "http://host:99999", "URL"),
    ("BINANCE_WS_URL", "https://stream.binance.com", "wss or ws URL"),
    ("GEMINI_BASE_URL", "ftp://x", "URL"),
    ("GEMINI_MAX_CONCURRENCY", "0", "1..64"),
    ("GEMINI_RPM", "many", "integer"),
    ("GEMINI_TIMEOUT_S", "nan", "number"),
    ("GEMINI_DAILY_TOKEN_BUDGET", "-5", "integer"),
    ("FLY_API_URL", "machines.dev", "URL"),
    ("FLY_APP_NAME", "a b", "whitespace"),
    ("HOST", "local host", "whitespace"),
    ("PORT", "65536", "0..65535"),
    ("PORT", "http", "integer"),
    ("LOG_FORMAT", "xml", "text, json"),
    ("LOG_LEVEL", "LOUD", "INFO"),
    ("VYX_DATA_DIR", "a\x00b", "directory"),
    ("VYX_STORE_BATCH_ROWS", "0", "1..10000"),
    ("VYX_STORE_FLUSH_MS", "0", "1..60000"),
    ("VYX_STORE_BUFFER_ROWS", "10", "at least VYX_STORE_BATCH_ROWS"),
    ("WORKERS", "0", "1..64"),
    ("DRAIN_TIMEOUT_S", "inf", "number"),
    ("SUPABASE_URL", "abc.supabase.co", "URL"),
    ("SUPABASE_JWKS_URL", "jwks", "URL"),
]


@pytest.mark.parametrize(("name", "raw", "expected"), BAD)
def test_bad_values_name_variable_value_and_expectation(name: str, raw: str, expected: str) -> None:
    env = {**CLOUD} if name.startswith("SUPABASE") else {}
    err = _error(**{**env, name: raw})
    line = next(p for p in err.problems if p.startswith(name))
    assert f"{name}={raw!r}" in line
    assert expected in line
    assert line in str(err)


def test_all_errors_are_reported_at_once() -> None:
    err = _error(PORT="x", MACHINE_CPUS="99", KLINE_INTERVAL="2m", LOG_FORMAT="yaml")
    assert len(err.problems) == 4
    assert {p.split("=")[0] for p in err.problems} == {
        "KLINE_INTERVAL",
        "PORT",
        "LOG_FORMAT",
        "MACHINE_CPUS",
    }


def test_cloud_mode() -> None:
    cfg = _load(**CLOUD, SUPABASE_JWT_SECRET=JWT_SECRET)
    assert cfg.mode == "cloud"
    assert cfg.supabase is not None
    assert cfg.supabase.url == "https://abc.supabase.co"
    assert cfg.supabase.service_key == SERVICE_KEY
    assert cfg.supabase.jwt_secret == JWT_SECRET
    assert cfg.supabase.jwks_url == "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
    assert cfg.server.host == "0.0.0.0"
    assert cfg.machine.user_id == USER


def test_role_key_alias_and_explicit_jwks() -> None:
    env = {**CLOUD, "SUPABASE_JWKS_URL": "https://keys.test/jwks.json"}
    del env["SUPABASE_SERVICE_KEY"]
    cfg = _load(**env, SUPABASE_SERVICE_ROLE_KEY=SERVICE_KEY)
    assert cfg.supabase is not None
    assert cfg.supabase.service_key == SERVICE_KEY
    assert cfg.supabase.jwks_url == "https://keys.test/jwks.json"
    assert _load(**CLOUD, SUPABASE_SERVICE_ROLE_KEY=SERVICE_KEY).mode == "cloud"


def test_two_different_keys_are_an_error_without_showing_them() -> None:
    err = _error(**CLOUD, SUPABASE_SERVICE_ROLE_KEY="other-secret-key")
    assert "differ" in str(err)
    assert SERVICE_KEY not in str(err)
    assert "other-secret-key" not in str(err)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"SUPABASE_URL": "https://abc.supabase.co"}, ["SUPABASE_SERVICE_KEY", "USER_ID"]),
        ({"SUPABASE_SERVICE_KEY": SERVICE_KEY, "USER_ID": USER}, ["SUPABASE_URL"]),
        ({"SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY}, ["SUPABASE_URL", "USER_ID"]),
        ({"SUPABASE_URL": "https://a.supabase.co", "SUPABASE_SERVICE_KEY": "k"}, ["USER_ID"]),
    ],
)
def test_partial_supabase_names_what_is_missing(env: dict[str, str], missing: list[str]) -> None:
    err = _error(**env)
    (line,) = [p for p in err.problems if "partly configured" in p]
    for name in missing:
        assert name in line.split("missing")[1]
    assert SERVICE_KEY not in str(err)


def test_user_id_alone_is_embedded_for_that_user() -> None:
    cfg = _load(USER_ID=USER)
    assert (cfg.mode, cfg.machine.user_id, cfg.server.host) == ("embedded", USER, "127.0.0.1")


def test_secrets_never_in_repr_or_str() -> None:
    cfg = _load(
        **CLOUD,
        SUPABASE_JWT_SECRET=JWT_SECRET,
        GEMINI_API_KEY=GEMINI_KEY,
        FLY_API_TOKEN="fm2_fly-secret-token",
    )
    for text in (repr(cfg), str(cfg), repr(cfg.supabase), repr(cfg.analyzer), repr(cfg.fly)):
        for secret in SECRETS:
            assert secret not in text
    assert "abc.supabase.co" in repr(cfg)  # the repr is still useful


@pytest.mark.parametrize(
    "name",
    [
        "SUPABASE_SERVICE_KEY",
        "SUPABASE_SERVICE_ROLE_KEY",
        "SUPABASE_JWT_SECRET",
        "GEMINI_API_KEY",
        "FLY_API_TOKEN",
    ],
)
def test_bad_secret_is_reported_without_its_value(name: str) -> None:
    bad = "leaky secret\tvalue"
    err = _error(**{**CLOUD, name: bad})
    assert f"{name}=<hidden>" in str(err)
    assert "leaky" not in str(err)
    assert "leaky" not in repr(err)
    assert SERVICE_KEY not in str(err)


KNOWN = [name for name, *_ in GOOD + BAD] + [
    "SUPABASE_SERVICE_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "XDG_DATA_HOME",
]
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from([raw for _, raw, *_ in GOOD + BAD]),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", " ", "~", "~nosuchuser/x", "http://[", "0x10", "1e400", "-0", "٣"]),
)


@given(env=st.dictionaries(st.sampled_from(KNOWN), VALUES, max_size=12))
def test_random_environments_raise_only_config_error(env: dict[str, str]) -> None:
    error: ConfigError | None = None
    try:
        cfg = Config.from_env({"HOME": "/h", **env}, cpu_count=2)
    except ConfigError as exc:
        error = exc
    if error is None:
        assert cfg.mode in ("cloud", "embedded")
        assert 1 <= cfg.machine.cpus <= 8
        return
    assert error.problems
    for name in ("SUPABASE_SERVICE_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_JWT_SECRET"):
        assert f"{name}='" not in str(error)  # a secret is only ever shown as <hidden>
