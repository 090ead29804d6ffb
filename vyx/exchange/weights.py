"""Binance's REST request-weight limit, per client IP, in trio seconds.

Model (Binance spot, "LIMITS" in the REST docs):

- every request adds its endpoint's weight to the IP's counter for the current fixed window
  (calendar minute by default) and the counter is returned in ``X-MBX-USED-WEIGHT-1M``;
- a request that takes the counter over the limit is answered 429 with ``Retry-After`` (seconds
  to the end of the window);
- a request arriving while an earlier 429's ``Retry-After`` has not elapsed ("failing to back off")
  bans the IP: 418 with ``Retry-After``, for ``ban_s``, doubling with every ban up to 3 days;
- requests during a ban are answered 418 and weigh nothing.

Windows are trio time, not market time: the limit is about how hard a client hits the server.
"""

from __future__ import annotations

import math

import attrs

#: Binance's longest IP ban.
MAX_BAN_S = 3 * 86_400.0


@attrs.frozen
class Charge:
    """The outcome of charging one request."""

    #: 200 (go ahead), 429 (over the limit) or 418 (banned).
    status: int
    #: The window's counter after this request (the ``X-MBX-USED-WEIGHT-1M`` value).
    used: int
    #: Whole seconds for ``Retry-After`` (429/418 only).
    retry_after: int | None = None


@attrs.define
class _Ip:
    window: int = -1
    used: int = 0
    retry_until: float = -math.inf
    ban_until: float = -math.inf
    bans: int = 0


@attrs.define
class WeightLimiter:
    """Per-IP weight counters, 429s and escalating 418 bans."""

    limit: int = 6000
    window_s: float = 60.0
    ban_s: float = 120.0
    _ips: dict[str, _Ip] = attrs.field(factory=dict, init=False)

    def charge(self, ip: str, weight: int, now: float) -> Charge:
        """Charge ``weight`` to ``ip`` at trio time ``now`` and decide."""
        state = self._ips.setdefault(ip, _Ip())
        window = math.floor(now / self.window_s)
        if window != state.window:
            state.window, state.used = window, 0
        if now < state.ban_until:
            return Charge(418, state.used, math.ceil(state.ban_until - now))
        if now < state.retry_until:
            ban = min(self.ban_s * 2**state.bans, MAX_BAN_S)
            state.bans += 1
            state.ban_until, state.retry_until = now + ban, -math.inf
            return Charge(418, state.used, math.ceil(ban))
        state.used += weight
        if state.used > self.limit:
            window_end = (window + 1) * self.window_s
            state.retry_until = window_end
            return Charge(429, state.used, max(math.ceil(window_end - now), 1))
        return Charge(200, state.used)

    def used(self, ip: str, now: float) -> int:
        """The counter ``ip`` would see now."""
        state = self._ips.get(ip)
        if state is None or state.window != math.floor(now / self.window_s):
            return 0
        return state.used

    def banned_until(self, ip: str) -> float | None:
        """trio time the ban of ``ip`` ends, None when not banned (ever)."""
        state = self._ips.get(ip)
        return state.ban_until if state is not None and state.bans else None
