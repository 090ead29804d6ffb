"""Pinning an image by digest against the fake registry (the OCI distribution token flow)."""

from __future__ import annotations

import httpx
import pytest

from vyx.fleet.image_ref import ImageError, pin_image, split_image

from .fake_registry import FakeRegistry

TOKEN = "fm2_registry-test-token"


async def test_a_tag_is_pinned_through_the_token_flow() -> None:
    registry = FakeRegistry(TOKEN)
    digest = registry.push("vyx")
    pinned = await pin_image(
        "registry.fly.io/vyx:latest", token=TOKEN, transport=registry.transport
    )
    assert pinned == f"registry.fly.io/vyx@{digest}"
    assert registry.requests == [
        "HEAD registry.fly.io/v2/vyx/manifests/latest",
        "GET registry.fly.io/token",
        "HEAD registry.fly.io/v2/vyx/manifests/latest",
    ]
    assert await pin_image(pinned, token=TOKEN, transport=registry.transport) == pinned
    assert len(registry.requests) == 3  # a pinned image is not looked up again


async def test_refusals_say_why() -> None:
    registry = FakeRegistry(TOKEN)
    registry.push("vyx")
    with pytest.raises(ImageError, match="HTTP 404"):
        await pin_image("registry.fly.io/other:latest", token=TOKEN, transport=registry.transport)
    with pytest.raises(ImageError, match="token endpoint answered HTTP 401"):
        await pin_image("registry.fly.io/vyx", token="wrong", transport=registry.transport)
    with pytest.raises(ImageError, match="ConnectError"):
        await pin_image("elsewhere.example/vyx:1", token=TOKEN, transport=registry.transport)
    with pytest.raises(ImageError, match="names no registry"):
        await pin_image("vyx:latest", token=TOKEN)


async def test_credentials_go_only_to_the_registrys_own_host() -> None:
    sent: list[str] = []

    def hostile(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.url.host} {request.headers.get('authorization')}")
        challenge = 'Bearer realm="https://collector.example/token",service="x"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    with pytest.raises(ImageError, match="unexpected authentication challenge"):
        await pin_image("registry.fly.io/vyx", token=TOKEN, transport=httpx.MockTransport(hostile))
    assert sent == ["registry.fly.io None"]


def test_references() -> None:
    assert split_image("registry.fly.io/vyx") == ("registry.fly.io", "vyx", "latest")
    assert split_image("registry.fly.io/team/vyx:v2") == ("registry.fly.io", "team/vyx", "v2")
    assert split_image("localhost:5000/vyx:dev") == ("localhost:5000", "vyx", "dev")
