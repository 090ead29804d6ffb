"""The benchmark's user, its (benchmark-only) HS256 secret, and Supabase-like access tokens."""

from __future__ import annotations

import time

import attrs
import jwt

#: The benchmark's user and (benchmark-only) HS256 secret.
USER_ID = "5a1d0c2e-7b3f-4e6a-8d9c-0f1e2d3c4b5a"
OTHER_USER_ID = "c4b5a0f1-e2d3-4c4b-9a8d-7e6f5a4b3c2d"
SECRET = "load-benchmark-only-jwt-secret-0123456789"


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
