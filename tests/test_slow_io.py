"""Slow peers hold up only what waits on them (issue 11).

- A slow DNS answer for a user's link holds a thread of the link look-ups, never one of asyncio's
  default pool (which the sandbox, result look-ups and every other to_thread share).
- A result trickled slowly ends at its deadline, or when it falls under the least rate; the user
  gets the link, and the delivery slot goes to the next task.
- A video that is slow to read (FFmpeg decodes frames of it) is read off the event loop, within
  a time and a number of bytes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from bot import texts
from bot.net.netguard import GuardedClient
from bot.net.results import Download, Fetched, ResultFetcher
from bot.providers.kie import capabilities as kie_capabilities
from bot.services import preflight as preflight_module
from bot.services.preflight import Preflight, Verdict
from tests.fakes.kie import FakeKie
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Chat

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


async def wait_until(condition: Callable[[], bool], timeout: float) -> None:
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
            # Work in asyncio's pool (the sandbox, result look-ups) is not queued behind them.
            before = time.monotonic()
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0), timeout=2)
            assert time.monotonic() - before < 0.5
            # Each link check gives up in its own time, its wait for a free thread included.
            verdicts = await asyncio.wait_for(asyncio.gather(*checks), timeout=5)
        finally:
            for check in checks:
                check.cancel()
    assert {v.note for v in verdicts} == {texts.preflight_unchecked()}
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
            url = server.url.replace("127.0.0.1", "provider.test") + "/r.mp4"
            async with (
                GuardedClient(timeout=5, allow_loopback=True, resolver=provider_dns) as results,
                results.stream("GET", url) as response,
            ):
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


# --- results that come too slowly --------------------------------------------------------------


class SlowResults:
    """A result server: /trickle.mp4 sends a byte every 0.1 s, /silent.mp4 its headers and then
    nothing, /fast.mp4 300 KB at once. Slow answers end by themselves after 20 s at most."""

    FAST_SIZE = 300 * 1024

    def __init__(self) -> None:
        self.gets = 0
        routes = [
            Route("/trickle.mp4", self._answer(self._trickle)),
            Route("/silent.mp4", self._answer(self._silent)),
            Route("/fast.mp4", self._answer(self._fast)),
        ]
        self.server = LoopbackServer(Starlette(routes=routes))
        self.url = self.server.url

    def _answer(self, body: Callable[[], AsyncIterator[bytes]]) -> Callable[..., Any]:
        async def answer(request: Request) -> StreamingResponse:
            self.gets += 1
            return StreamingResponse(body(), media_type="video/mp4")

        return answer

    async def _trickle(self) -> AsyncIterator[bytes]:
        for _ in range(200):
            await asyncio.sleep(0.1)
            yield b"x"

    async def _silent(self) -> AsyncIterator[bytes]:
        await asyncio.sleep(20)
        yield b""

    async def _fast(self) -> AsyncIterator[bytes]:
        for _ in range(self.FAST_SIZE // 65536):
            yield b"v" * 65536
        yield b"v" * (self.FAST_SIZE % 65536)


@pytest.fixture
async def slow_results() -> AsyncIterator[SlowResults]:
    results = SlowResults()
    async with results.server:
        yield results


async def timed_fetch(fetcher: ResultFetcher, url: str, target: Path) -> tuple[Download, float]:
    started = time.monotonic()
    download = await asyncio.wait_for(fetcher.fetch(url, target, 10**8), timeout=10)
    return download, time.monotonic() - started


async def test_a_trickled_result_ends_at_its_deadline(
    slow_results: SlowResults, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with GuardedClient(timeout=5, allow_loopback=True) as client:
        fetcher = ResultFetcher(client, timeout=1.0, min_rate_kbps=0)
        download, took = await timed_fetch(
            fetcher, f"{slow_results.url}/trickle.mp4", tmp_path / "r"
        )
    assert download == Download(Fetched.TOO_SLOW)
    assert 1.0 <= took < 2.0
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.net.results"]
    assert "not done in 1 s (RESULT_DOWNLOAD_TIMEOUT_SECONDS)" in line


@pytest.mark.parametrize("path", ["/trickle.mp4", "/silent.mp4"])
async def test_a_result_under_the_least_rate_ends_after_one_window(
    slow_results: SlowResults, tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    async with GuardedClient(timeout=5, allow_loopback=True) as client:
        fetcher = ResultFetcher(client, timeout=30, min_rate_kbps=1, rate_window=0.5)
        download, took = await timed_fetch(fetcher, slow_results.url + path, tmp_path / "r")
        assert download == Download(Fetched.TOO_SLOW)
        assert 0.5 <= took < 1.5
        (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.net.results"]
        assert "under 1 KB/s over 0.5 s (RESULT_MIN_RATE_KBPS)" in line
        # A result that keeps up is fetched in full, past many windows' worth of bytes.
        download, _ = await timed_fetch(fetcher, f"{slow_results.url}/fast.mp4", tmp_path / "f")
        assert download == Download(Fetched.OK, SlowResults.FAST_SIZE)


async def test_a_trickled_result_goes_as_a_link_and_frees_its_slot_for_the_next_task(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    slow_results: SlowResults,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.net.results")
    await start_bot(tracker_concurrency=1, result_download_timeout_seconds=1.5)
    for _ in range(2):
        await chat.press(await chat.card(), "Submit")
    first, second = await kie.wait_for_task(2)
    trickle = f"{slow_results.url}/trickle.mp4"
    served_by_kie = kie.result_url
    monkeypatch.setattr(
        kie,
        "result_url",
        lambda task_id: trickle if task_id == first.task_id else served_by_kie(task_id),
    )
    kie.complete(first.task_id)
    await wait_until(lambda: slow_results.gets > 0, timeout=5)
    kie.complete(second.task_id)  # its delivery waits for the one slot
    await telegram.wait_for("sendVideo", timeout=6)
    notice = await chat.wait_for_text("a link to the video instead")
    assert texts.result_too_slow() in (notice.rendered or "")
    assert trickle in (notice.rendered or "")
    assert "Task #1" in (notice.rendered or "")
    (video,) = chat.videos()  # the second task's; nothing of the first was uploaded
    assert "Task #2" in (video.rendered or "")
    assert slow_results.gets == 1
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.net.results"]
    assert "RESULT_DOWNLOAD_TIMEOUT_SECONDS" in line


# --- video headers that are slow to read -------------------------------------------------------


def make_noise_ts(path: Path, size: tuple[int, int], *, amplitude: int, qp: int) -> Path:
    """Two frames of H.264 noise in MPEG-TS: FFmpeg must decode a frame to learn the stream, and
    a frame this large takes it long (8K), or is many MB (full-range noise at a low qp)."""
    width, height = size
    levels = bytes(128 - amplitude // 2 + i % amplitude for i in range(256))
    picture = VideoFrame(width, height, "yuv420p")
    for plane in picture.planes:
        plane.update(os.urandom(plane.buffer_size).translate(levels))
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=30)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": str(qp)}
        for index in range(2):
            picture.pts, picture.time_base = index, Fraction(1, 30)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return path


class Ticker:
    """Ticks every 5 ms on the event loop; `longest` is the longest time between two ticks."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    async def _run(self) -> None:
        for _ in range(10_000):  # 50 s at most
            await asyncio.sleep(0.005)
            self._tick()

    async def __aenter__(self) -> Ticker:
        self._last = time.perf_counter()
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._tick()  # the time since the last tick counts too
        assert self._task is not None
        self._task.cancel()


