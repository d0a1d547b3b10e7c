"""Slow peers hold up only what waits on them (issue 11).

- A slow DNS answer for a user's link holds a thread of the link look-ups, never one of asyncio's
  default pool (which upload checks and every other to_thread share).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import texts
from bot.netguard import GuardedClient
from bot.preflight import Preflight, Verdict
from bot.providers.kie import capabilities as kie_capabilities
from tests.fakes.server import LoopbackServer

KIE = kie_capabilities("KIE.ai")


class StuckDns:
    """socket.getaddrinfo, except that `slow.test` blocks its thread until `release` (10 s at
    most), then fails; counts the look-ups blocked at once."""

    HOST = "slow.test"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.blocked = 0
        self.most_blocked = 0
        self._lock = threading.Lock()
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != self.HOST:
            return self._real(host, port, *args, **kwargs)
        with self._lock:
            self.blocked += 1
            self.most_blocked = max(self.most_blocked, self.blocked)
        try:
            self.release.wait(10)
        finally:
            with self._lock:
                self.blocked -= 1
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


@pytest.fixture
def stuck_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckDns]:
    dns = StuckDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    try:
        yield dns
    finally:
        dns.release.set()  # the stuck threads end now, not after 10 s


async def video(request: Request) -> Response:
    return Response(b"video", media_type="video/mp4")


async def wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


# More look-ups at once than asyncio's default pool ever has threads (32 at most).
STUCK_LOOKUPS = 33


async def start_checks(preflight: Preflight, count: int) -> list[asyncio.Task[Verdict]]:
    return [
        asyncio.create_task(preflight.check_link(f"http://{StuckDns.HOST}/v{i}.mp4"))
        for i in range(count)
    ]


async def test_stuck_link_lookups_do_not_hold_up_other_threaded_work(
    stuck_dns: StuckDns,
) -> None:
    started = time.monotonic()
    async with GuardedClient(timeout=5) as client:
        checks = await start_checks(Preflight(client, KIE, timeout=1.0), STUCK_LOOKUPS)
        try:
            await wait_until(lambda: stuck_dns.blocked >= 4, timeout=2)
            # An upload check (asyncio.to_thread) is not queued behind the stuck look-ups.
            before = time.monotonic()
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0), timeout=2)
            assert time.monotonic() - before < 0.5
            # Each link check gives up in its own time, its wait for a free thread included.
            verdicts = await asyncio.wait_for(asyncio.gather(*checks), timeout=5)
        finally:
            for check in checks:
                check.cancel()
    assert {v.note for v in verdicts} == {texts.PREFLIGHT_UNCHECKED}
    assert time.monotonic() - started < 2.5
    assert stuck_dns.most_blocked == 4  # LINK_LOOKUPS_IN_FLIGHT's default


async def provider_dns(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


async def test_lookups_in_flight_are_bounded_and_closing_does_not_wait_for_them(
    stuck_dns: StuckDns,
) -> None:
    client = GuardedClient(timeout=5, lookups_in_flight=2, allow_loopback=True)
    checks = await start_checks(Preflight(client, KIE, timeout=5.0), 5)
    try:
        await wait_until(lambda: stuck_dns.blocked >= 2, timeout=2)
        await asyncio.sleep(0.2)  # room for more look-ups to start, were they not bounded
        assert stuck_dns.most_blocked == 2
        # Links resolved otherwise (the provider's results) do not queue behind them.
        async with LoopbackServer(Starlette(routes=[Route("/r.mp4", video)])) as server:
            results = client.resolving_with(provider_dns)
            url = server.url.replace("127.0.0.1", "provider.test") + "/r.mp4"
            async with results.stream("GET", url) as response:
                assert await response.aread() == b"video"
        before = time.monotonic()
        await client.aclose()
        assert time.monotonic() - before < 0.5
        assert stuck_dns.blocked == 2  # still stuck: not waited for
    finally:
        for check in checks:
            check.cancel()
        await asyncio.gather(*checks, return_exceptions=True)
        await client.aclose()
