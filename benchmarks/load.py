"""Load: many authenticated browsers plus one that never reads, and a flood of bad connections.

What runs where (each in its own process, so the clients' CPU is not the server's):

- the **server**: ``vyx.server.run_server`` with its real hub, authenticating Supabase access
  tokens (HS256 with ``SUPABASE_JWT_SECRET``, as a cloud machine does), driven over stdin by this
  script: it broadcasts ``signal_created`` messages the size of real ones, each stamped with
  ``time.perf_counter()`` just before ``ServerHandle.broadcast`` (CLOCK_MONOTONIC: comparable
  across processes on Linux). The server alone, not the whole daemon: the broadcast path is the
  thing under load, and a daemon would make the signal rate depend on the market; the daemon's
  own close-to-browser latency is ``just bench``'s.
- **readers** (``--clients``, split over ``--reader-procs`` processes): half authenticate with
  ``?access_token=``, half with a first ``auth`` message; each records every message's latency
  (arrival minus stamp) and checks it got every stamped message once, in order.
- this process: the **stalled** client (a tiny receive buffer, never reads after the handshake)
  and the **bad** connection attempts (``--bad``, every kind of :data:`EXPECTED`, seeded order),
  each checked against the rejection it must get.

Phases: baseline (``--rate`` steady broadcasts: a single broadcast's latency), bursts (a candle
close's worth of signals back to back, the next one once every reader has the last, as closes are
minutes apart; repeated until the stalled client overflows its queue and is dropped), bad (steady
broadcasts while the bad attempts run: do the readers notice?), after, then an end marker. Prints
a results block (latency per phase against ``--budget-p99-ms``, which the issue leaves open; the
CPU each side used per phase, to tell a slow server from slow readers) and writes
``bench-results/load.json``.

Run with ``just load`` (the issue's sizes: 500 clients, 1,000 bad attempts) or e.g.
``just load --clients 50 --bad 100`` on a busy machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import attrs
import jwt
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"

#: The benchmark's user and (benchmark-only) HS256 secret.
USER_ID = "5a1d0c2e-7b3f-4e6a-8d9c-0f1e2d3c4b5a"
OTHER_USER_ID = "c4b5a0f1-e2d3-4c4b-9a8d-7e6f5a4b3c2d"
SECRET = "load-benchmark-only-jwt-secret-0123456789"

#: Deadline of one step of a client (connect, handshake, a reply).
STEP_S = 10.0


# ---------------------------------------------------------------------------------------------
# Tokens and messages


@attrs.frozen
class Tokens:
    """Makes Supabase-like access tokens for ``user_id`` signed with ``secret``."""

    user_id: str = USER_ID
    secret: str = SECRET
    other_user_id: str = OTHER_USER_ID

    def make(
        self, sub: str | None = None, *, exp_in_s: float = 3600, secret: str | None = None
    ) -> str:
        payload = {
            "sub": sub or self.user_id,
            "aud": "authenticated",
            "role": "authenticated",
            "exp": int(time.time() + exp_in_s),
        }
        return jwt.encode(payload, secret or self.secret, algorithm="HS256")


_INDICATORS = {
    "rsi(14) < 30": {"held": True, "values": {"rsi(14)": 27.41}},
    "close > ema(200)": {"held": True, "values": {"close": 42_000.5, "ema(200)": 41_210.93}},
    "macd_hist(12, 26, 9) > 0": {"held": True, "values": {"macd_hist(12, 26, 9)": 12.87}},
}


def stamped(seq: int, phase: str) -> dict[str, Any]:
    """A ``signal_created`` the size of a real one, carrying ``loadSeq``/``loadPhase``/``loadT``
    (``loadT`` = ``perf_counter()`` now: stamp right before broadcasting)."""
    symbol = f"SYM{seq % 100:03d}USDT"
    return {
        "type": "signal_created",
        "data": {
            "signalId": f"00000000-0000-4000-8000-{seq:012d}",
            "traderId": f"trader-{seq % 20}",
            "symbol": symbol,
            "interval": "5m",
            "price": 42_000.5 + seq,
            "matchedConditions": list(_INDICATORS),
            "indicatorData": _INDICATORS,
            "provisional": False,
            "barOpenTime": 1_700_000_000_000 + 300_000 * seq,
            "createdAt": 1_700_000_300_000 + 300_000 * seq,
            "loadSeq": seq,
            "loadPhase": phase,
            "loadT": time.perf_counter(),
        },
    }


def end_marker(total: int) -> dict[str, Any]:
    """Tells readers that ``total`` stamped messages were broadcast."""
    return {"type": "status_update", "data": {"status": "running", "loadEnd": total}}


# ---------------------------------------------------------------------------------------------
# A lean WebSocket client (wsproto over a Trio socket)


class Rejected(Exception):
    """The upgrade was refused with an HTTP status (0: the connection just closed)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Ws:
    """One client connection; :meth:`receive` yields ``(arrival, message)`` pairs."""

    def __init__(self, stream: trio.SocketStream, conn: WSConnection) -> None:
        self.stream = stream
        self.conn = conn
        #: (code, reason) once the server closed (1006: without a close frame).
        self.close: tuple[int, str] | None = None
        self._parts: list[str | bytes] = []
        self._pending: list[tuple[float, str | bytes]] = []

    @classmethod
    async def open(cls, port: int, target: str, *, rcvbuf: int | None = None) -> Ws:
        """Connect to ``127.0.0.1:port`` and upgrade ``target`` (path and query).

        Raises:
            Rejected: the server answered the upgrade with an HTTP status.
        """
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            with trio.fail_after(STEP_S):
                await sock.connect(("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        ws = cls(trio.SocketStream(sock), WSConnection(ConnectionType.CLIENT))
        try:
            await ws.send_raw(ws.conn.send(Request(host=f"127.0.0.1:{port}", target=target)))
            with trio.fail_after(STEP_S):
                while True:
                    data = await ws.stream.receive_some(65536)
                    arrival = time.perf_counter()
                    if not data:
                        raise Rejected(0)
                    ws.conn.receive_data(data)
                    for event in ws.conn.events():
                        if isinstance(event, AcceptConnection):
                            # Frames that came in the same chunk as the 101 (a hello, or a
                            # close right after the accept) are parsed now, not lost.
                            ws._pending = await ws._events(arrival)
                            return ws
                        if isinstance(event, RejectConnection):
                            raise Rejected(event.status_code)
        except BaseException:
            await ws.aclose()
            raise

    async def send_raw(self, data: bytes) -> None:
        with trio.fail_after(STEP_S):
            await self.stream.send_all(data)

    async def send_text(self, text: str) -> None:
        await self.send_raw(self.conn.send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.send_raw(self.conn.send(BytesMessage(data=data)))

    async def receive(self) -> list[tuple[float, str | bytes]]:
        """The messages of the next chunk from the socket (maybe none), with its arrival time;
        ``[]`` and :attr:`close` set once closed."""
        if self._pending:
            out, self._pending = self._pending, []
            return out
        try:
            data = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        arrival = time.perf_counter()
        if not data:
            self.close = self.close or (1006, "")
            return []
        self.conn.receive_data(data)
        return await self._events(arrival)

    async def _events(self, arrival: float) -> list[tuple[float, str | bytes]]:
        out: list[tuple[float, str | bytes]] = []
        for event in self.conn.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data if isinstance(event.data, str) else bytes(event.data))
                if event.message_finished:
                    if isinstance(event, TextMessage):
                        out.append((arrival, "".join(p for p in self._parts if isinstance(p, str))))
                    else:
                        joined = b"".join(p for p in self._parts if isinstance(p, bytes))
                        out.append((arrival, joined))
                    self._parts = []
            elif isinstance(event, CloseConnection):
                self.close = (event.code, event.reason or "")
                if self.conn.state is ConnectionState.REMOTE_CLOSING:
                    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        await self.send_raw(self.conn.send(event.response()))
            elif isinstance(event, Ping):
                await self.send_raw(self.conn.send(event.response()))
        return out

    async def until_closed(self, deadline_s: float = STEP_S) -> list[str | bytes]:
        """Read until the server closes (messages read on the way are returned)."""
        got: list[str | bytes] = []
        with trio.move_on_after(deadline_s):
            while self.close is None or self._pending:
                got.extend(m for _, m in await self.receive())
        return got

    async def aclose(self) -> None:
        with trio.move_on_after(2) as scope:
            scope.shield = True
            if self.conn.state is ConnectionState.OPEN:
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self.send_raw(self.conn.send(CloseConnection(code=1000)))
            await self.stream.aclose()


# ---------------------------------------------------------------------------------------------
# Readers


@attrs.define
class ReaderResult:
    """What one reader saw."""

    received: int = 0
    #: Stamped messages it should have had and did not get (once the end marker told the total).
    missing: int = 0
    #: Stamped messages that came with a sequence number not above the previous one.
    out_of_order: int = 0
    #: How the server closed it before the end marker, if it did: ``"1013 client too slow"``.
    closed_early: str | None = None
    #: The total the end marker announced (None: no end marker).
    end_total: int | None = None
    #: phase -> latencies in seconds, in arrival order.
    latencies: dict[str, list[float]] = attrs.field(factory=dict)
    #: seq -> (phase, latency), for the fan-out time of each message.
    by_seq: dict[int, tuple[str, float]] = attrs.field(factory=dict)


async def run_reader(
    port: int,
    token: str,
    *,
    via_message: bool,
    ready: Callable[[], None],
    on_message: Callable[[int], None] | None = None,
) -> ReaderResult:
    """A browser: authenticate, read ``hello`` and ``snapshot``, call ``ready``, then record
    every stamped message (and call ``on_message(seq)``) until the end marker (or until the
    server closes it)."""
    target = "/ws" if via_message else f"/ws?access_token={token}"
    result = ReaderResult()
    ws = await Ws.open(port, target)
    try:
        if via_message:
            await ws.send_text(json.dumps({"type": "auth", "data": {"token": token}}))
        backlog: list[tuple[float, str | bytes]] = []
        with trio.fail_after(STEP_S):
            while len(backlog) < 2:
                batch = await ws.receive()
                if ws.close is not None and not batch:
                    raise RuntimeError(f"reader closed during the greeting: {ws.close}")
                backlog.extend(batch)
        greeting = [json.loads(m)["type"] for _, m in backlog[:2]]
        if greeting != ["hello", "snapshot"]:
            raise RuntimeError(f"unexpected greeting {greeting}")
        backlog = backlog[2:]
        ready()
        last = -1
        seen: set[int] = set()
        while result.end_total is None:
            batch, backlog = backlog or await ws.receive(), []
            if not batch and ws.close is not None:
                result.closed_early = f"{ws.close[0]} {ws.close[1]}".strip()
                break
            for arrival, text in batch:
                data = json.loads(text).get("data") or {}
                if "loadSeq" in data:
                    seq = int(data["loadSeq"])
                    latency = arrival - float(data["loadT"])
                    result.received += 1
                    if seq <= last:
                        result.out_of_order += 1
                    last = max(last, seq)
                    seen.add(seq)
                    phase = str(data["loadPhase"])
                    result.latencies.setdefault(phase, []).append(latency)
                    result.by_seq[seq] = (phase, latency)
                    if on_message is not None:
                        on_message(seq)
                elif "loadEnd" in data:
                    result.end_total = int(data["loadEnd"])
        if result.end_total is not None:
            result.missing = sum(1 for s in range(result.end_total) if s not in seen)
    finally:
        await ws.aclose()
    return result


# ---------------------------------------------------------------------------------------------
# The stalled client


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


# ---------------------------------------------------------------------------------------------
# Bad connection attempts

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


# ---------------------------------------------------------------------------------------------
# Processes


def raise_fd_limit(needed: int) -> int:
    """Raise the soft limit of open files to at least ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return int(soft)


def _out(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class _Lines:
    """Lines of a byte stream."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buf = b""

    async def next(self) -> bytes | None:
        while b"\n" not in self._buf:
            chunk = await self._stream.receive_some(1 << 20)
            if not chunk:
                rest, self._buf = self._buf, b""
                return rest or None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> dict[str, float]:
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(line.split()[1]) / 1024
    return {"rss_mib": values.get("VmRSS", math.nan), "peak_mib": values.get("VmHWM", math.nan)}


async def _server_main(queue_size: int, snapshot_signals: int, fd_limit: int) -> None:
    from loguru import logger

    from vyx.ops.metrics import Metrics
    from vyx.server import AuthConfig, ServerConfig, ServerDeps, Snapshot, run_server

    raise_fd_limit(fd_limit)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    snap = Snapshot(
        signals=[stamped(i, "snapshot")["data"] for i in range(snapshot_signals)],
        traders=[
            {"id": f"trader-{i}", "name": f"Trader {i}", "state": "running"} for i in range(20)
        ],
        status={"status": "running", "symbols": 100, "traders": 20},
    )
    cfg = ServerConfig(
        host="127.0.0.1",
        port=0,
        auth=AuthConfig(user_id=USER_ID, jwt_secret=SECRET),
        client_queue_size=queue_size,
    )
    deps = ServerDeps(snapshot=lambda: snap, metrics=Metrics())
    seq = 0
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_server, cfg, deps)
        _out({"event": "listening", "port": handle.port, "pid": os.getpid()})

        async def watch_drops() -> None:
            seen = 0
            while True:
                stats = handle.statistics()
                if stats.dropped_slow > seen:
                    seen = stats.dropped_slow
                    _out(
                        {
                            "event": "dropped",
                            "t": time.perf_counter(),
                            "broadcasts": stats.broadcasts,
                            "clients": stats.clients,
                            "dropped_slow": seen,
                        }
                    )
                await trio.sleep(0.05)  # statistics() walks every connection: not too often

        nursery.start_soon(watch_drops)

        def broadcast(phase: str) -> None:
            nonlocal seq
            handle.broadcast(stamped(seq, phase))
            seq += 1

        steady_stop = trio.Event()

        async def steady(phase: str, rate: float, count: int | None) -> None:
            sent, start = 0, trio.current_time()
            while (count is None or sent < count) and not steady_stop.is_set():
                with trio.move_on_at(start + sent / rate):
                    await steady_stop.wait()
                if steady_stop.is_set():
                    break
                broadcast(phase)
                sent += 1
            _out({"event": "done", "phase": phase, "sent": sent, "last": seq - 1})

        stdin = _Lines(trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())))
        while (line := await stdin.next()) is not None:
            cmd = json.loads(line)
            match cmd["cmd"]:
                case "steady":
                    steady_stop = trio.Event()
                    nursery.start_soon(steady, cmd["phase"], cmd["rate"], cmd.get("count"))
                case "stop":
                    steady_stop.set()
                case "burst":
                    for _ in range(cmd["size"]):
                        broadcast(cmd["phase"])
                    _out({"event": "done", "phase": cmd["phase"], "last": seq - 1})
                case "end":
                    handle.broadcast(end_marker(seq))
                    _out({"event": "ended", "total": seq})
                case "stats":
                    _out({"event": "stats", **attrs.asdict(handle.statistics())})
                case "quit":
                    break
        handle.shutdown()  # graceful: every client is closed with 1001
        nursery.cancel_scope.cancel()


