"""A trader's channel set from the database (``cloud_config.notifyUrls``: whoever can write the
row, not the machine's operator) is not sent to a private or loopback address — a literal in
any form, a local name, or a name resolving to one — unless ``NOTIFY_ALLOW_PRIVATE``; the
machine's own URLs (``NOTIFY_URLS``, the traders file) always may."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.socket

from tests.vyx.notify.conftest import TOKEN, notice, serve
from tests.vyx.notify.fakes import FakeReceiver
from tests.vyx.notify.tls import certificate
from tests.vyx.store.supabase.fake_postgrest import serve_tcp
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
async def answers() -> AsyncIterator[dict[str, list[str | None]]]:
    """Names whose answer changes (DNS rebinding): name -> the answers of its lookups in turn
    (None: the lookup fails), the last one repeated; every lookup is recorded."""
    names: dict[str, list[str | None]] = {}

    class Resolver(trio.abc.HostnameResolver):
        async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name not in names:  # an address literal
                return [(trio.socket.AF_INET, trio.socket.SOCK_STREAM, 6, "", (name, port))]
            queue = names[name]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            if answer is None:
                raise trio.socket.gaierror(-3, "Temporary failure in name resolution")
            return [(trio.socket.AF_INET, trio.socket.SOCK_STREAM, 6, "", (answer, port))]

        async def getnameinfo(self, *args: Any) -> Any:
            raise NotImplementedError

    previous = trio.socket.set_custom_hostname_resolver(Resolver())
    yield names
    trio.socket.set_custom_hostname_resolver(previous)


async def test_a_database_channel_to_a_private_address_is_refused_and_given_up(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    answers: dict[str, list[str | None]],
) -> None:
    receiver = FakeReceiver()
    host = (await serve(nursery, receiver)).removeprefix("http://")
    port = host.rsplit(":", 1)[1]
    answers["hooks.example.test"] = ["10.0.0.5"]  # a public-looking name, a private address
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


async def _one_alert(
    nursery: trio.Nursery, http: httpx.AsyncClient, url: str
) -> tuple[FakeReceiver, Notifier, str]:
    """A receiver, a notifier sent one signal of a trader whose channel from the database is
    ``url`` (``{port}``: the receiver's), and the receiver's port."""
    receiver = FakeReceiver()
    port = (await serve(nursery, receiver)).rsplit(":", 1)[1]
    notifier = Notifier(NotifySettings())
    await nursery.start(notifier.serve, http)
    cloud = TraderAlerts.from_cloud_config({"notifyUrls": [url.format(port=port)]})
    notifier.set_traders({"t": cloud})
    notifier.signals([notice(1, trader="t")])
    return receiver, notifier, port


async def test_a_webhook_is_sent_to_the_address_that_was_checked(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    answers: dict[str, list[str | None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The receiver's 127.0.0.1 stands for a public address; the name then "rebinds" to
    # 127.0.0.9 (nothing listens there). The send must connect to what was checked, naming
    # the URL's host (not a +Host option) in Host.
    monkeypatch.setattr(
        "vyx.notify.destinations.local_address", lambda h: h != "127.0.0.1" and local_address(h)
    )
    answers["hooks.example.test"] = ["127.0.0.1", "127.0.0.9"]
    url = "json://hooks.example.test:{port}/db?+Host=evil.test"
    receiver, _, port = await _one_alert(nursery, http, url)
    await trio.sleep(10.0)
    (sent,) = receiver.headers
    assert (sent["path"], sent["host"]) == ("/db", f"hooks.example.test:{port}")


async def test_a_webhook_whose_name_does_not_resolve_at_the_check_is_not_sent(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    answers: dict[str, list[str | None]],
) -> None:
    # A failed lookup must not let the send look the name up again on its own: here its
    # second answer is the receiver's loopback address.
    answers["hooks.example.test"] = [None, "127.0.0.1"]
    receiver, notifier, _ = await _one_alert(nursery, http, "json://hooks.example.test:{port}/db")
    await trio.sleep(600.0)
    assert receiver.headers == []
    (channel,) = notifier.statistics().channels
    assert channel.dead == 1  # retried after the failed lookup, then refused: never sent
    assert "NOTIFY_ALLOW_PRIVATE=true" in str(channel.last_error)


async def test_an_https_webhook_sent_to_its_checked_address_still_checks_its_certificate(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    answers: dict[str, list[str | None]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Connected to 127.0.0.1 (a stand-in public address), the TLS handshake still names
    # hooks.example.test (SNI) and checks the certificate against it.
    monkeypatch.setattr(
        "vyx.notify.destinations.local_address", lambda h: h != "127.0.0.1" and local_address(h)
    )
    answers["hooks.example.test"] = ["127.0.0.1", "127.0.0.9"]
    files, trusted = certificate("hooks.example.test", tmp_path)
    receiver = FakeReceiver()
    port = await nursery.start(functools.partial(serve_tcp, receiver, tls=files))
    notifier = Notifier(NotifySettings())
    async with httpx.AsyncClient(verify=trusted) as https:
        await nursery.start(notifier.serve, https)
        for t, name in (("good", "hooks.example.test"), ("wrong", "other.example.test")):
            answers[name] = ["127.0.0.1"]
            cloud = TraderAlerts.from_cloud_config({"notifyUrls": [f"jsons://{name}:{port}/{t}"]})
            notifier.set_traders({t: cloud})
            notifier.signals([notice(1 if t == "good" else 2, trader=t)])
            await trio.sleep(600.0)
    assert [(h["path"], h["host"]) for h in receiver.headers] == [
        ("/good", f"hooks.example.test:{port}")
    ]
    (failed,) = [c for c in notifier.statistics().channels if c.last_error]
    assert "ConnectError" in str(failed.last_error)  # a certificate not of its name
