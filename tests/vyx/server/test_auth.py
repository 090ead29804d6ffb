"""Authentication of /ws clients: JWT (HS256, JWKS RS256/ES256), local token, rejections."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from vyx.server import AuthConfig
from vyx.server.auth import (
    AuthUnavailable,
    ExpiredToken,
    InvalidToken,
    MissingToken,
    TokenVerifier,
    WrongUser,
    supabase_jwks_url,
)

from .harness import (
    OTHER_USER_ID,
    SECRET,
    USER_ID,
    client,
    closed,
    config,
    greeted,
    hs256_token,
    recv,
    send,
    serving,
)

HS = AuthConfig(user_id=USER_ID, jwt_secret=SECRET)


def _unsigned(payload: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


# --- the verifier alone ---------------------------------------------------------------------------


async def test_hs256_valid_token_gives_the_user() -> None:
    identity = await TokenVerifier(HS).verify(hs256_token())
    assert identity.user_id == USER_ID
    assert identity.method == "jwt"
    assert identity.expires_at is not None
    assert identity.expires_at > time.time()


@pytest.mark.parametrize(
    ("token", "error"),
    [
        pytest.param(hs256_token(exp_in_s=-60), ExpiredToken, id="expired"),
        pytest.param(hs256_token(OTHER_USER_ID), WrongUser, id="wrong-sub"),
        pytest.param(hs256_token(secret=SECRET[::-1]), InvalidToken, id="wrong-signature"),
        pytest.param(hs256_token(aud="anon"), InvalidToken, id="wrong-audience"),
        pytest.param(
            _unsigned({"sub": USER_ID, "aud": "authenticated", "exp": time.time() + 600}),
            InvalidToken,
            id="alg-none",
        ),
        pytest.param("not.a.jwt", InvalidToken, id="garbage"),
        pytest.param("", MissingToken, id="empty"),
        pytest.param(None, MissingToken, id="missing"),
    ],
)
async def test_bad_tokens_are_rejected(token: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        await TokenVerifier(HS).verify(token)


async def test_token_without_exp_is_invalid() -> None:
    token = jwt.encode({"sub": USER_ID, "aud": "authenticated"}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken):
        await TokenVerifier(HS).verify(token)


async def test_a_machine_without_user_accepts_no_jwt() -> None:
    with pytest.raises(WrongUser):
        await TokenVerifier(AuthConfig(jwt_secret=SECRET)).verify(hs256_token())


async def test_hs256_is_refused_without_a_secret() -> None:
    with pytest.raises(InvalidToken):
        await TokenVerifier(AuthConfig(user_id=USER_ID)).verify(hs256_token())


async def test_local_token() -> None:
    verifier = TokenVerifier(AuthConfig(), local_token="local-secret-token")
    identity = await verifier.verify("local-secret-token")
    assert identity.method == "local"
    assert identity.expires_at is None
    with pytest.raises(InvalidToken):
        await verifier.verify("local-secret-tokeN")


def test_the_secret_is_not_in_the_repr() -> None:
    assert SECRET not in repr(HS)
    assert supabase_jwks_url("https://x.supabase.co/") == (
        "https://x.supabase.co/auth/v1/.well-known/jwks.json"
    )


# --- JWKS through a local fake endpoint ---------------------------------------------------


def _rsa_jwk(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return key, jwk


def _ec_jwk(kid: str) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="ES256", use="sig")
    return key, jwk


def _signed(key: Any, alg: str, kid: str, sub: str = USER_ID) -> str:
    claims = {"sub": sub, "aud": "authenticated", "exp": int(time.time()) + 600}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


class FakeJwks:
    """A JWKS endpoint (ASGI, served by hypercorn on port 0) that counts its requests."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.requests = 0
        self.status = 200

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.requests += 1
        body = json.dumps({"keys": self.keys}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def jwks_server(fake: FakeJwks) -> AsyncIterator[str]:
    cfg = HypercornConfig()
    cfg.bind = ["127.0.0.1:0"]
    cfg.errorlog = None
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        binds = await nursery.start(
            lambda task_status: serve(
                fake,
                cfg,
                shutdown_trigger=stop.wait,
                task_status=task_status,
            )
        )
        try:
            yield binds[0] + "/auth/v1/.well-known/jwks.json"
        finally:
            stop.set()


async def test_jwks_rs256_and_es256_over_a_real_socket() -> None:
    rsa_key, rsa_jwk = _rsa_jwk("rsa-1")
    ec_key, ec_jwk = _ec_jwk("ec-1")
    fake = FakeJwks([rsa_jwk, ec_jwk])
    async with jwks_server(fake) as url, httpx.AsyncClient() as http:
        auth = AuthConfig(user_id=USER_ID, jwks_url=url)
        verifier = TokenVerifier(auth, http=http)
        assert (await verifier.verify(_signed(rsa_key, "RS256", "rsa-1"))).user_id == USER_ID
        assert (await verifier.verify(_signed(ec_key, "ES256", "ec-1"))).user_id == USER_ID
        assert fake.requests == 1  # cached
        with pytest.raises(WrongUser):
            await verifier.verify(_signed(rsa_key, "RS256", "rsa-1", sub=OTHER_USER_ID))
        # A key signed by someone else under a known kid.
        other_key, _ = _rsa_jwk("rsa-1")
        with pytest.raises(InvalidToken):
            await verifier.verify(_signed(other_key, "RS256", "rsa-1"))
        # The declared alg of a key is enforced (no RS/ES confusion).
        with pytest.raises(InvalidToken):
            await verifier.verify(_signed(rsa_key, "RS256", "ec-1"))
        # An unknown kid refetches at most once per min_refetch_s.
        with pytest.raises(InvalidToken):
            await verifier.verify(_signed(rsa_key, "RS256", "unknown"))
        with pytest.raises(InvalidToken):
            await verifier.verify(_signed(rsa_key, "RS256", "unknown"))
        assert fake.requests == 1

        # Through the server, end to end.
        async with (
            serving(config(auth=auth), http=http) as running,
            client(running.ws_url(_signed(ec_key, "ES256", "ec-1"))) as ws,
        ):
            hello, _ = await greeted(ws)
            assert hello["data"]["userId"] == USER_ID


async def test_key_rotation_is_picked_up(autojump_clock: trio.abc.Clock) -> None:
    old_key, old_jwk = _rsa_jwk("old")
    fake = FakeJwks([old_jwk])
    async with jwks_server(fake) as url, httpx.AsyncClient() as http:
        auth = AuthConfig(user_id=USER_ID, jwks_url=url, jwks_min_refetch_s=30)
        verifier = TokenVerifier(auth, http=http)
        await verifier.verify(_signed(old_key, "RS256", "old"))
        new_key, new_jwk = _rsa_jwk("new")
        fake.keys = [new_jwk]
        await trio.sleep(31)  # virtual time
        await verifier.verify(_signed(new_key, "RS256", "new"))
        assert fake.requests == 2


async def test_jwks_unreachable_is_unavailable() -> None:
    fake = FakeJwks([])
    fake.status = 500
    key, _ = _rsa_jwk("k")
    async with jwks_server(fake) as url, httpx.AsyncClient() as http:
        verifier = TokenVerifier(AuthConfig(user_id=USER_ID, jwks_url=url), http=http)
        with pytest.raises(AuthUnavailable):
            await verifier.verify(_signed(key, "RS256", "k"))


# --- over the socket ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(hs256_token(exp_in_s=-60), "token expired", id="expired"),
        pytest.param(hs256_token(OTHER_USER_ID), "wrong user", id="wrong-sub"),
        pytest.param(hs256_token(secret=SECRET[::-1]), "invalid token", id="wrong-signature"),
        pytest.param(
            _unsigned({"sub": USER_ID, "aud": "authenticated", "exp": time.time() + 600}),
            "invalid token",
            id="alg-none",
        ),
    ],
)
async def test_rejected_tokens_close_1008(token: str, reason: str) -> None:
    async with serving() as running, client(running.ws_url(token)) as ws:
        close = await closed(ws)
    assert (close.code, close.reason) == (1008, reason)
    assert running.metrics.value("vyx_ws_auth_failures_total") == 1
    assert running.handle.statistics().clients == 0


