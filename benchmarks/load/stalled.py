"""The stalled client: authenticates, then never reads."""

from __future__ import annotations

from benchmarks.load.wsclient import STEP_S, Ws


async def open_stalled(port: int, token: str) -> Ws:
    """A client that authenticates and then never reads (receive buffer shrunk to 4 KiB)."""
    return await Ws.open(port, f"/ws?access_token={token}", rcvbuf=4096)


async def stalled_outcome(ws: Ws, deadline_s: float = STEP_S) -> str:
    """Drain the stalled client now: how the server closed it (``"1013 client too slow"``, or
    ``"1006"`` if the server gave up delivering the close frame)."""
    try:
        await ws.until_closed(deadline_s)
    finally:
        await ws.aclose()
    return "still open" if ws.close is None else f"{ws.close[0]} {ws.close[1]}".strip()
