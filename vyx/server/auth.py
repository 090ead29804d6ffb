"""Authentication of browser WebSocket clients.

A client presents a Supabase access token (a JWT) or, in embedded mode, the one-time local token
the server generated at start. JWTs are verified with PyJWT: HS256 with the project's JWT secret,
or RS256/ES256 with a key from the project's JWKS (fetched with httpx under Trio and cached; an
unknown ``kid`` triggers a rate-limited refetch, for key rotation). Required claims: ``exp``,
``sub``, ``aud`` (``"authenticated"``); ``sub`` must be the machine's user. Without a JWT secret
or a JWKS, every token but the local one is invalid at once (PyJWT is not even imported).

Errors (each carries a short ``reason`` that is safe to put in a close frame and a log line)::

    AuthError                 close code 1008 unless said otherwise
     ├── MissingToken         "authentication required"
     ├── InvalidToken         "invalid token"   (malformed, bad signature, alg, aud, unknown kid)
     ├── ExpiredToken         "token expired"
     ├── WrongUser            "wrong user"
     └── AuthUnavailable      "authentication unavailable" (1011: JWKS could not be fetched)
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio
from loguru import logger

if TYPE_CHECKING:
    # Imported when a JWT is checked: PyJWT brings cryptography (~8 MiB of a 256 MB machine),
    # which an embedded daemon, whose browsers present the local token, never needs.
    import jwt

#: Asymmetric algorithms accepted with JWKS keys (Supabase signs with ES256 or RS256).
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256"})


class AuthError(Exception):
    """Authentication failed; ``reason`` is short and safe to show and log."""

    reason = "authentication failed"
    close_code = 1008

    def __init__(self, reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(self.reason)


class MissingToken(AuthError):
    """No token in the query string or the first message (or not within the deadline)."""

    reason = "authentication required"


class InvalidToken(AuthError):
    """The token is not a JWT this machine accepts."""

    reason = "invalid token"


class ExpiredToken(AuthError):
    """The token's ``exp`` has passed."""

    reason = "token expired"


class WrongUser(AuthError):
    """The token is valid but belongs to another user (or the machine has no user)."""

    reason = "wrong user"


class AuthUnavailable(AuthError):
    """The keys needed to check the token could not be fetched."""

    reason = "authentication unavailable"
    close_code = 1011


def supabase_jwks_url(supabase_url: str) -> str:
    """The JWKS address of a Supabase project (``SUPABASE_URL`` + ``/auth/v1/.well-known/...``)."""
    return supabase_url.rstrip("/") + "/auth/v1/.well-known/jwks.json"


@attrs.frozen
class AuthConfig:
    """How browser clients are authenticated."""

    #: The machine's user (``USER_ID``); a JWT's ``sub`` must equal it. None: no JWT accepted.
    user_id: str | None = None
    #: ``SUPABASE_JWT_SECRET`` for HS256 tokens; None: HS256 not accepted.
    jwt_secret: str | None = attrs.field(default=None, repr=False)
    #: The project's JWKS address (see :func:`supabase_jwks_url`); None: RS256/ES256 not accepted.
    jwks_url: str | None = None
    #: Required ``aud`` claim.
    audience: str = "authenticated"
    #: Required ``iss`` claim, when set (Supabase: ``SUPABASE_URL/auth/v1``).
    issuer: str | None = None
    #: Clock skew tolerated on ``exp``/``nbf``/``iat``, seconds.
    leeway_s: float = 5.0
    #: Generate a one-time local token at start (embedded mode, like Jupyter).
    local_token: bool = False
    #: JWKS cache lifetime, seconds.
    jwks_ttl_s: float = 600.0
    #: Least time between two JWKS fetches (unknown ``kid`` or failures), seconds.
    jwks_min_refetch_s: float = 30.0
    #: Deadline of one JWKS fetch, seconds.
    jwks_timeout_s: float = 5.0


@attrs.frozen
class Identity:
    """Who a client authenticated as."""

    #: The user (None for the local token of a machine without ``USER_ID``).
    user_id: str | None
    #: ``"local"`` or ``"jwt"``.
    method: str
    #: Wall-clock expiry (epoch seconds) of the token, None for the local token.
    expires_at: float | None