async def test_the_event_loop_keeps_ticking_while_a_link_s_video_is_read(tmp_path: Path) -> None:
    sample = make_noise_ts(tmp_path / "8k.ts", (7680, 4320), amplitude=32, qp=40)
    app = Starlette(
        routes=[Route("/8k.ts", lambda r: FileResponse(sample, media_type="video/mp2t"))]
    )
    async with (
        LoopbackServer(app) as server,
        GuardedClient(timeout=5, allow_loopback=True) as client,
    ):
        preflight = Preflight(client, KIE, timeout=5)
        await preflight.check_link(server.url + "/8k.ts")  # FFmpeg's first use costs more
        async with Ticker() as ticker:
            for _ in range(3):
                verdict = await preflight.check_link(server.url + "/8k.ts")
                assert verdict == Verdict()  # read in full: a video, 2 frames long
    assert ticker.longest < 0.05


class SlowReader:
    """Stands in for a header read: records its thread, and blocks it until `release` (3 s at
    most) unless it is `quick`."""

    def __init__(self, *, quick: bool) -> None:
        self.release = threading.Event()
        if quick:
            self.release.set()
        self.threads: list[str] = []

    def __call__(self, source: object) -> None:
        self.threads.append(threading.current_thread().name)
        self.release.wait(3)