async def _readers_main(port: int, first: int, count: int, fd_limit: int) -> None:
    raise_fd_limit(fd_limit)
    tokens = Tokens()
    ready = 0

    def one_ready() -> None:
        nonlocal ready
        ready += 1
        if ready == count:
            _out({"event": "ready", "n": count})

    results: list[ReaderResult | str] = [""] * count
    #: The last sequence number each reader got (None: it has ended).
    last: list[int | None] = [-1] * count

    async def one(i: int) -> None:
        def got(seq: int) -> None:
            last[i] = seq

        try:
            results[i] = await run_reader(
                port,
                tokens.make(),
                via_message=(first + i) % 2 == 1,
                ready=one_ready,
                on_message=got,
            )
        except Exception as exc:
            results[i] = f"{type(exc).__name__}: {exc}"
        last[i] = None

    async def answer_progress() -> None:
        # "progress" on stdin -> the lowest sequence number every live reader has got.
        stdin = _Lines(trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())))
        while (await stdin.next()) is not None:
            live = [x for x in last if x is not None]
            _out({"event": "progress", "min_seq": min(live, default=None), "live": len(live)})

    async with trio.open_nursery() as outer:
        outer.start_soon(answer_progress)
        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(one, i)
                if i % 50 == 49:
                    await trio.sleep(0.05)  # let the server accept: no SYN-backlog drops
        outer.cancel_scope.cancel()
    latencies: dict[str, list[float]] = defaultdict(list)
    fan_out: dict[int, tuple[str, float]] = {}
    summary: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, str):
            summary.append({"error": r})
            continue
        for phase, values in r.latencies.items():
            latencies[phase].extend(round(v, 7) for v in values)
        for seq, (phase, value) in r.by_seq.items():
            if seq not in fan_out or fan_out[seq][1] < value:
                fan_out[seq] = (phase, value)
        summary.append(
            {
                "received": r.received,
                "missing": r.missing,
                "out_of_order": r.out_of_order,
                "closed_early": r.closed_early,
                "end_total": r.end_total,
            }
        )
    _out({"event": "result", "latencies": latencies, "fan_out": fan_out, "readers": summary})


