"""The sandbox provider: real edits on this machine, through the same task life cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

from bot.app import BotApp
from bot.domain.failures import Failure
from bot.domain.provider import JobState, JobStatus, ProviderError, SubmitRequest
from bot.net.netguard import GuardedClient
from bot.net.results import Fetched, ResultFetcher
from bot.providers.sandbox import SandboxProvider
from bot.providers.sandbox_edit import probe
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import FakeTelegram
from tests.helpers import USER_ID, Chat
from tests.test_cli import run_cli
from tests.videos import colour_spread, make_clip


@pytest.fixture
async def video_server(tmp_path: Path) -> AsyncIterator[str]:
    """A web server with a real 2-second colour clip at /clip.mp4 (and a non-video at /bad.mp4)."""
    make_clip(tmp_path / "clip.mp4", seconds=2.0)
    (tmp_path / "bad.mp4").write_bytes(b"this is not a video" * 100)
    app = Starlette(
        routes=[
            Route("/clip.mp4", lambda r: FileResponse(tmp_path / "clip.mp4")),
            Route("/bad.mp4", lambda r: FileResponse(tmp_path / "bad.mp4")),
        ]
    )
    async with LoopbackServer(app) as server:
        yield server.url


async def finished(provider: SandboxProvider, job_id: str, timeout: float = 30) -> JobStatus:
    for _ in range(int(timeout / 0.05)):
        status = await provider.status(job_id)
        if status.state != JobState.RUNNING:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the sandbox job did not finish")


async def test_a_job_really_edits_the_video(tmp_path: Path, video_server: str) -> None:
    provider = SandboxProvider(work_dir=tmp_path / "sandbox", allow_loopback=True)
    job_id = await provider.submit(
        SubmitRequest(video_url=f"{video_server}/clip.mp4", prompt="black and white, slow motion")
    )
    assert (await provider.status(job_id)).state == JobState.RUNNING
    status = await finished(provider, job_id)
    await provider.aclose()
    assert status.state == JobState.SUCCEEDED
    assert status.result_url is not None
    async with GuardedClient(allow_loopback=True) as links:
        fetcher = ResultFetcher(links, provider.capabilities.local_results)
        download = await fetcher.fetch(status.result_url, tmp_path / "out.mp4", 10**8)
    assert download.outcome == Fetched.OK
    info = probe(tmp_path / "out.mp4")
    assert info.duration == pytest.approx(4.0, rel=0.1)  # slow motion doubles it
    assert colour_spread(tmp_path / "out.mp4") < 1.0 < colour_spread(tmp_path / "clip.mp4")


async def test_a_file_that_is_not_a_video_fails_with_a_sentence(
    tmp_path: Path, video_server: str
) -> None:
    provider = SandboxProvider(work_dir=tmp_path / "sandbox", allow_loopback=True)
    job_id = await provider.submit(SubmitRequest(f"{video_server}/bad.mp4", "make it warm"))
    status = await finished(provider, job_id)
    missing = await provider.submit(SubmitRequest(f"{video_server}/nothing.mp4", "make it warm"))
    gone = await finished(provider, missing)
    await provider.aclose()
    assert status.state == JobState.FAILED
    assert status.failure == Failure.GENERATION_FAILED
    assert status.error_message is not None
    assert status.error_message.startswith("The video file could not be read")
    assert gone.error_message == "The video link answered HTTP 404; check that it is public."


async def test_a_link_into_a_private_network_fails_with_a_sentence(tmp_path: Path) -> None:
    provider = SandboxProvider(work_dir=tmp_path / "sandbox", allow_loopback=False)
    job_id = await provider.submit(SubmitRequest("http://10.0.0.1/clip.mp4", "make it warm"))
    status = await finished(provider, job_id)
    await provider.aclose()
    assert status.state == JobState.FAILED
    assert status.error_message == ("The video link points into a private or local network.")


async def test_an_upload_gone_from_disk_fails_without_showing_its_path(tmp_path: Path) -> None:
    """An "Edit this result" or an upload after the files were swept: the user hears that it is
    gone, not where the bot keeps its files."""
    provider = SandboxProvider(work_dir=tmp_path / "sandbox", allow_loopback=True)
    gone = (tmp_path / "media" / "swept.mp4").as_uri()
    job_id = await provider.submit(SubmitRequest(gone, "make it warm"))
    status = await finished(provider, job_id)
    await provider.aclose()
    assert status.state == JobState.FAILED
    assert str(tmp_path) not in (status.error_message or "")
    assert "no longer there" in (status.error_message or "")


async def test_unknown_jobs_are_not_found_and_result_files_stay_in_their_folder(
    tmp_path: Path,
) -> None:
    provider = SandboxProvider(work_dir=tmp_path / "sandbox", allow_loopback=True)
    with pytest.raises(ProviderError) as caught:
        await provider.status("0123456789abcdef")
    with pytest.raises(ProviderError):
        await provider.status("../../etc")
    (tmp_path / "secret.txt").write_text("not a result")
    async with GuardedClient(allow_loopback=True) as links:
        fetcher = ResultFetcher(links, provider.capabilities.local_results)
        escape = await fetcher.fetch((tmp_path / "secret.txt").as_uri(), tmp_path / "o", 10**6)
        unrooted = await ResultFetcher(links).fetch(
            (tmp_path / "secret.txt").as_uri(), tmp_path / "o", 10**6
        )
    await provider.aclose()
    assert caught.value.failure == Failure.NOT_FOUND
    assert escape.outcome == unrooted.outcome == Fetched.GONE


async def test_a_job_cut_off_by_a_restart_runs_again(tmp_path: Path, video_server: str) -> None:
    first = SandboxProvider(work_dir=tmp_path / "sandbox", allow_loopback=True)
    job_id = await first.submit(SubmitRequest(f"{video_server}/clip.mp4", "make it warm"))
    await first.aclose()  # stopped before the edit finished
    second = SandboxProvider(work_dir=tmp_path / "sandbox", allow_loopback=True)
    status = await finished(second, job_id)
    await second.aclose()
    assert status.state == JobState.SUCCEEDED


async def test_the_whole_bot_in_sandbox_mode(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    chat: Chat,
    video_server: str,
    tmp_path: Path,
) -> None:
    app: BotApp = await start_bot(provider="sandbox", provider_api_key="")
    welcome = await chat.say("/start")
    assert "Sandbox mode" in (welcome.rendered or "")
    card = await chat.card(f"{video_server}/clip.mp4 make it black and white")
    assert [t for t, _ in telegram.buttons(USER_ID, card.message_id)] == ["✅ Submit", "✖ Cancel"]
    await chat.press(card, "Submit")
    await telegram.wait_for("sendVideo", timeout=30)
    await chat.wait_for_text("Done")
    (video,) = chat.videos()
    assert video.file is not None
    (tmp_path / "sent.mp4").write_bytes(video.file)
    assert colour_spread(tmp_path / "sent.mp4") < 1.0
    assert app.settings.provider == "sandbox"


async def test_the_command_line_edits_a_local_file_offline(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mov", seconds=2.0, container="mov")
    out = tmp_path / "edited.mp4"
    env = {"PROVIDER": "sandbox", "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3")}
    code, output = await run_cli(
        [str(clip), "speed up", "--out", str(out), "--interval", "1"], env, tmp_path
    )
    assert code == 0, output
    assert "Submitted to Sandbox" in output
    assert probe(out).duration == pytest.approx(1.0, rel=0.15)


async def test_a_sandbox_result_telegram_refuses_is_never_offered_as_a_server_path(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat, video_server: str
) -> None:
    await start_bot(provider="sandbox", provider_api_key="")
    for method in ("sendVideo", "sendDocument"):
        telegram.fail_next(method, error_code=400, description="Bad Request: file is broken")
    await chat.press(await chat.card(f"{video_server}/clip.mp4 make it warm"), "Submit")
    notice = await chat.wait_for_text("failed", timeout=30)
    assert "no download link" in (notice.rendered or "")
    assert not [m for m in telegram.messages(USER_ID) if "file:" in (m.rendered or "")]
