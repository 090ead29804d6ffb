"""The browser-facing server: authenticated WebSocket, ``/health``, ``/metrics``, dashboard.

Public API (see ``service``, ``interface`` and ``protocol`` for the details)::

    from vyx.server import ServerConfig, ServerDeps, run_server
    handle = await nursery.start(run_server, cfg, ServerDeps(commands=..., snapshot=...))
    handle.broadcast(message)
"""

from vyx.server.auth import AuthConfig, supabase_jwks_url
from vyx.server.interface import CommandHandler, CommandRejected, Snapshot, SnapshotProvider
from vyx.server.protocol import PROTOCOL_VERSION, Command
from vyx.server.service import (
    ServerConfig,
    ServerDeps,
    ServerHandle,
    ServerStatistics,
    run_server,
)

__all__ = [
    "PROTOCOL_VERSION",
    "AuthConfig",
    "Command",
    "CommandHandler",
    "CommandRejected",
    "ServerConfig",
    "ServerDeps",
    "ServerHandle",
    "ServerStatistics",
    "Snapshot",
    "SnapshotProvider",
    "run_server",
    "supabase_jwks_url",
]
