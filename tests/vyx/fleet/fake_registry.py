"""A fake container registry speaking the OCI distribution API's token flow: ``HEAD
/v2/<repo>/manifests/<tag>`` answers 401 with a bearer challenge, the realm (``/token``) gives a
token for basic auth ``x`` / the Fly token, and the manifest answers ``Docker-Content-Digest``."""

from __future__ import annotations

import base64
import hashlib
import itertools

import httpx

HOST = "registry.fly.io"


class FakeRegistry:
    """Tags -> digests; ``push`` moves a tag. ``transport`` is what httpx takes."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.tags: dict[tuple[str, str], str] = {}
        self.requests: list[str] = []
        self._issued = "registry-token-123"
        self._pushes = itertools.count(1)
        self.transport = httpx.MockTransport(self._handle)

    def push(self, repo: str, tag: str = "latest") -> str:
        """A new image under ``repo:tag``; returns its digest."""
        digest = "sha256:" + hashlib.sha256(f"{repo}:{next(self._pushes)}".encode()).hexdigest()
        self.tags[(repo, tag)] = digest
        return digest

    def _handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        self.requests.append(f"{request.method} {url.host}{url.path}")
        if url.host != HOST:
            raise httpx.ConnectError("unknown host", request=request)
        if url.path == "/token":
            basic = "Basic " + base64.b64encode(f"x:{self.token}".encode()).decode()
            if request.headers.get("authorization") != basic:
                return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED"}]})
            return httpx.Response(200, json={"token": self._issued})
        repo, _, tag = url.path.removeprefix("/v2/").partition("/manifests/")
        if request.headers.get("authorization") != f"Bearer {self._issued}":
            challenge = (
                f'Bearer realm="https://{HOST}/token",service="{HOST}",'
                f'scope="repository:{repo}:pull"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        digest = self.tags.get((repo, tag))
        if digest is None:
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        return httpx.Response(200, headers={"Docker-Content-Digest": digest})
