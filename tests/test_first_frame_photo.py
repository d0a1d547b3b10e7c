"""A first frame sent as a photo or an image file (issue 14, part 7): after the card's first-frame
button, the image is downloaded like an uploaded video, checked by its first bytes, kept in the
media store, and given to the provider by the bot's own URL; it goes when its card or task does.
A file that is not an image, or an image too large, is refused in one sentence and nothing is
kept; a photo no card waits for is answered as before."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import texts
from bot.app import BotApp
from bot.services.uploads import image_type
from tests.database import TestDatabase, connect
from tests.fakes.segmind import TEST_SEGMIND_KEY, FakeJob, FakeSegmind
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram, SentMessage
from tests.helpers import VIDEO_URL, Chat
from tests.test_bad_input import stored
from tests.test_uploads import video_message
from tests.test_webhook import webhook_settings
from tests.videos import make_clip

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) * 8 + b"\xff\xd9"
THUMBNAIL = b"\xff\xd8\xff\xdb" + b"small" * 40 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 2000
WEBP = b"RIFF\x00\x10\x00\x00WEBPVP8 " + b"\x01" * 2000


def photo_message(telegram: FakeTelegram, **sizes: bytes) -> list[dict[str, Any]]:
    """The `photo` field of a message: each size Telegram made of it, smallest first (a width
    in its name: `w90=...`), each stored on the fake for getFile."""
    photo = []
    for name, content in sizes.items():
        width = int(name.removeprefix("w"))
        file_id = telegram.add_file(content, file_path=f"photos/file_{width}.jpg")
        photo.append({**telegram.file_info(file_id), "width": width, "height": width * 3 // 4})
    return photo


def document_message(
    telegram: FakeTelegram, content: bytes, mime_type: str, file_name: str, **extra: Any
) -> dict[str, Any]:
    file_id = telegram.add_file(content, file_path=f"documents/{file_name}")
    return {**telegram.file_info(file_id), "file_name": file_name, "mime_type": mime_type, **extra}


@pytest.fixture
async def segmind() -> AsyncIterator[FakeSegmind]:
    async with FakeSegmind() as fake:
        yield fake


async def start_segmind(
    start_bot: Callable[..., Any], segmind: FakeSegmind, **settings: Any
) -> BotApp:
    app: BotApp = await start_bot(
        provider="segmind",
        provider_base_url=segmind.url,
        provider_api_key=TEST_SEGMIND_KEY,
        **settings,
    )
    return app


async def waiting_for_first_frame(chat: Chat, card: SentMessage | None = None) -> SentMessage:
    """A card (a new one unless given) whose first-frame button was pressed: the bot has asked
    for the image."""
    card = card or await chat.card()
    before = chat.seen
    assert await chat.press(card, "first frame") == texts.toast_waiting_for_first_frame()
    assert (await chat.message_after(before)).text == texts.ask_first_frame()
    return card


def media_rows(database: TestDatabase) -> list[tuple[str, float | None]]:
    with connect(database) as conn:
        return list(conn.execute("SELECT token, expires_at FROM media ORDER BY created_at"))


def media_files(database: TestDatabase) -> list[str]:
    folder = database.parent / "media"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def submitted_job(chat: Chat, segmind: FakeSegmind, card: SentMessage) -> FakeJob:
    await chat.press(card, "Submit")
    (job,) = await segmind.wait_for_job()
    return job


async def test_a_photo_becomes_the_first_frame_the_provider_fetches_by_the_bots_url(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    segmind: FakeSegmind,
    chat: Chat,
    database: TestDatabase,
) -> None:
    app = await start_segmind(start_bot, segmind, **webhook_settings(media_keep_seconds=0.5))
    await waiting_for_first_frame(chat)
    card = await chat.send(photo=photo_message(telegram, w90=THUMBNAIL, w1280=JPEG))
    assert f"First frame: {texts.uploaded_image()}" in (card.rendered or "")  # no address shown
    assert texts.button_remove_first_frame() in [
        label for label, _ in telegram.buttons(chat.user_id, card.message_id)
    ]
    assert telegram.downloads == ["photos/file_1280.jpg"]  # the largest size only
    job = await submitted_job(chat, segmind, card)
    frame_url = job.first_frame_url or ""
    assert frame_url.startswith(app.settings.public_url + "/media/")
    assert frame_url.endswith(".jpg")
    async with httpx.AsyncClient() as http:  # what the provider does with the link
        fetched = await http.get(frame_url)
    assert (fetched.status_code, fetched.content) == (200, JPEG)
    assert fetched.headers["content-type"] == "image/jpeg"
    for request in segmind.requests:  # the Telegram file URL holds the token: it never goes out
        assert TEST_BOT_TOKEN.split(":")[1] not in request.raw.decode(errors="replace")

    segmind.complete(job.request_id)
    await chat.wait_for_text("Done")
    await asyncio.sleep(0.8)  # MEDIA_KEEP_SECONDS after the task ended
    async with httpx.AsyncClient() as http:
        assert (await http.get(frame_url)).status_code == 404


@pytest.mark.parametrize(
    ("content", "mime_type", "file_name", "extension"),
    [
        (PNG, "image/png", "frame.png", ".png"),
        (WEBP, "image/webp", "frame.webp", ".webp"),
        (PNG, "image/jpeg", "frame.jpg", ".png"),  # its first bytes say what it is
    ],
)
async def test_an_image_file_becomes_the_first_frame_too(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    segmind: FakeSegmind,
    chat: Chat,
    content: bytes,
    mime_type: str,
    file_name: str,
    extension: str,
) -> None:
    await start_segmind(start_bot, segmind, **webhook_settings())
    await waiting_for_first_frame(chat)
    document = document_message(telegram, content, mime_type, file_name)
    card = await chat.send(document=document)
    assert f"First frame: {texts.uploaded_image()}" in (card.rendered or "")
    job = await submitted_job(chat, segmind, card)
    assert (job.first_frame_url or "").endswith(extension)
    async with httpx.AsyncClient() as http:
        fetched = await http.get(job.first_frame_url or "")
    assert fetched.content == content
    assert fetched.headers["content-type"] == f"image/{extension[1:]}"


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        (
            lambda t: {"document": document_message(t, b"%PDF-1.4", "application/pdf", "a.pdf")},
            texts.first_frame_not_an_image(),
        ),
        (  # an image's name and type, but not an image's bytes
            lambda t: {"document": document_message(t, b"GIF89a" * 50, "image/png", "a.png")},
            texts.first_frame_not_an_image(),
        ),
        (
            lambda t: {"document": document_message(t, b"GIF89a" * 50, "image/gif", "a.gif")},
            texts.first_frame_not_an_image(),
        ),
        (
            lambda t: {"photo": photo_message(t, w90=THUMBNAIL, w4000=JPEG)},
            None,  # too large: its declared size, below
        ),
    ],
)
async def test_what_cannot_be_a_first_frame_is_refused_in_one_sentence_and_nothing_is_kept(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    segmind: FakeSegmind,
    chat: Chat,
    database: TestDatabase,
    message: Callable[[FakeTelegram], dict[str, Any]],
    answer: str | None,
) -> None:
    await start_segmind(start_bot, segmind, **webhook_settings())
    card = await waiting_for_first_frame(chat)
    fields = message(telegram)
    if answer is None:  # the largest size, as Telegram declares it: past 10 MB
        fields["photo"][-1]["file_size"] = 11 * 1024 * 1024
        answer = texts.first_frame_too_big(11, 10)
        assert "11 MB" in answer
    before = stored(database)
    reply = await chat.send(**fields)
    assert reply.text == answer
    assert not telegram.buttons(chat.user_id, reply.message_id)
    assert stored(database) == before
    assert media_rows(database) == []
    assert media_files(database) == []
    # The card still waits for its first frame, and goes on without one.
    new_card = await chat.card("https://images.example.com/frame.png")
    assert "First frame: https://images.example.com/frame.png" in (new_card.rendered or "")
    assert card.message_id != new_card.message_id


async def test_a_photo_no_card_waits_for_gets_the_answer_it_always_had(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    segmind: FakeSegmind,
    chat: Chat,
    database: TestDatabase,
) -> None:
    await start_segmind(start_bot, segmind, **webhook_settings())
    photo = photo_message(telegram, w90=THUMBNAIL, w1280=JPEG)
    assert (await chat.send(photo=photo)).text == texts.unsupported_message()
    await chat.card()  # a card, but its first-frame button was not pressed
    await chat.settle()
    before = stored(database)
    assert (await chat.send(photo=photo)).text == texts.unsupported_message()
    pdf = document_message(telegram, b"%PDF-1.4", "application/pdf", "a.pdf")
    assert (await chat.send(document=pdf)).text == texts.upload_not_a_video_file()
    assert stored(database) == before
    assert telegram.calls_to("getFile") == []
    assert media_rows(database) == []


async def test_without_a_public_address_a_photo_is_answered_with_what_to_do(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    segmind: FakeSegmind,
    chat: Chat,
    database: TestDatabase,
) -> None:
    await start_segmind(start_bot, segmind)  # long polling: Segmind has no file host
    await waiting_for_first_frame(chat)
    before = stored(database)
    reply = await chat.send(photo=photo_message(telegram, w1280=JPEG))
    assert reply.text == texts.first_frame_files_not_taken()
    assert "PUBLIC_URL" in (reply.text or "")
    assert stored(database) == before
    assert telegram.calls_to("getFile") == []


async def test_an_uploaded_first_frame_goes_with_its_card(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    segmind: FakeSegmind,
    chat: Chat,
    database: TestDatabase,
) -> None:
    """Removed with the button, left behind by a new request, or cancelled with the card: the
    image is not kept for a day as an unsubmitted upload is."""
    await start_segmind(start_bot, segmind, **webhook_settings())

    def live() -> int:
        return sum(1 for _, expires in media_rows(database) if expires and expires > time.time())

    await waiting_for_first_frame(chat)
    card = await chat.send(photo=photo_message(telegram, w1280=JPEG))
    assert live() == 1
    assert await chat.press(card, "first frame") == texts.toast_first_frame_removed()
    assert live() == 0
    assert "First frame" not in (telegram.message(chat.user_id, card.message_id).rendered or "")

    await waiting_for_first_frame(chat, card)
    await chat.send(photo=photo_message(telegram, w1280=JPEG))
    assert live() == 1
    card = await chat.card("make it cool instead")  # a new prompt: the image goes on
    assert f"First frame: {texts.uploaded_image()}" in (card.rendered or "")
    assert live() == 1
    card = await chat.card(f"{VIDEO_URL} another request")  # a new request: it goes
    assert "First frame" not in (card.rendered or "")
    assert live() == 0

    await waiting_for_first_frame(chat, card)
    card = await chat.send(photo=photo_message(telegram, w1280=JPEG))
    assert live() == 1
    await chat.press(card, "Cancel")
    assert live() == 0
    # Each one let go of was deleted when the next upload swept the folder.
    (last,) = media_rows(database)
    assert media_files(database) == [last[0]]


async def test_a_card_whose_first_frame_was_deleted_is_not_submitted_and_holds_nothing(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    segmind: FakeSegmind,
    chat: Chat,
    database: TestDatabase,
    tmp_path: Path,
) -> None:
    """The task would hold the video and the image: with the image gone, it holds neither."""
    await start_segmind(start_bot, segmind, **webhook_settings())
    clip = make_clip(tmp_path / "upload.mp4", seconds=2.0).read_bytes()
    card = await chat.send(video=video_message(telegram, clip), caption="make it warm")
    await waiting_for_first_frame(chat, card)
    card = await chat.send(photo=photo_message(telegram, w1280=JPEG))
    await chat.settle()
    video, image = (token for token, _ in media_rows(database))
    with connect(database) as conn:  # the image, as a day later
        conn.execute("UPDATE media SET expires_at = 1 WHERE token = ?", (image,))
    assert await chat.press(card, "Submit") == texts.toast_not_now()
    assert dict(media_rows(database))[video] is not None  # not held: it still expires
    assert segmind.requests == []


def test_an_image_is_told_by_its_first_bytes() -> None:
    assert image_type(JPEG[:12]) == "image/jpeg"
    assert image_type(PNG[:12]) == "image/png"
    assert image_type(WEBP[:12]) == "image/webp"
    for other in (b"GIF89a", b"RIFF\x00\x00\x00\x00AVI ", b"%PDF-1.4", b"", b"\xff\xd8"):
        assert image_type(other) is None