async def test_token_in_the_first_message() -> None:
    async with serving() as running, client(running.ws_url()) as ws:
        await send(ws, "auth", {"token": hs256_token()})
        hello, snapshot = await greeted(ws)
    assert hello["data"]["protocol"] == 1
    assert snapshot["data"] == {"signals": [], "traders": [], "status": {}}


async def test_a_first_message_that_is_not_auth_closes_1008() -> None:
    async with serving() as running, client(running.ws_url()) as ws:
        await send(ws, "ping")
        close = await closed(ws)
    assert (close.code, close.reason) == (1008, "authentication required")


async def test_no_token_within_the_deadline_closes_1008() -> None:
    # Real clock, short deadline: a MockClock could jump while the handshake is on the wire.
    async with serving(config(auth_timeout_s=0.05)) as running, client(running.ws_url()) as ws:
        close = await closed(ws)
    assert (close.code, close.reason) == (1008, "authentication required")


async def test_embedded_local_token() -> None:
    cfg = config(auth=AuthConfig(local_token=True))
    async with serving(cfg) as running:
        token = running.handle.local_token
        assert token is not None
        assert len(token) >= 32
        assert running.handle.dashboard_url == f"{running.handle.url}/?token={token}"
        assert token not in repr(running.handle)
        async with client(running.ws_url(token)) as ws:
            hello, _ = await greeted(ws)
            assert hello["data"]["userId"] is None
        async with client(running.ws_url(hs256_token())) as ws:
            assert (await closed(ws)).code == 1008


