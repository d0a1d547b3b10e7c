"""The fake Bot API server, driven by a real python-telegram-bot `Bot` over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import filters

from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import BOT_USER_ID, MAX_UPLOAD_SIZE, TEST_BOT_TOKEN, FakeTelegram

USER = 4242

# Built once: the over-limit upload is the slowest thing here.
TOO_BIG = b"\0" * (MAX_UPLOAD_SIZE + 1)


def make_bot(fake: FakeTelegram, token: str = TEST_BOT_TOKEN) -> Bot:
    return Bot(token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake) as b:
        yield b


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="confirm:1")],
            [InlineKeyboardButton("No", callback_data="cancel:1")],
        ]
    )


async def test_get_me(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.id == BOT_USER_ID
    assert me.is_bot
    assert me.username == "fake_bot"
    assert [c.method for c in fake.calls] == ["getMe", "getMe"]  # initialize() + ours


async def test_wrong_token_is_refused_and_not_recorded(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken, match="Unauthorized"):
        await make_bot(fake, "999:wrong").get_me()
    assert fake.calls == []
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{fake.url}/bot{TEST_BOT_TOKEN}/noSuchMethod")
    assert r.status_code == 404
    assert r.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    assert fake.calls == []


async def test_send_message_with_keyboard(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_message(
        USER, "Confirm <b>now</b>?", parse_mode=ParseMode.HTML, reply_markup=keyboard()
    )
    assert msg.text == "Confirm now?"  # rendered like Telegram does
    assert msg.reply_markup == keyboard()
    assert fake.buttons(USER, msg.message_id) == [("Yes", "confirm:1"), ("No", "cancel:1")]
    sent = fake.message(USER, msg.message_id)
    assert (sent.kind, sent.text, sent.parse_mode) == ("text", "Confirm <b>now</b>?", "HTML")
    assert sent.rendered == "Confirm now?"
    [call] = fake.calls_to("sendMessage", chat_id=USER)
    assert call.params["chat_id"] == USER
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "confirm:1"


async def test_edit_with_same_content_is_not_modified(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_message(USER, "Working…", reply_markup=keyboard())
    await bot.edit_message_text("Done", chat_id=USER, message_id=msg.message_id)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("Done", chat_id=USER, message_id=msg.message_id)
    sent = fake.messages(USER)[-1]
    assert (sent.text, sent.edits, sent.reply_markup) == ("Done", 1, None)  # keyboard removed
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_bad_html_is_refused(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(USER, "1 < 2", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "x" * 4097)


async def test_lengths_are_counted_as_telegram_counts_them(bot: Bot) -> None:
    """In UTF-16 code units of the rendered text: an emoji takes two, markup takes none."""
    await bot.send_message(USER, "🎨" * 2048)
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "🎨" * 2048 + "x")


async def test_updates_message_and_button(bot: Bot, fake: FakeTelegram) -> None:
    fake.send_message(USER, "/start", first_name="Ann")
    first = await bot.get_updates(timeout=0)
    assert len(first) == 1
    message = first[0].message
    assert message is not None
    assert message.text == "/start"
    assert message.from_user is not None
    assert message.from_user.first_name == "Ann"
    assert filters.COMMAND.check_update(first[0])  # Telegram's bot_command entity is there

    sent = await bot.send_message(USER, "Pick one", reply_markup=keyboard())
    query_id = fake.press_button(USER, sent.message_id, "cancel:1")
    updates = await bot.get_updates(offset=first[0].update_id + 1, timeout=0)
    assert len(updates) == 1
    query = updates[0].callback_query
    assert query is not None
    assert (query.id, query.data) == (query_id, "cancel:1")
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup == keyboard()
    assert await query.answer("Cancelled")
    answer = fake.callback_answer(query_id)
    assert answer is not None
    assert answer.params["text"] == "Cancelled"

    # Confirmed updates are gone for good.
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert fake.pending_updates == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next(
        "sendMessage", error_code=429, description="Too Many Requests: retry after 3", retry_after=3
    )
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hi")
    assert caught.value.retry_after in (3, dtm.timedelta(seconds=3))
    await bot.send_message(USER, "hi")  # only the next call failed
    assert len(fake.calls_to("sendMessage")) == 2


async def test_blocked_user(bot: Bot, fake: FakeTelegram) -> None:
    fake.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hi")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(USER, "typing")
    fake.unblock(USER)
    await bot.send_message(USER, "hi again")
    assert [m.text for m in fake.messages(USER)] == ["hi again"]


async def test_send_video_upload(bot: Bot, fake: FakeTelegram) -> None:
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    msg = await bot.send_video(
        USER, data, caption="Your video", width=640, height=360, duration=8, filename="result.mp4"
    )
    assert msg.video is not None
    assert msg.video.file_size == len(data)
    assert msg.video.width == 640
    assert msg.caption == "Your video"
    sent = fake.message(USER, msg.message_id)
    assert (sent.kind, sent.file, sent.caption) == ("video", data, "Your video")
    [call] = fake.calls_to("sendVideo")
    assert call.files["video"] == data
    assert call.filenames["video"] == "result.mp4"

    by_url = await bot.send_video(USER, "http://127.0.0.1:9/result.mp4")
    sent_url = fake.message(USER, by_url.message_id)
    assert sent_url.file is None
    assert fake.calls_to("sendVideo")[-1].params["video"] == "http://127.0.0.1:9/result.mp4"


async def test_send_photo_upload(bot: Bot, fake: FakeTelegram) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (800).to_bytes(4, "big")
    png += (450).to_bytes(4, "big") + bytes(range(256)) * 4
    html = ParseMode.HTML
    msg = await bot.send_photo(
        USER, png, caption="<b>Stats</b>", parse_mode=html, filename="stats.png"
    )
    assert msg.photo
    assert (msg.photo[-1].width, msg.photo[-1].height) == (800, 450)
    assert msg.photo[-1].file_size == len(png)
    assert msg.caption == "Stats"
    sent = fake.message(USER, msg.message_id)
    assert (sent.kind, sent.file, sent.rendered) == ("photo", png, "Stats")
    [call] = fake.calls_to("sendPhoto")
    assert call.files["photo"] == png
    assert call.filenames["photo"] == "stats.png"

    # A caption's limit is counted after the markup is parsed, as Telegram counts it.
    fits = "<b>" + "x" * 1024 + "</b>"
    assert (await bot.send_photo(USER, png, caption=fits, parse_mode=html)).caption == "x" * 1024
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(USER, png, caption="x" * 1025)


async def test_upload_over_50_mib_is_refused(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(NetworkError, match="Request Entity Too Large"):
        await bot.send_document(
            USER, TOO_BIG, filename="big.mp4", write_timeout=30, read_timeout=30
        )
    assert len(fake.calls_to("sendDocument")) == 1
    assert fake.messages(USER) == []


async def test_get_file_and_download(bot: Bot, fake: FakeTelegram) -> None:
    content = b"user video bytes" * 100
    file_id = fake.add_file(content, file_path="videos/file_7.mp4")
    tg_file = await bot.get_file(file_id)
    assert tg_file.file_size == len(content)
    assert bytes(await tg_file.download_as_bytearray()) == content
    assert fake.downloads == ["videos/file_7.mp4"]
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


async def test_long_poll_answers_early(bot: Bot, fake: FakeTelegram) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        fake.send_message(USER, "hello")

    task = asyncio.create_task(later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    await task
    assert elapsed < 2
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_wait_for(bot: Bot, fake: FakeTelegram) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(USER, "one")
        await bot.send_message(USER, "two")

    task = asyncio.create_task(later())
    calls = await fake.wait_for(
        "sendMessage", lambda c: c.params["chat_id"] == USER, count=2, timeout=5
    )
    await task
    assert [c.params["text"] for c in calls] == ["one", "two"]
    with pytest.raises(AssertionError, match=r"sendMessage ×2"):
        await fake.wait_for("sendVideo", timeout=0.05)


async def test_stop_answers_a_pending_long_poll(bot: Bot, fake: FakeTelegram) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=35))
    await fake.wait_for("getUpdates")
    started = time.monotonic()
    await fake.stop()
    assert await asyncio.wait_for(poll, 2) == ()
    assert time.monotonic() - started < 2
    await fake.start()  # back on the same port, for the fixture's stop()


async def test_webhook_delivery(bot: Bot, fake: FakeTelegram) -> None:
    received: list[tuple[dict[str, object], str | None]] = []

    async def hook(request: Request) -> Response:
        received.append(
            (await request.json(), request.headers.get("x-telegram-bot-api-secret-token"))
        )
        return Response()

    async with LoopbackServer(Starlette(routes=[Route("/tg", hook, methods=["POST"])])) as server:
        await bot.set_webhook(f"{server.url}/tg", secret_token="s3cret")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)
        update_id = fake.send_message(USER, "via webhook")
        await fake.wait_until(lambda: bool(received), timeout=5, what="webhook delivery")
        await asyncio.sleep(0.05)
        assert received[0][1] == "s3cret"
        update = Update.de_json(received[0][0], bot)
        assert update.update_id == update_id
        assert update.message is not None
        assert update.message.text == "via webhook"
        assert (await bot.get_webhook_info()).pending_update_count == 0
        assert await bot.delete_webhook()


async def test_copy_message_copies_a_users_photo_and_the_bots_html(
    bot: Bot, fake: FakeTelegram
) -> None:
    bold = [{"type": "bold", "offset": 0, "length": 3}]
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
    fake.send_update_message(USER, photo=photo, caption="New look", caption_entities=bold)
    (update,) = fake.pending_updates
    original = update["message"]["message_id"]

    copied = await bot.copy_message(chat_id=5151, from_chat_id=USER, message_id=original)
    sent = fake.message(5151, copied.message_id)
    assert (sent.kind, sent.caption, sent.media) == ("photo", "New look", photo)
    assert sent.rendered_entities == bold
    assert sent.copied_from == (USER, original)

    html = await bot.send_message(USER, "<b>Hi</b> &amp; bye", parse_mode=ParseMode.HTML)
    again = await bot.copy_message(chat_id=5151, from_chat_id=USER, message_id=html.message_id)
    text = fake.message(5151, again.message_id)
    assert (text.kind, text.rendered) == ("text", "Hi & bye")
    assert text.rendered_entities == [{"type": "bold", "offset": 0, "length": 2}]

    recaptioned = await bot.copy_message(
        chat_id=5151,
        from_chat_id=USER,
        message_id=original,
        caption="<i>Other</i>",
        parse_mode=ParseMode.HTML,
    )
    other = fake.message(5151, recaptioned.message_id)
    assert (other.rendered, other.rendered_entities[0]["type"]) == ("Other", "italic")


async def test_copy_message_refuses_an_unknown_message_and_a_blocked_user(
    bot: Bot, fake: FakeTelegram
) -> None:
    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(chat_id=5151, from_chat_id=USER, message_id=99)
    sent = await bot.send_message(USER, "hi")
    fake.block(5151)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.copy_message(chat_id=5151, from_chat_id=USER, message_id=sent.message_id)
    await bot.delete_message(USER, sent.message_id)
    fake.unblock(5151)
    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(chat_id=5151, from_chat_id=USER, message_id=sent.message_id)
    assert fake.messages(5151) == []
