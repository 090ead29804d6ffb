"""The services' settings, from the environment's (:class:`vyx.config.Config`)."""

from __future__ import annotations

from vyx.config import Config
from vyx.market.service import MarketConfig
from vyx.screener.config import ScreenerConfig
from vyx.server import AuthConfig, ServerConfig
from vyx.server.auth import supabase_jwks_url


def market_config(cfg: Config, capacity: dict[str, int]) -> MarketConfig:
    """The market service's settings from the environment's; ``capacity``: closed bars to keep
    per timeframe (the rings' sizes, which the backfill fills)."""
    return MarketConfig.from_settings(cfg.market, warmup=capacity, region=cfg.machine.region)


def server_config(cfg: Config) -> ServerConfig:
    """The server's settings: Supabase tokens in cloud mode, a one-time local token embedded."""
    sb = cfg.supabase
    auth = AuthConfig(
        user_id=cfg.machine.user_id,
        jwt_secret=sb.jwt_secret if sb else None,
        jwks_url=(sb.jwks_url or supabase_jwks_url(sb.url)) if sb else None,
        local_token=cfg.mode == "embedded",
    )
    return ServerConfig(
        cfg.server.host,
        cfg.server.port,
        auth,
        machine_id=cfg.machine.machine_id,
        instance_id=cfg.fly.machine_id,
    )


def screener_config(cfg: Config, machine_id: str | None) -> ScreenerConfig:
    """The screener's settings; ``machine_id`` goes into signals (``cloud_machines.id`` in
    cloud mode)."""
    return ScreenerConfig(
        user_id=cfg.machine.user_id,
        machine_id=machine_id,
        workers=cfg.runtime.workers,
        intrabar_ms=cfg.market.screening_interval_ms,
        cooldown_bars=cfg.market.cooldown_bars,
    )
