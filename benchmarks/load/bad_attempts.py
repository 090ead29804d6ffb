"""Bad connection attempts: their kinds and expected rejections, the plan, and running them."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from contextlib import suppress

import attrs
import jwt
import trio

from benchmarks.load.tokens import Tokens
from benchmarks.load.wsclient import STEP_S, Rejected, Ws

#: Every kind of bad attempt and the only outcome it may have: ``"close <code> <reason>"`` (the
#: server accepted the upgrade, then closed the socket with that frame) or ``"http <status>"``.
EXPECTED: dict[str, str] = {
    "no_token": "close 1008 authentication required",  # first frame a ping, no token anywhere
    "no_token_silent": "close 1008 authentication required",  # nothing sent: the auth deadline
    "empty_token": "close 1008 authentication required",  # ?access_token= then an empty auth
    "wrong_user": "close 1008 wrong user",
    "wrong_user_auth_message": "close 1008 wrong user",
    "bad_signature": "close 1008 invalid token",
    "expired_token": "close 1008 token expired",
    "alg_none": "close 1008 invalid token",
    "garbage_token": "close 1008 invalid token",
    "garbage_text_frame": "close 1008 authentication required",
    "garbage_binary_frame": "close 1008 authentication required",
    # A frame with a reserved opcode: wsproto fails the connection without a close frame.
    "invalid_ws_frame": "close 1006",
    "oversized_frame": "close 1009",  # 70 kB before authenticating
    "oversized_after_auth": "close 1009",  # a valid client that then sends 70 kB
    "wrong_path": "http 403",
    "garbage_http": "http 400",
    "bad_upgrade": "http 400",  # an upgrade without Sec-WebSocket-Key/Version
}
#: Kinds that hold their socket until the server's auth deadline: a small share of the attempts.
SLOW_KINDS = frozenset({"no_token_silent"})


def plan_attempts(total: int, seed: int) -> list[str]:
    """``total`` attempt kinds: every kind at least once (slow ones ~1 in 50), seeded order."""
    fast = [k for k in EXPECTED if k not in SLOW_KINDS]
    slow = sorted(SLOW_KINDS)
    n_slow = min(len(slow) * max(1, total // 50), total)
    kinds = [slow[i % len(slow)] for i in range(n_slow)]
    kinds += [fast[i % len(fast)] for i in range(total - n_slow)]
    random.Random(seed).shuffle(kinds)
    return kinds


def _http_status(raw: bytes) -> str:
    line = raw.split(b"\r\n", 1)[0].split()
    return f"http {int(line[1])}" if len(line) >= 2 and line[1].isdigit() else "eof"


async def _raw_http(port: int, request: bytes) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        raw = b""
        with trio.move_on_after(STEP_S):
            while b"\r\n" not in raw:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                raw += chunk
    return _http_status(raw)


def _outcome(ws: Ws, leaked: list[str | bytes]) -> str:
    if ws.close is None:
        return "not closed"
    types = [json.loads(m).get("type") for m in leaked if isinstance(m, str)]
    if any(t not in ("error",) for t in types):
        return f"leaked {types[:3]} then close {ws.close[0]}"
    return f"close {ws.close[0]} {ws.close[1]}".strip()


async def attempt(kind: str, port: int, tokens: Tokens, auth_timeout_s: float) -> str:
    """Make one bad attempt of ``kind``; its outcome (compare with ``EXPECTED[kind]``)."""
    if kind == "garbage_http":
        return await _raw_http(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    if kind == "bad_upgrade":
        return await _raw_http(
            port,
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n",
        )
    target = "/ws"
    if kind == "wrong_path":
        target = f"/other?access_token={tokens.make()}"
    elif kind == "wrong_user":
        target += f"?access_token={tokens.make(tokens.other_user_id)}"
    elif kind == "bad_signature":
        target += f"?access_token={tokens.make(secret='not-the-secret-' + 'x' * 32)}"
    elif kind == "expired_token":
        target += f"?access_token={tokens.make(exp_in_s=-3600)}"
    elif kind == "alg_none":
        unsigned = jwt.encode(
            {"sub": tokens.user_id, "aud": "authenticated", "exp": int(time.time()) + 3600},
            "",
            algorithm="none",
        )
        target += f"?access_token={unsigned}"
    elif kind == "garbage_token":
        target += "?access_token=" + "x" * 40 + ".garbage"
    elif kind == "empty_token":
        target += "?access_token="
    elif kind == "oversized_after_auth":
        target += f"?access_token={tokens.make()}"
    try:
        ws = await Ws.open(port, target)
    except Rejected as exc:
        return f"http {exc.status}" if exc.status else "eof"
    try:
        deadline = STEP_S
        if kind in ("no_token", "oversized_after_auth"):
            await ws.send_text('{"type":"ping","data":{}}')
        if kind == "empty_token":
            await ws.send_text('{"type":"auth","data":{"token":""}}')
        elif kind == "wrong_user_auth_message":
            token = tokens.make(tokens.other_user_id)
            await ws.send_text(json.dumps({"type": "auth", "data": {"token": token}}))
        elif kind == "garbage_text_frame":
            await ws.send_text("{not json at all")
        elif kind == "garbage_binary_frame":
            await ws.send_bytes(bytes(random.Random(len(target)).randbytes(64)))
        elif kind == "invalid_ws_frame":
            await ws.send_raw(b"\x83\x80\x00\x00\x00\x00")  # FIN, reserved opcode 3, masked
        elif kind in ("oversized_frame", "oversized_after_auth"):
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await ws.send_text('{"type":"ping","pad":"' + "x" * 70_000 + '"}')
        elif kind == "no_token_silent":
            deadline = auth_timeout_s + STEP_S
        leaked = await ws.until_closed(deadline)
        if kind == "oversized_after_auth":
            # A valid client: its hello, snapshot, pong and broadcasts came before the close.
            leaked = []
        return _outcome(ws, leaked)
    finally:
        await ws.aclose()


@attrs.define
class BadReport:
    """The outcomes of the bad attempts: kind -> outcome -> count."""

    outcomes: dict[str, dict[str, int]] = attrs.field(factory=dict)
    elapsed_s: float = 0.0

    def add(self, kind: str, outcome: str) -> None:
        per = self.outcomes.setdefault(kind, {})
        per[outcome] = per.get(outcome, 0) + 1

    @property
    def wrong(self) -> dict[str, dict[str, int]]:
        """The attempts whose outcome was not the expected one."""
        return {
            kind: {o: n for o, n in per.items() if o != EXPECTED[kind]}
            for kind, per in self.outcomes.items()
            if any(o != EXPECTED[kind] for o in per)
        }


async def run_attempts(
    kinds: list[str],
    port: int,
    tokens: Tokens,
    *,
    auth_timeout_s: float,
    concurrency: int,
    progress: Callable[[int], None] | None = None,
) -> BadReport:
    """Run ``kinds`` with at most ``concurrency`` at a time; never raises for an attempt."""
    report = BadReport()
    limiter = trio.CapacityLimiter(concurrency)
    started = time.perf_counter()
    done = 0

    async def one(kind: str) -> None:
        nonlocal done
        async with limiter:
            try:
                outcome = await attempt(kind, port, tokens, auth_timeout_s)
            except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
                outcome = f"client error {type(exc).__name__}"
        report.add(kind, outcome)
        done += 1
        if progress is not None:
            progress(done)

    async with trio.open_nursery() as nursery:
        for kind in kinds:
            nursery.start_soon(one, kind)
    report.elapsed_s = time.perf_counter() - started
    return report
