"""What a hostile link can cost the link check, bounded (issue 11's review).

- One user holds at most one thread of the look-up pool and one of the header readers, also
  after his check has given up on it: a chat sending slow link after slow link leaves the rest of
  the threads to everyone else.
- A video made to be costly to decode (huge frames, many streams) is described from its header,
  without decoding it.
- A compressed answer is not unpacked: the check asks for none and reads the bytes as they come.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import av
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import texts
from bot.net.netguard import GuardedClient
from bot.net.user_threads import ACTING_FOR, PerUserPool, UserBusyError
from bot.providers.kie import capabilities as kie_capabilities
from bot.services import preflight as preflight_module
from bot.services.preflight import Preflight, Verdict
from tests.fakes.server import LoopbackServer
from tests.helpers import Chat
from tests.test_slow_io import StuckDns, stuck_dns

__all__ = ["stuck_dns"]  # a fixture, used by name

KIE = kie_capabilities("KIE.ai")
T = TypeVar("T")
ATTACKER, VICTIM = 666, 1001


async def as_user(user: int | None, work: Awaitable[T]) -> T:
    """Await `work` with ACTING_FOR set, as bot.updates sets it for an update's handler (each
    test runs in a task of its own, and so does each `as_user` started with create_task)."""
    ACTING_FOR.set(user)
    return await work


async def test_a_user_holds_one_thread_of_a_pool_until_it_ends() -> None:
    pool = PerUserPool(3, "test")
    release = threading.Event()
    try:
        stuck = asyncio.create_task(as_user(ATTACKER, pool.run(lambda: release.wait(10))))
        await asyncio.sleep(0.1)
        with pytest.raises(UserBusyError):
            await as_user(ATTACKER, pool.run(lambda: 1))
        assert await as_user(VICTIM, pool.run(lambda: 2)) == 2
        assert await as_user(None, pool.run(lambda: 3)) == 3  # the tracker's work: not counted
        stuck.cancel()  # the waiter gives up; the thread goes on, and still counts
        await asyncio.sleep(0.05)
        with pytest.raises(UserBusyError):
            await as_user(ATTACKER, pool.run(lambda: 1))
        release.set()
        await asyncio.sleep(0.2)  # the thread ends; the loop hears of it
        assert await as_user(ATTACKER, pool.run(lambda: 4)) == 4
    finally:
        release.set()
        pool.close()


async def test_one_chat_of_slow_links_leaves_the_lookups_to_others(
    stuck_dns: StuckDns,
) -> None:
    app = Starlette(routes=[Route("/v.mp4", lambda r: Response(b"", media_type="video/mp4"))])
    async with LoopbackServer(app) as site, GuardedClient(timeout=5, allow_loopback=True) as client:
        preflight = Preflight(client, KIE, timeout=1.0)  # room for a busy machine
        for n in range(6):  # link after link, each given up on at its time-out
            verdict = await as_user(
                ATTACKER, preflight.check_link(f"http://{StuckDns.HOST}/{n}.mp4")
            )
            assert verdict == Verdict(note=texts.preflight_unchecked())
        assert stuck_dns.most_blocked == 1
        started = time.monotonic()
        link = site.url.replace("127.0.0.1", "localhost") + "/v.mp4"  # a name to look up
        assert await as_user(VICTIM, preflight.check_link(link)) == Verdict()
        assert time.monotonic() - started < 2.0


@pytest.fixture(scope="module")
def decode_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An AVI whose one frame is an 8192x8192 PNG: 0.2 MB that decodes to 200 MB in ~1 s."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.avi"
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("png", rate=1)
        stream.width = stream.height = 8192
        stream.pix_fmt = "rgb24"
        frame = av.VideoFrame(8192, 8192, "rgb24")
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        for packet in (*stream.encode(frame), *stream.encode()):
            out.mux(packet)
    return path.read_bytes()


def test_a_video_made_costly_to_decode_is_read_from_its_header(decode_bomb: bytes) -> None:
    started = time.monotonic()
    header = preflight_module._read_header(decode_bomb[: preflight_module.PROBE_BYTES])
    took = time.monotonic() - started
    assert header is not None
    assert header.has_video
    assert header.duration == pytest.approx(1.0)
    assert took < 0.3  # decoding the frame takes about a second


def test_an_upload_made_costly_to_decode_is_read_from_its_header(
    decode_bomb: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "bomb.avi"
    path.write_bytes(decode_bomb)
    started = time.monotonic()
    header = preflight_module._read_file_header(path)
    assert header is not None
    assert header.has_video
    assert time.monotonic() - started < 0.3


@pytest.fixture
async def gzip_site() -> AsyncIterator[tuple[str, list[str]]]:
    """Answers with 64 MB of zeros gzipped to ~64 KB, whatever was asked; records what was."""
    packed = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=1)
    asked: list[str] = []

    async def bomb(request: Request) -> Response:
        asked.append(request.headers.get("accept-encoding", ""))
        if request.method == "HEAD":
            return Response(status_code=405)
        headers = {"content-encoding": "gzip", "content-type": "video/mp4"}
        return Response(packed, 200, headers)

    app = Starlette(routes=[Route("/v.mp4", bomb, methods=["GET", "HEAD"])])
    async with LoopbackServer(app) as server:
        yield server.url + "/v.mp4", asked


async def test_a_compressed_answer_is_not_unpacked(gzip_site: tuple[str, list[str]]) -> None:
    url, asked = gzip_site
    async with GuardedClient(timeout=5, allow_loopback=True) as client:
        tracemalloc.start()
        verdict = await Preflight(client, KIE, timeout=5).check_link(url)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert verdict == Verdict()  # a video by its type; nothing read of its bytes
    assert asked
    assert set(asked) == {"identity"}
    assert peak < 16 * 1024 * 1024  # unpacked, it would have been 64 MB at least


async def test_the_bot_counts_each_users_lookups_as_his(
    start_bot: Callable[..., Any], chat: Chat, stuck_dns: StuckDns
) -> None:
    await start_bot(preflight_checks=True, preflight_timeout_seconds=0.5)
    for n in range(3):
        card = await chat.say(f"http://{StuckDns.HOST}/{n}.mp4 make it red")
        assert texts.preflight_unchecked() in (card.text or "")
    assert stuck_dns.most_blocked == 1
