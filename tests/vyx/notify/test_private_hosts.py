"""A trader's channel set from the database (``cloud_config.notifyUrls``: whoever can write the
row, not the machine's operator) is not sent to a private or loopback address — a literal in
any form, a local name, or a name resolving to one — unless ``NOTIFY_ALLOW_PRIVATE``; the
machine's own URLs (``NOTIFY_URLS``, the traders file) always may."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
import trio.socket

from tests.vyx.notify.conftest import TOKEN, notice, serve
from tests.vyx.notify.fakes import FakeReceiver
from vyx.config import Config
from vyx.notify import Notifier, NotifySettings, TraderAlerts, parse_urls
from vyx.notify.channels import destination, local_address


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.1", True),  # what a resolver reads as 127.0.0.1
        ("2130706433", True),
        ("0x7f.1", True),
        ("10.1.2.3", True),
        ("169.254.169.254", True),  # cloud metadata
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("fdaa:0:1::3", True),  # Fly's private network
        ("localhost", True),
        ("api.internal", True),
        ("printer.local.", True),
        ("0.0.0.0", True),
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("hooks.example.com", False),
    ],
)
def test_local_addresses_in_every_spelling(host: str, local: bool) -> None:
    assert local_address(host) is local


def test_the_host_a_channel_sends_to() -> None:
    tg, hook, xml, slack = parse_urls(
        f"tgram://{TOKEN}/42 json://user:pw@10.0.0.7:8080/h xml://hooks.example.com/x "
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    )
    assert destination(tg) is None  # the machine's Telegram API address
    assert destination(hook) == ("10.0.0.7", True)
    assert destination(xml) == ("hooks.example.com", True)
    assert destination(slack) == ("t1jj3t3l2", False)  # a token: checked, never resolved


@pytest.fixture
async def resolver() -> AsyncIterator[dict[str, str]]:
    """Names resolved by the test (no DNS): name -> address."""
    names: dict[str, str] = {}

    class Resolver(trio.abc.HostnameResolver):
        async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name not in names:
                raise trio.socket.gaierror(-2, "Name or service not known")
            return [(trio.socket.AF_INET, trio.socket.SOCK_STREAM, 6, "", (names[name], 0))]

        async def getnameinfo(self, *args: Any) -> Any:
            raise NotImplementedError

    previous = trio.socket.set_custom_hostname_resolver(Resolver())
    yield names
    trio.socket.set_custom_hostname_resolver(previous)


async def test_a_database_channel_to_a_private_address_is_refused_and_given_up(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    resolver: dict[str, str],
) -> None:
    receiver = FakeReceiver()
    host = (await serve(nursery, receiver)).removeprefix("http://")
    port = host.rsplit(":", 1)[1]
    resolver["hooks.example.test"] = "10.0.0.5"  # a public-looking name, a private address
    notifier = Notifier(NotifySettings(channels=parse_urls(f"json://{host}/machine")))
    await nursery.start(notifier.serve, http)
    urls = {
        "literal": f"json://127.0.0.1:{port}/db",
        "name": f"json://localhost:{port}/db",
        "resolved": "json://hooks.example.test/db",
    }
    notifier.set_traders(
        {t: TraderAlerts.from_cloud_config({"notifyUrls": [u]}) for t, u in urls.items()}
        | {"file": TraderAlerts.from_table({"notify": [f"json://127.0.0.1:{port}/file"]})}
    )
    signals = {t: notice(i, trader=t) for i, t in enumerate([*urls, "file"])}
    notifier.signals(signals.values())
    await trio.sleep(600.0)
    paths = sorted(h["path"] for h in receiver.headers)
    assert paths == ["/file", "/machine"]  # the machine's and the traders file's: sent
    refused = [c for c in notifier.statistics().channels if c.last_error]
    assert len(refused) == 3
    for c in refused:
        assert c.dead == 1  # rejected 3 times, given up: recorded, never sent
        assert "NOTIFY_ALLOW_PRIVATE=true" in str(c.last_error)


async def test_notify_allow_private_lets_them_through(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    env = {"NOTIFY_ALLOW_PRIVATE": "true"}
    assert Config.from_env(env, cpu_count=1).notify.allow_private
    assert not Config.from_env({}, cpu_count=1).notify.allow_private
    receiver = FakeReceiver()
    host = (await serve(nursery, receiver)).removeprefix("http://")
    notifier = Notifier(NotifySettings(allow_private=True))
    await nursery.start(notifier.serve, http)
    cloud = TraderAlerts.from_cloud_config({"notifyUrls": [f"json://{host}/db"]})
    notifier.set_traders({"t": cloud})
    notifier.signals([notice(1, trader="t")])
    await trio.sleep(10.0)
    assert [h["path"] for h in receiver.headers] == ["/db"]
