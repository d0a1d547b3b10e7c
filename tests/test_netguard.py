"""The guard refuses malformed links (bad ports above all) cleanly, before resolving or connecting.

httpx reads a URL's port with int() and leaves its range unchecked, so a port over 65535 used to
reach the socket, which raised OverflowError (inside an ExceptionGroup): an error no caller
expected. Every hop, the first and each redirect, is checked the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.domain.links import LinkRefusal
from bot.net.netguard import BlockedLinkError, GuardedClient
from bot.net.results import Download, Fetched, ResultFetcher
from tests.fakes.server import LoopbackServer

BAD_PORT = LinkRefusal.BAD_PORT


class RecordingResolver:
    """Resolves `internal.test` to a private address; records every lookup it is asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host == "internal.test":
            return ["10.1.2.3"]
        raise OSError("no such host")


async def fetch(client: GuardedClient, url: str) -> int:
    async with client.stream("GET", url) as response:
        return response.status_code


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/x.mp4",
        "http://127.0.0.1:65536/x.mp4",
        "https://127.0.0.1:4294967377/x.mp4",  # 2**32 + 81: would wrap round to 81 in C
        "http://127.0.0.1:0/x.mp4",
        "http://127.0.0.1:-1/x.mp4",
        "http://127.0.0.1:1_0/x.mp4",  # int() reads it as 10
        "http://127.0.0.1:+80/x.mp4",
        "http://127.0.0.1:٨٠/x.mp4",  # Arabic-Indic digits: int() reads them as 80
        "http://[::1]:70000/x.mp4",
        "http://internal.test:99999/x.mp4",
    ],
)
async def test_a_port_outside_1_to_65535_is_refused_before_resolving_or_connecting(
    url: str,
) -> None:
    resolver = RecordingResolver()
    async with GuardedClient(timeout=5, allow_loopback=True, resolver=resolver) as client:
        with pytest.raises(BlockedLinkError) as refused:
            await fetch(client, url)
    assert refused.value.reason == BAD_PORT
    assert resolver.asked == []


@pytest.mark.parametrize("port", [1, 8080, 65535])
async def test_ports_from_1_to_65535_pass_on_to_the_address_checks(port: int) -> None:
    resolver = RecordingResolver()
    async with GuardedClient(timeout=5, resolver=resolver) as client:
        with pytest.raises(BlockedLinkError) as refused:
            await fetch(client, f"http://internal.test:{port}/x.mp4")
    assert refused.value.reason == LinkRefusal.PRIVATE_NETWORK
    assert resolver.asked == [("internal.test", port)]


@pytest.fixture
async def redirector() -> AsyncIterator[str]:
    """A server on loopback that redirects /to?url=X to X."""

    async def to(request: Request) -> Response:
        return RedirectResponse(request.query_params["url"], status_code=302)

    async def ok(request: Request) -> Response:
        return Response(b"video", media_type="video/mp4")

    app = Starlette(routes=[Route("/to", to), Route("/ok.mp4", ok)])
    async with LoopbackServer(app) as server:
        yield server.url


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("http://127.0.0.1:99999/clip.mp4", BAD_PORT),
        ("http://127.0.0.1:0/clip.mp4", BAD_PORT),
        ("//127.0.0.1:70000/clip.mp4", BAD_PORT),  # relative to the scheme
        ("http://[::1/clip.mp4", LinkRefusal.BAD_REDIRECT),  # for httpx
        ("http://a]b/clip.mp4", LinkRefusal.BAD_REDIRECT),  # for urljoin
        ("ftp://127.0.0.1/clip.mp4", LinkRefusal.NOT_WEB),
    ],
)
async def test_a_redirect_to_a_malformed_address_is_refused(
    redirector: str, target: str, problem: LinkRefusal
) -> None:
    async with GuardedClient(timeout=5, allow_loopback=True) as client:
        assert await fetch(client, f"{redirector}/ok.mp4") == 200  # the server itself is fine
        with pytest.raises(BlockedLinkError) as refused:
            await fetch(client, f"{redirector}/to?url={target}")
    assert refused.value.reason == problem


async def test_a_result_url_with_a_bad_port_is_gone_not_an_error(tmp_path: Path) -> None:
    async with GuardedClient(timeout=5, allow_loopback=True) as client:
        fetched = await ResultFetcher(client).fetch(
            "http://127.0.0.1:99999/result.mp4", tmp_path / "result.mp4", 1000
        )
    assert fetched == Download(Fetched.GONE)
    assert not (tmp_path / "result.mp4").exists()
