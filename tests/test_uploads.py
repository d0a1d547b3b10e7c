"""Videos sent as files, and the preflight that refuses what the provider would reject."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

from bot import texts
from bot.app import BotApp
from bot.services.media import MediaStore
from storage.db import Database
from storage.media import MediaRepository
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram
from tests.helpers import Chat
from tests.test_webhook import webhook_settings
from tests.videos import colour_spread, make_clip


def video_message(telegram: FakeTelegram, content: bytes, **extra: Any) -> dict[str, Any]:
    """The `video` field of a message carrying `content` (stored on the fake for getFile)."""
    file_id = telegram.add_file(content, file_path="videos/upload.mp4")
    return {
        **telegram.file_info(file_id),
        "width": 160,
        "height": 96,
        "duration": 2,
        "mime_type": "video/mp4",
        **extra,
    }


@pytest.fixture
def clip(tmp_path: Path) -> bytes:
    return make_clip(tmp_path / "upload.mp4", seconds=2.0).read_bytes()


async def test_a_video_message_with_a_caption_goes_to_the_provider_by_the_bots_own_url(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat, clip: bytes
) -> None:
    app: BotApp = await start_bot(**webhook_settings(media_keep_seconds=0.5))
    card = await chat.send(video=video_message(telegram, clip), caption="make it look like snow")
    assert "make it look like snow" in (card.rendered or "")
    assert f"Video: {texts.uploaded_video()}" in (card.rendered or "")  # no server address shown
    await chat.press(card, "Submit")
    (task,) = await kie.wait_for_task()
    assert task.video_url.startswith(app.settings.public_url + "/media/")
    async with httpx.AsyncClient() as http:  # what the provider does with the link
        assert (await http.get(task.video_url)).content == clip
        assert (await http.head(task.video_url)).status_code == 200
    for request in kie.requests:  # the Telegram file URL holds the token: it never goes out
        assert TEST_BOT_TOKEN.encode() not in request.raw
        assert TEST_BOT_TOKEN.split(":")[1] not in request.raw.decode(errors="replace")

    await chat.wait_until_at_provider()
    kie.complete(task.task_id)
    await kie.send_callback(task.task_id)
    await chat.wait_for_text("Done")
    await asyncio.sleep(0.8)  # MEDIA_KEEP_SECONDS after the task ended
    async with httpx.AsyncClient() as http:
        assert (await http.get(task.video_url)).status_code == 404


async def test_a_video_document_without_a_caption_asks_for_the_prompt(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat, clip: bytes
) -> None:
    await start_bot(**webhook_settings())
    file_id = telegram.add_file(clip, file_path="documents/clip.mov")
    document = {
        **telegram.file_info(file_id),
        "file_name": "clip.mov",
        "mime_type": "video/quicktime",
    }
    asked = await chat.send(document=document)
    assert asked.text == texts.prompt_wanted()
    card = await chat.say("turn day into night")
    await chat.press(card, "Submit")
    (task,) = await kie.wait_for_task()
    assert task.video_url.endswith(".mov")
    assert task.prompt == "turn day into night"


async def test_uploaded_files_expire_and_are_deleted(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    clip: bytes,
    database: TestDatabase,
) -> None:
    await start_bot(**webhook_settings(media_keep_seconds=0.2))
    card = await chat.send(video=video_message(telegram, clip), caption="make it warm")
    await chat.press(card, "Submit")
    (task,) = await kie.wait_for_task()
    await chat.wait_until_at_provider()
    kie.complete(task.task_id, success_flag=3, error_message="no")
    await kie.send_callback(task.task_id)
    await chat.wait_for_text("failed")
    await asyncio.sleep(0.4)
    media = database.parent / "media"
    assert len(list(media.iterdir())) == 1
    await chat.send(video=video_message(telegram, clip), caption="again")  # the next upload sweeps
    assert [p.name for p in media.iterdir()] != [task.video_url.rsplit("/", 1)[1]]
    assert len(list(media.iterdir())) == 1


async def test_the_sandbox_reads_uploads_directly_without_a_public_url(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat, clip: bytes, tmp_path: Path
) -> None:
    await start_bot(provider="sandbox", provider_api_key="")
    card = await chat.send(video=video_message(telegram, clip), caption="black and white please")
    await chat.press(card, "Submit")
    await telegram.wait_for("sendVideo", timeout=30)
    (video,) = chat.videos()
    assert video.file is not None
    (tmp_path / "result.mp4").write_bytes(video.file)
    assert colour_spread(tmp_path / "result.mp4") < 1.0


@pytest.mark.parametrize(
    ("message_extra", "limits", "expected"),
    [
        ({"file_size": 35 * 1024 * 1024}, {}, texts.upload_too_big_for_telegram(35, 20)),
        (
            {"file_size": 600 * 1024 * 1024},
            {"telegram_download_limit_mb": 2000},  # a local Bot API server
            texts.video_too_big(600, 500),
        ),
    ],
)
async def test_uploads_too_big_are_refused_before_downloading(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    clip: bytes,
    message_extra: dict[str, Any],
    limits: dict[str, Any],
    expected: str,
) -> None:
    await start_bot(**webhook_settings(**limits))
    reply = await chat.send(video=video_message(telegram, clip, **message_extra), caption="red")
    assert reply.text == expected
    assert telegram.calls_to("getFile") == []
    assert kie.requests == []


async def test_an_upload_too_long_or_not_a_video_is_refused_before_the_provider(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    tmp_path: Path,
) -> None:
    await start_bot(**webhook_settings())
    long = make_clip(tmp_path / "long.mp4", seconds=14.0, fps=4, size=(64, 48), audio=False)
    reply = await chat.send(video=video_message(telegram, long.read_bytes()), caption="red")
    assert reply.text == texts.video_too_long(14.0, 10)
    junk = video_message(telegram, b"definitely not a video" * 100)
    assert (await chat.send(video=junk, caption="red")).text == texts.upload_not_a_video()
    assert kie.requests == []
    assert list((tmp_path / "data" / "media").glob("*")) == []  # nothing kept


@pytest.fixture
async def video_site(tmp_path: Path) -> AsyncIterator[str]:
    make_clip(tmp_path / "ok.mp4", seconds=2.0)
    make_clip(tmp_path / "long.mp4", seconds=12.0, fps=4, size=(64, 48), audio=False)
    app = Starlette(
        routes=[
            Route("/ok.mp4", lambda r: FileResponse(tmp_path / "ok.mp4")),
            Route("/long.mp4", lambda r: FileResponse(tmp_path / "long.mp4")),
        ]
    )
    async with LoopbackServer(app) as server:
        yield server.url


async def test_links_are_checked_before_the_card(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat, video_site: str
) -> None:
    await start_bot(preflight_checks=True)
    assert (await chat.say(f"{video_site}/long.mp4 red")).text == texts.video_too_long(12.0, 10)
    assert (await chat.say(f"{video_site}/gone.mp4 red")).text == texts.link_not_found(404)
    card = await chat.card(f"{video_site}/ok.mp4 make it red")
    await chat.press(card, "Submit")
    await kie.wait_for_task()
    assert len(kie.generate_requests()) == 1


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:8080/v.mp4",
        "http://10.0.0.1/v.mp4",
        "http://[::1]/v.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8080/v.mp4",  # a name that resolves to a local address
    ],
)
async def test_links_into_private_networks_are_refused(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat, database: TestDatabase, link: str
) -> None:
    await start_bot(preflight_checks=True, allow_loopback_urls=False)
    reply = await chat.say(f"{link} make it red")
    assert "private or local network" in (reply.text or "")
    assert kie.requests == []


async def test_an_upload_only_a_replaced_card_had_is_dropped(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    chat: Chat,
    clip: bytes,
    database: TestDatabase,
) -> None:
    await start_bot(**webhook_settings())
    await chat.send(video=video_message(telegram, clip), caption="make it warm")
    await chat.card("make it cool instead")  # a new prompt: the same upload goes on
    await chat.send(video=video_message(telegram, clip), caption="another video")  # replaced
    with connect(database) as conn:
        live = conn.execute("SELECT COUNT(*) FROM media WHERE expires_at > ?", (time.time(),))
        assert live.fetchone()[0] == 1  # the first upload was dropped, the second is kept


async def test_submitting_a_card_whose_upload_was_deleted_is_refused(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    clip: bytes,
    database: TestDatabase,
) -> None:
    await start_bot(**webhook_settings())
    card = await chat.send(video=video_message(telegram, clip), caption="make it warm")
    await chat.settle()
    with connect(database) as conn:  # as a day later
        conn.execute("UPDATE media SET expires_at = 1")
    assert await chat.press(card, "Submit") == texts.toast_not_now()
    await chat.wait_for_text("has been deleted since")
    assert kie.requests == []


async def test_uploads_under_way_count_against_the_disk_cap(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    store = MediaStore(
        MediaRepository(db), tmp_path / "media", max_total_bytes=30, keep_after_task=0
    )
    slots = await asyncio.gather(*(store.reserve(20, "video/mp4", None) for _ in range(3)))
    assert sum(slot is not None for slot in slots) == 1
    await db.close()
