"""The apprise path: a service spoken only by apprise (here ``form://``, apprise's form-encoded
webhook, pointed at the local receiver) is sent from a worker thread, retried by the outbox when
apprise says it failed, and refused cleanly when apprise cannot read the URL.

apprise blocks in its thread on real sockets, so these tests run on the real clock with a tiny
backoff; they wait for the notifier's own "settled" callback, never for a fixed time."""

from __future__ import annotations

import httpx
import trio

from tests.vyx.notify.conftest import notice, serve
from tests.vyx.notify.fakes import FakeReceiver
from vyx.notify import Notifier, NotifySettings, parse_urls
from vyx.notify.outbox import OutboxPolicy, Settled
from vyx.retry import Backoff

FAST = OutboxPolicy(gather_s=0.05, backoff=Backoff(initial=0.01, maximum=0.05))


async def run_until(notifier: Notifier, settled: list[Settled], count: int) -> None:
    changed = trio.Event()

    def note(s: Settled) -> None:
        settled.append(s)
        if len(settled) >= count:
            changed.set()

    notifier.on_settled = note
    with trio.fail_after(60):
        await changed.wait()


async def test_apprise_sends_from_a_thread_and_failures_are_retried(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    receiver = FakeReceiver()
    host = (await serve(nursery, receiver)).removeprefix("http://")
    settings = NotifySettings(channels=parse_urls(f"form://{host}/hook"), policy=FAST)
    notifier = Notifier(settings)
    await nursery.start(notifier.serve, http)
    receiver.script.append("500")
    notifier.signals([notice(1), notice(2)])
    settled: list[Settled] = []
    await run_until(notifier, settled, 2)
    assert [bool(s.delivered) for s in settled] == [False, True]
    (body,) = receiver.bodies
    assert body["title"] == "2 signals"
    assert "COIN1USDT" in body["message"]
    assert "COIN2USDT" in body["message"]
    (stats,) = notifier.statistics().channels
    assert (stats.service, stats.sent, stats.failed, stats.retried) == ("form", 1, 1, 1)
    assert stats.last_error == "apprise could not send to form"


async def test_a_url_apprise_cannot_read_is_rejected_and_given_up(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    settings = NotifySettings(channels=parse_urls("nosuchservice://x/y"), policy=FAST)
    notifier = Notifier(settings)
    await nursery.start(notifier.serve, http)
    notifier.signals([notice(1)])
    settled: list[Settled] = []
    await run_until(notifier, settled, FAST.max_rejections)
    assert settled[-1].dead == (notice(1).key,)
    (stats,) = notifier.statistics().channels
    assert stats.dead == 1
    assert stats.pending == 0
    assert stats.last_error == "apprise does not accept this nosuchservice URL"