async def test_a_fresh_auth_extends_the_session_and_expiry_closes_it() -> None:
    async with serving() as running, client(running.ws_url(hs256_token(exp_in_s=3600))) as ws:
        await greeted(ws)
        await send(ws, "auth", {"token": hs256_token(exp_in_s=7200), "requestId": "r"})
        assert await recv(ws) == {"type": "ack", "data": {"command": "auth", "requestId": "r"}}
        # Past its exp but within the 5 s leeway: accepted, then closed at its expiry.
        await send(ws, "auth", {"token": hs256_token(exp_in_s=-2)})
        close = await closed(ws)
    assert (close.code, close.reason) == (1008, "token expired")


async def test_a_bad_fresh_auth_closes_the_session() -> None:
    async with serving() as running, client(running.ws_url(hs256_token())) as ws:
        await greeted(ws)
        await send(ws, "auth", {"token": hs256_token(OTHER_USER_ID)})
        close = await closed(ws)
    assert (close.code, close.reason) == (1008, "wrong user")


@pytest.mark.parametrize("local", [True, False], ids=["embedded", "jwt"])
@pytest.mark.parametrize(
    "token", ["\ud800", "a\udfffb", hs256_token() + "\ud800"], ids=["lone", "inside", "after"]
)
async def test_a_token_that_is_not_text_is_an_auth_failure(local: bool, token: str) -> None:
    """Finding 7: a lone surrogate (valid JSON, not encodable) escaped the auth errors: close
    1001 with a traceback, not counted."""
    cfg = config(auth=AuthConfig(user_id=USER_ID, jwt_secret=SECRET, local_token=local))
    async with serving(cfg) as running, client(running.ws_url()) as ws:
        await send(ws, "auth", {"token": token})
        close = await closed(ws)
    assert (close.code, close.reason) == (1008, "invalid token")
    assert running.metrics.value("vyx_ws_auth_failures_total") == 1
    async with serving() as running, client(running.ws_url(hs256_token())) as ws:
        await greeted(ws)
        await send(ws, "auth", {"token": token})
        close = await closed(ws)
    assert (close.code, close.reason) == (1008, "invalid token")
    assert running.metrics.value("vyx_ws_auth_failures_total") == 1
    with pytest.raises(InvalidToken):
        await TokenVerifier(AuthConfig(user_id=USER_ID, jwt_secret=SECRET)).verify(token)


async def test_the_original_clients_path_is_served_with_the_same_authentication() -> None:
    async with serving() as running:
        async with client(running.ws_url(hs256_token(), path="/")) as ws:
            hello, _ = await greeted(ws)
            assert hello["data"]["userId"] == USER_ID
        # The original client sent ?userId= and nothing else: not enough.
        async with client(running.ws_url(path="/") + f"?userId={USER_ID}") as ws:
            await send(ws, "ping")
            close = await closed(ws)
    assert (close.code, close.reason) == (1008, "authentication required")


def test_an_embedded_daemon_never_imports_the_jwt_library() -> None:
    """Without a JWT secret or a JWKS, only the local token is valid: a JWT is refused without
    PyJWT (and cryptography, ~8 MiB) loaded, and the daemon's modules do not import it."""
    code = (
        "import sys, trio\n"
        "import vyx.app, vyx.cli.run\n"
        "from vyx.server.auth import AuthConfig, InvalidToken, TokenVerifier\n"
        "verifier = TokenVerifier(AuthConfig(user_id='u'), local_token='local')\n"
        "async def check():\n"
        "    assert (await verifier.verify('local')).method == 'local'\n"
        "    try:\n"
        f"        await verifier.verify({hs256_token()!r})\n"
        "    except InvalidToken:\n"
        "        print('REFUSED')\n"
        "trio.run(check)\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & "
        "{'jwt', 'cryptography', 'google', 'supabase', 'postgrest', 'apprise'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "REFUSED" in out.stdout, out.stdout
    assert "LOADED []" in out.stdout, out.stdout