def decode_jwt(token: str, key: Any, algorithm: str, cfg: AuthConfig) -> Mapping[str, Any]:
    """The verified claims of ``token`` (pure: signature, ``exp``, ``aud``, ``iss``, ``sub``).

    Raises:
        ExpiredToken, InvalidToken, WrongUser.
    """
    import jwt

    try:
        claims: Mapping[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=cfg.audience,
            issuer=cfg.issuer,
            leeway=cfg.leeway_s,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise ExpiredToken from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise InvalidToken from None
    if cfg.user_id is None or claims.get("sub") != cfg.user_id:
        raise WrongUser
    return claims


def parse_jwks(document: Any) -> dict[str | None, tuple[jwt.PyJWK, str | None]]:
    """The signing keys of a JWKS document by ``kid`` (unusable keys are skipped).

    Raises:
        ValueError: not a JWKS document, or no usable signing key in it.
    """
    import jwt

    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document")
    keys: dict[str | None, tuple[jwt.PyJWK, str | None]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        keys[kid if isinstance(kid, str) else None] = (key, alg if isinstance(alg, str) else None)
    if not keys:
        raise ValueError("no usable signing key in the JWKS")
    return keys


class JwksCache:
    """The signing keys of a JWKS address, fetched with httpx and cached.

    Args:
        url: the JWKS address.
        http: the client used to fetch it (its transport is the test seam).
        ttl_s: keys are refetched after this long.
        min_refetch_s: least time between fetches (an unknown ``kid``, a failed fetch).
        timeout_s: deadline of one fetch.
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        ttl_s: float = 600.0,
        min_refetch_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._url = url
        self._http = http
        self._ttl_s = ttl_s
        self._min_refetch_s = min_refetch_s
        self._timeout_s = timeout_s
        self._clock = clock
        #: kid -> (key, the ``alg`` the JWKS declares for it, if any)
        self._keys: dict[str | None, tuple[jwt.PyJWK, str | None]] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = trio.Lock()

    def _wants_fetch(self, kid: str | None, now: float) -> bool:
        if self._attempted_at is not None and now - self._attempted_at < self._min_refetch_s:
            return False
        if self._fetched_at is None or now - self._fetched_at >= self._ttl_s:
            return True
        return kid not in self._keys

    async def key(self, kid: str | None, algorithm: str) -> jwt.PyJWK:
        """The key ``kid`` for ``algorithm``, fetching the JWKS when needed.

        Raises:
            InvalidToken: no such key (after a refetch, if one was allowed).
            AuthUnavailable: the JWKS could not be fetched and no keys are cached.
        Cancellation: safe; a cancelled fetch leaves the previous keys in place.
        """
        if self._wants_fetch(kid, self._clock()):
            async with self._lock:
                if self._wants_fetch(kid, self._clock()):
                    await self._fetch()
        if self._fetched_at is None:
            raise AuthUnavailable
        found = self._keys.get(kid)
        if found is None and kid is None and len(self._keys) == 1:
            found = next(iter(self._keys.values()))
        if found is None:
            raise InvalidToken
        key, declared = found
        if declared is not None and declared != algorithm:
            raise InvalidToken
        return key

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        try:
            with trio.fail_after(self._timeout_s):
                response = await self._http.get(self._url)
            response.raise_for_status()
            keys = parse_jwks(response.json())
        except (trio.TooSlowError, httpx.HTTPError, ValueError) as exc:
            logger.warning(
                "JWKS fetch failed ({}); keeping {} cached keys",
                type(exc).__name__,
                len(self._keys),
            )
            return
        self._keys = keys
        self._fetched_at = self._clock()
        logger.debug("JWKS fetched: {} keys", len(self._keys))


class TokenVerifier:
    """Checks the token a client presents.

    Args:
        cfg: the authentication settings.
        http: client for JWKS fetches (required when ``cfg.jwks_url`` is set).
        local_token: the embedded-mode token accepted in place of a JWT (never logged).
    """

    def __init__(
        self,
        cfg: AuthConfig,
        *,
        http: httpx.AsyncClient | None = None,
        local_token: str | None = None,
    ) -> None:
        self._cfg = cfg
        self._local = local_token.encode() if local_token else None
        self._jwks: JwksCache | None = None
        if cfg.jwks_url is not None:
            if http is None:
                raise ValueError("a JWKS address needs an httpx.AsyncClient")
            self._jwks = JwksCache(
                cfg.jwks_url,
                http,
                ttl_s=cfg.jwks_ttl_s,
                min_refetch_s=cfg.jwks_min_refetch_s,
                timeout_s=cfg.jwks_timeout_s,
            )

    async def verify(self, token: str | None) -> Identity:
        """The identity behind ``token``.

        Raises:
            AuthError: one of its subclasses (see the module docstring).
        Cancellation: safe (a JWKS fetch may be in flight).
        """
        if not token:
            raise MissingToken
        try:
            # A token that is not even text (a lone surrogate from JSON) is just invalid.
            raw = token.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidToken from None
        if self._local is not None and hmac.compare_digest(raw, self._local):
            return Identity(user_id=self._cfg.user_id, method="local", expires_at=None)
        if not self._cfg.jwt_secret and self._jwks is None:
            raise InvalidToken  # no key could verify a JWT
        import jwt

        try:
            header = jwt.get_unverified_header(raw)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken from None
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256" and self._cfg.jwt_secret:
            key = self._cfg.jwt_secret
        elif algorithm in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise InvalidToken
            key = (await self._jwks.key(kid, algorithm)).key
        else:
            raise InvalidToken
        claims = decode_jwt(token, key, algorithm, self._cfg)
        exp = claims.get("exp")
        return Identity(
            user_id=self._cfg.user_id,
            method="jwt",
            expires_at=float(exp) if isinstance(exp, int | float) else time.time(),
        )