@pytest.fixture
async def video_site(tmp_path: Path) -> AsyncIterator[str]:
    (tmp_path / "v.mp4").write_bytes(b"\x00" * 1000)
    app = Starlette(routes=[Route("/v.mp4", lambda r: FileResponse(tmp_path / "v.mp4"))])
    async with LoopbackServer(app) as server:
        yield server.url + "/v.mp4"


async def test_header_reads_run_in_their_own_threads(
    video_site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = SlowReader(quick=True)
    monkeypatch.setattr(preflight_module, "_read_header", reader)
    monkeypatch.setattr(preflight_module, "_read_file_header", reader)
    async with GuardedClient(timeout=5, allow_loopback=True) as client:
        preflight = Preflight(client, KIE, timeout=5)
        await preflight.check_link(video_site)
        await preflight.check_file(tmp_path / "v.mp4", 1000, "video/mp4")
    assert len(reader.threads) == 2
    assert all(name.startswith("video-header") for name in reader.threads), reader.threads


async def test_a_header_read_that_takes_too_long_leaves_a_link_unchecked_and_refuses_an_upload(
    video_site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = SlowReader(quick=False)
    monkeypatch.setattr(preflight_module, "_read_header", reader)
    monkeypatch.setattr(preflight_module, "_read_file_header", reader)
    monkeypatch.setattr(preflight_module, "HEADER_READ_SECONDS", 0.3)
    try:
        async with GuardedClient(timeout=5, allow_loopback=True) as client:
            preflight = Preflight(client, KIE, timeout=5)
            for check, verdict in (
                (preflight.check_link(video_site), Verdict(note=texts.preflight_unchecked())),
                (
                    preflight.check_file(tmp_path / "v.mp4", 1000, "video/mp4"),
                    Verdict(problem=texts.upload_too_slow_to_read()),
                ),
            ):
                started = time.monotonic()
                assert await check == verdict
                assert time.monotonic() - started < 1.0
    finally:
        reader.release.set()  # the header threads are free again for the next test


MB = 1024 * 1024


def bytes_read_by_this_process() -> int:
    with open("/proc/self/io") as stats:
        return next(int(line.split()[1]) for line in stats if line.startswith("rchar:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="counts reads with Linux's /proc")
async def test_an_upload_s_header_is_read_within_a_number_of_bytes(tmp_path: Path) -> None:
    big = make_noise_ts(tmp_path / "big.ts", (3840, 2160), amplitude=256, qp=5)
    size = big.stat().st_size
    assert size > 16 * MB  # FFmpeg alone reads all of it to find the stream
    async with GuardedClient() as client:
        before = bytes_read_by_this_process()
        verdict = await Preflight(client, KIE).check_file(big, size, "video/mp2t")
        read = bytes_read_by_this_process() - before
    assert verdict == Verdict()  # its header was read: a video
    assert read < 5 * MB  # FILE_PROBE_BYTES (4 MB), and no more


@pytest.mark.parametrize(("cut_after", "outcome"), [(0.0, Fetched.RETRY), (0.8, Fetched.TOO_SLOW)])
async def test_a_result_cut_off_after_a_long_while_is_sent_as_a_link(
    tmp_path: Path, cut_after: float, outcome: Fetched
) -> None:
    """Cut off at once: a passing problem, tried again. Cut off after a rate window: trying
    again could hold the delivery slot as long again (up to the deadline each time)."""

    async def cut_short(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"x"
            await asyncio.sleep(cut_after)  # then ends short of its Content-Length

        return StreamingResponse(body(), headers={"content-length": "1000"})

    app = Starlette(routes=[Route("/cut.mp4", cut_short)])
    async with LoopbackServer(app) as server, GuardedClient(timeout=5, allow_loopback=True) as c:
        fetcher = ResultFetcher(c, timeout=30, min_rate_kbps=0, rate_window=0.5)
        download, _ = await timed_fetch(fetcher, server.url + "/cut.mp4", tmp_path / "r")
    assert download == Download(outcome)