# ---------------------------------------------------------------------------------------------
# The orchestrator


def _log(text: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


class _Proc:
    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self.lines = _Lines(proc.stdout)
        #: The server's first "dropped" event, whenever it was read.
        self.first_drop: dict[str, Any] | None = None

    async def event(self, *kinds: str, timeout_s: float = 120) -> dict[str, Any]:
        """The next output event of one of ``kinds`` (others are skipped)."""
        with trio.fail_after(timeout_s):
            while True:
                line = await self.lines.next()
                if line is None:
                    raise RuntimeError(f"process {self.proc.pid} ended: {self.proc.returncode}")
                event: dict[str, Any] = json.loads(line)
                if event["event"] == "dropped" and self.first_drop is None:
                    self.first_drop = event
                if event["event"] in kinds:
                    return event

    async def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all((json.dumps(cmd) + "\n").encode())


async def _delivered(readers: list[_Proc], seq: int, timeout_s: float = 300) -> None:
    """Wait until every live reader has got message ``seq``."""
    with trio.fail_after(timeout_s):
        while True:
            behind = 0
            for r in readers:
                await r.send({"cmd": "progress"})
                got = await r.event("progress")
                if got["min_seq"] is not None and got["min_seq"] < seq:
                    behind += 1
            if not behind:
                return
            await trio.sleep(0.02)


async def _spawn(*args: str) -> _Proc:
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "benchmarks.load", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    return _Proc(proc)


async def _orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    fd_limit = args.clients + args.bad_concurrency * 2 + 1024
    raise_fd_limit(fd_limit)
    server = await _spawn(
        "--role=server",
        f"--queue-size={args.queue_size}",
        f"--fd-limit={fd_limit}",
        *([f"--profile-server={args.profile_server}"] if args.profile_server else []),
    )
    readers: list[_Proc] = []
    tokens = Tokens()
    try:
        listening = await server.event("listening")
        port, pid = int(listening["port"]), int(listening["pid"])
        await trio.sleep(0.5)
        rss = {"idle": _rss_mib(pid)}
        _log(f"server pid {pid} on port {port}; RSS {rss['idle']['rss_mib']:.0f} MiB")

        per = math.ceil(args.clients / args.reader_procs)
        connect_started = time.perf_counter()
        for first in range(0, args.clients, per):
            n = min(per, args.clients - first)
            readers.append(
                await _spawn(
                    "--role=readers",
                    f"--port={port}",
                    f"--first={first}",
                    f"--count={n}",
                    f"--fd-limit={n + 256}",
                )
            )
        for r in readers:
            await r.event("ready", timeout_s=120)
        connect_s = time.perf_counter() - connect_started
        _log(f"{args.clients} readers authenticated in {connect_s:.1f} s")
        stalled = await open_stalled(port, tokens.make())
        await server.send({"cmd": "stats"})
        stats = await server.event("stats")
        assert stats["clients"] >= args.clients, stats
        while stats["clients"] != args.clients + 1:
            await trio.sleep(0.05)
            await server.send({"cmd": "stats"})
            stats = await server.event("stats")
        rss["connected"] = _rss_mib(pid)
        procs = {"server": [pid], "readers": [r.proc.pid for r in readers]}
        cpu: dict[str, dict[str, float]] = {}

        def cpu_mark(phase: str) -> None:
            cpu[phase] = {k: sum(_cpu_s(x) for x in v) for k, v in procs.items()}
            cpu[phase]["wall"] = time.perf_counter()

        cpu_mark("start")
        _log(f"{stats['clients']} clients (one stalled); RSS {rss['connected']['rss_mib']:.0f} MiB")

        # Phase 1: baseline.
        base_n = int(args.rate * args.baseline_s)
        _log(f"baseline: {base_n} broadcasts at {args.rate}/s")
        broadcasting_from = time.perf_counter()
        await server.send(
            {"cmd": "steady", "phase": "baseline", "rate": args.rate, "count": base_n}
        )
        await server.event("done", timeout_s=args.baseline_s + 60)
        cpu_mark("baseline")

        # Phase 2: candle-close bursts, until the stalled client is dropped (or --max-bursts).
        _log(
            f"bursts: {args.burst_size} back to back every {args.burst_gap_s} s, at least "
            f"{args.bursts} and until the stalled client is dropped (at most {args.max_bursts})"
        )
        bursts = 0
        burst_last: list[int] = []
        while bursts < args.bursts or (server.first_drop is None and bursts < args.max_bursts):
            await server.send({"cmd": "burst", "phase": "burst", "size": args.burst_size})
            burst_last.append(int((await server.event("done", timeout_s=600))["last"]))
            # The next close comes after this one's signals were delivered (closes are >= 1 min
            # apart in real life).
            await _delivered(readers, burst_last[-1])
            bursts += 1
            if bursts % 10 == 0:
                _log(f"  {bursts} bursts")
            await trio.sleep(args.burst_gap_s)
        await server.send({"cmd": "stats"})
        await server.event("stats")
        dropped = server.first_drop
        if dropped is None:
            _log("the stalled client was NOT dropped")
        else:
            _log(
                f"stalled client dropped after {dropped['broadcasts']} broadcasts, "
                f"{dropped['t'] - broadcasting_from:.1f} s after broadcasting began"
            )
        cpu_mark("burst")
        stalled_close = await stalled_outcome(stalled)
        rss["after_bursts"] = _rss_mib(pid)
        cpu_mark("stalled")

        # Phase 3: bad attempts during steady broadcasts.
        kinds = plan_attempts(args.bad, args.seed)
        _log(f"bad: {args.bad} attempts ({args.bad_concurrency} at a time) during {args.rate}/s")
        await server.send({"cmd": "steady", "phase": "bad", "rate": args.rate})

        def progress(n: int) -> None:
            if n % 100 == 0 or n == len(kinds):
                _log(f"  {n}/{len(kinds)} bad attempts done")

        bad = await run_attempts(
            kinds,
            port,
            tokens,
            auth_timeout_s=10.0,
            concurrency=args.bad_concurrency,
            progress=progress,
        )
        await server.send({"cmd": "stop"})
        await server.event("done")
        cpu_mark("bad")
        rss["after_bad"] = _rss_mib(pid)

        # Phase 4: a few more after the flood, then the end marker.
        after_n = max(1, int(args.rate * 2))
        await server.send({"cmd": "steady", "phase": "after", "rate": args.rate, "count": after_n})
        await server.event("done")
        await server.send({"cmd": "stats"})
        final_stats = await server.event("stats")
        await server.send({"cmd": "end"})
        total = int((await server.event("ended"))["total"])
        _log(f"{total} stamped broadcasts; collecting reader results")
        latencies: dict[str, list[float]] = defaultdict(list)
        fan_out: dict[int, tuple[str, float]] = {}
        summaries: list[dict[str, Any]] = []
        for r in readers:
            result = await r.event("result", timeout_s=120)
            for phase, values in result["latencies"].items():
                latencies[phase].extend(values)
            for seq, (phase, value) in result["fan_out"].items():
                if int(seq) not in fan_out or fan_out[int(seq)][1] < value:
                    fan_out[int(seq)] = (phase, value)
            summaries.extend(result["readers"])
        await trio.sleep(0.5)
        rss["end"] = _rss_mib(pid)
        await server.send({"cmd": "quit"})
        with trio.move_on_after(15):
            await server.proc.wait()
    finally:
        for p in [server, *readers]:
            if p.proc.returncode is None:
                p.proc.kill()
                await p.proc.wait()

    errors = [s["error"] for s in summaries if "error" in s]
    ok = [s for s in summaries if "error" not in s]
    phases = ("baseline", "burst", "bad", "after")
    return {
        "params": vars(args),
        "connect_s": connect_s,
        "stamped_broadcasts": total,
        "latency": {p: _quantiles(latencies[p]) for p in phases},
        "fan_out": {p: _quantiles([v for ph, v in fan_out.values() if ph == p]) for p in phases},
        # A burst's last message reaching its last reader: the whole close delivered.
        "burst_delivered": _quantiles([fan_out[b][1] for b in burst_last if b in fan_out]),
        "readers": {
            "count": len(summaries),
            "errors": errors[:5],
            "error_count": len(errors),
            "missing_total": sum(total - s["received"] for s in ok),
            "readers_missing_any": sum(1 for s in ok if s["received"] < total),
            "out_of_order_total": sum(s["out_of_order"] for s in ok),
            "closed_early": [s["closed_early"] for s in ok if s["closed_early"]][:5],
            "closed_early_count": sum(1 for s in ok if s["closed_early"]),
            "without_end_marker": sum(1 for s in ok if s["end_total"] != total),
        },
        "stalled": {
            "dropped": dropped is not None,
            "broadcasts_until_drop": dropped["broadcasts"] if dropped else None,
            "bursts": bursts,
            "seconds_until_drop": dropped["t"] - broadcasting_from if dropped else None,
            "close_seen": stalled_close,
            "server_dropped_slow": final_stats["dropped_slow"],
        },
        "bad": {
            "attempts": args.bad,
            "elapsed_s": bad.elapsed_s,
            "outcomes": bad.outcomes,
            "expected": {k: EXPECTED[k] for k in bad.outcomes},
            "wrong": bad.wrong,
        },
        "server_final": final_stats,
        # CPU seconds used in each phase, and its wall time.
        "cpu_s": {
            phase: {k: v - cpu[before][k] for k, v in cpu[phase].items()}
            for before, phase in itertools.pairwise(cpu)
        },
        "server_rss_mib": rss,
        "loadavg_1m": os.getloadavg()[0],
    }


def _print(r: dict[str, Any]) -> None:
    p = r["params"]
    print(
        f"load: {p['clients']} authenticated readers (HS256 Supabase tokens, half by query, "
        f"half by auth message) + 1 stalled, {p['bad']} bad attempts; loopback, "
        f"1-min load average {r['loadavg_1m']:.2f} at the end"
    )
    print(f"  {p['clients']} readers connected and greeted in {r['connect_s']:.1f} s")
    print("  broadcast latency (perf_counter stamp before broadcast -> arrival at each reader):")
    for phase, q in r["latency"].items():
        print(
            f"    {phase:9s} p50 {q['p50_ms']:7.2f} ms  p99 {q['p99_ms']:7.2f} ms  "
            f"max {q['max_ms']:7.2f} ms  ({q['n']} deliveries)"
        )
    print("  fan-out (each message's slowest reader):")
    for phase, q in r["fan_out"].items():
        print(
            f"    {phase:9s} p50 {q['p50_ms']:7.2f} ms  p99 {q['p99_ms']:7.2f} ms  "
            f"max {q['max_ms']:7.2f} ms  ({q['n']} messages)"
        )
    budget = p["budget_p99_ms"]
    worst = max(r["latency"][ph]["p99_ms"] for ph in ("baseline", "bad", "after"))
    print(
        f"  budget: a single broadcast's p99 to every reader <= {budget:.0f} ms (baseline, bad and "
        f"after phases; --budget-p99-ms): {'MET' if worst <= budget else 'NOT MET'} "
        f"(worst p99 {worst:.1f} ms)"
    )
    bd = r["burst_delivered"]
    if bd["n"]:
        rate = p["burst_size"] * p["clients"] / (bd["p50_ms"] / 1000)
        print(
            f"  a burst of {p['burst_size']} delivered to all {p['clients']} readers in: "
            f"p50 {bd['p50_ms']:.0f} ms, max {bd['max_ms']:.0f} ms ({bd['n']} bursts; "
            f"~{rate:,.0f} deliveries/s)"
        )
    rd = r["readers"]
    flawless = not (
        rd["missing_total"]
        or rd["out_of_order_total"]
        or rd["closed_early_count"]
        or rd["error_count"]
        or rd["without_end_marker"]
    )
    print(
        f"  readers: {rd['count']} ({rd['error_count']} failed), every one got all "
        f"{r['stamped_broadcasts']} broadcasts in order: {'YES' if flawless else 'NO'}"
        f" (missing {rd['missing_total']} in {rd['readers_missing_any']} readers, out of order "
        f"{rd['out_of_order_total']}, closed early {rd['closed_early_count']})"
    )
    s = r["stalled"]
    if s["dropped"]:
        print(
            f"  stalled client: dropped after {s['broadcasts_until_drop']} broadcasts, "
            f"{s['seconds_until_drop']:.1f} s after broadcasting began; it then read "
            f"close {s['close_seen']!r}"
        )
    else:
        print(f"  stalled client: NOT dropped (close seen: {s['close_seen']!r})")
    b = r["bad"]
    print(
        f"  bad attempts: {b['attempts']} in {b['elapsed_s']:.1f} s, "
        f"{'all rejected as expected' if not b['wrong'] else 'WRONG OUTCOMES: ' + str(b['wrong'])}"
    )
    for kind, outcomes in sorted(b["outcomes"].items()):
        shown = ", ".join(f"{o} x{n}" for o, n in outcomes.items())
        print(f"    {kind:24s} {shown}")
    fs = r["server_final"]
    print(
        f"  server after the flood: {fs['connections']} connections open, {fs['clients']} "
        f"authenticated (expected {p['clients']} and {p['clients']}: nothing left behind)"
    )
    print("  CPU seconds per phase (wall seconds): ", end="")
    print(
        "; ".join(
            f"{ph} server {c['server']:.1f} readers {c['readers']:.1f} ({c['wall']:.1f})"
            for ph, c in r["cpu_s"].items()
            if ph != "stalled"
        )
    )
    rss = r["server_rss_mib"]
    print(
        "  server RSS: "
        + ", ".join(f"{k} {v['rss_mib']:.0f} MiB" for k, v in rss.items())
        + f"; peak {rss['end']['peak_mib']:.0f} MiB"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the load benchmark (or one of its processes)."""
    parser = argparse.ArgumentParser(prog="just load", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500, help="authenticated readers")
    parser.add_argument("--bad", type=int, default=1000, help="bad connection attempts")
    parser.add_argument("--bad-concurrency", type=int, default=50)
    parser.add_argument("--reader-procs", type=int, default=2, help="processes for the readers")
    parser.add_argument("--rate", type=float, default=2.0, help="steady broadcasts per second")
    parser.add_argument("--baseline-s", type=float, default=10.0)
    parser.add_argument("--bursts", type=int, default=8, help="candle closes at least")
    parser.add_argument("--max-bursts", type=int, default=400)
    parser.add_argument("--burst-size", type=int, default=50, help="signals of one candle close")
    parser.add_argument(
        "--burst-gap-s", type=float, default=0.5, help="pause after a burst was delivered"
    )
    parser.add_argument("--queue-size", type=int, default=256, help="server's per-client queue")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--budget-p99-ms",
        type=float,
        default=100.0,
        help="p99 of a single broadcast's latency to every reader that counts as within budget",
    )
    parser.add_argument("--profile-server", metavar="PATH", help="cProfile the server into PATH")
    parser.add_argument("--role", choices=["orchestrator", "server", "readers"], default=None)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--fd-limit", type=int, default=4096, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "server":
        if args.profile_server:
            import cProfile

            with cProfile.Profile() as profile:
                trio.run(_server_main, args.queue_size, 50, args.fd_limit)
            profile.dump_stats(args.profile_server)
        else:
            trio.run(_server_main, args.queue_size, 50, args.fd_limit)
        return
    if args.role == "readers":
        trio.run(_readers_main, args.port, args.first, args.count, args.fd_limit)
        return
    _log(f"soft fd limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    result = trio.run(_orchestrate, args)
    _print(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
