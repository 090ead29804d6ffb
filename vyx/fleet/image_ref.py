"""An image reference pinned by digest: ``registry/repo:tag`` becomes ``registry/repo@sha256:…``.

A machine's config names its image. With a moving tag (``:latest``, what ``just deploy`` pushes)
re-provisioning could not tell a new push from the image a machine runs, and two machines of one
tag could run different bytes. So provisioning asks the registry what the tag is now — the OCI
distribution API's ``HEAD /v2/<repo>/manifests/<tag>``, answered with ``Docker-Content-Digest``
— and puts ``repo@digest`` in the config: a new push is a new config (the machine is updated),
and a restart runs exactly what was provisioned.

A registry that asks for a token (``401`` with ``WWW-Authenticate: Bearer realm=…``) gets one from
its realm with basic auth ``x`` / the Fly token (what ``docker login registry.fly.io`` sends); the
credentials go only to an https realm on the registry's own host. An image already pinned is
used as it is. :class:`ImageError` says why a tag could not be resolved.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

#: Manifest media types asked for (an index first: the digest of the multi-platform image).
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class ImageError(Exception):
    """The image's tag could not be resolved to a digest."""


def split_image(image: str) -> tuple[str, str, str]:
    """``(registry, repository, tag)`` of ``registry/repo[:tag]`` (tag ``latest`` by default).

    Raises :class:`ImageError` for a reference without a registry host."""
    host, _, rest = image.partition("/")
    if not rest or ("." not in host and ":" not in host and host != "localhost"):
        raise ImageError(f"{image[:200]!r} names no registry (expected registry.fly.io/<app>:tag)")
    repo, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return host, repo, tag or "latest"


async def pin_image(
    image: str,
    *,
    token: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout_s: float = 15.0,
) -> str:
    """``image`` pinned by digest (unchanged when it already is). Raises :class:`ImageError`."""
    if "@sha256:" in image:
        return image
    registry, repo, tag = split_image(image)
    url = f"https://{registry}/v2/{repo}/manifests/{tag}"
    headers = {"Accept": ACCEPT}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as http:
            answer = await http.head(url, headers=headers)
            if answer.status_code == 401 and token:
                bearer = await _token(
                    http, registry, answer.headers.get("www-authenticate", ""), token
                )
                answer = await http.head(
                    url, headers={**headers, "Authorization": f"Bearer {bearer}"}
                )
    except httpx.HTTPError as exc:
        raise ImageError(f"{registry}: {type(exc).__name__}") from None
    if answer.status_code != 200:
        raise ImageError(
            f"{registry}/{repo}:{tag}: the registry answered HTTP {answer.status_code}"
        )
    digest = answer.headers.get("docker-content-digest", "")
    if not _DIGEST.match(digest):
        raise ImageError(f"{registry}/{repo}:{tag}: no sha256 digest in the registry's answer")
    return f"{registry}/{repo}@{digest}"


async def _token(http: httpx.AsyncClient, registry: str, challenge: str, secret: str) -> str:
    """A bearer token from the challenge's realm (basic auth ``x`` / ``secret``)."""
    scheme, _, params = challenge.partition(" ")
    fields = dict(_CHALLENGE.findall(params))
    realm = urlsplit(fields.get("realm", ""))
    if scheme.lower() != "bearer" or realm.scheme != "https" or realm.hostname != registry:
        raise ImageError(f"{registry}: unexpected authentication challenge")
    query = {k: v for k, v in fields.items() if k in ("service", "scope")}
    answer = await http.get(fields["realm"], params=query, auth=("x", secret))
    if answer.status_code != 200:
        raise ImageError(f"{registry}: the token endpoint answered HTTP {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        body = None
    value = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise ImageError(f"{registry}: the token endpoint gave no token")
    return value
