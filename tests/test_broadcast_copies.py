"""Broadcasts keep the admin's formatting and media (issue 14, part 9), driven through the fake
Telegram as an admin would: `/broadcast` in reply to a message of theirs copies that message
(copyMessage) to every user, after showing the admin the copy users will get; `/broadcast text`
keeps the text's bold, links and spoilers. Rate, resume and once-per-user are those of every
broadcast (tests/test_queue_and_broadcast.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot import texts
from bot.app import BotApp
from tests.database import TestDatabase, connect
from tests.fakes.telegram import BOT_USER, FakeTelegram, SentMessage
from tests.helpers import ADMIN_ID, Chat, count_rows

# Bold, a link and a spoiler, as the admin's Telegram app sends them (UTF-16 offsets: the
# emoji takes two units).
FORMATTED = "🎉 Big news: version 2 is out. Read the notes. The secret: it is free."
FORMATTING: list[dict[str, Any]] = [
    {"type": "bold", "offset": 3, "length": 8},
    {"type": "text_link", "offset": 35, "length": 9, "url": "https://example.com/notes"},
    {"type": "spoiler", "offset": 58, "length": 11},
]
PHOTO = [
    {"file_id": "photo-small", "file_unique_id": "ps", "width": 90, "height": 60},
    {"file_id": "photo-big", "file_unique_id": "pb", "width": 1280, "height": 853},
]
VIDEO = {
    "file_id": "video-1",
    "file_unique_id": "v1",
    "width": 640,
    "height": 360,
    "duration": 8,
    "mime_type": "video/mp4",
}
CAPTION = "New look, same bot"
CAPTION_FORMATTING: list[dict[str, Any]] = [{"type": "italic", "offset": 0, "length": 8}]


async def meet(telegram: FakeTelegram, users: list[int]) -> None:
    """Each user starts the bot (so it knows them) and gets the welcome."""
    for user in users:
        telegram.send_message(user, "/start", username=f"user{user}")
    await telegram.wait_until(
        lambda: all(telegram.messages(u) for u in users), timeout=30, what="every welcome"
    )


def copies(telegram: FakeTelegram, user: int, original: dict[str, Any]) -> list[SentMessage]:
    """The copies of the admin's message `original` the bot made in the user's chat."""
    source = (ADMIN_ID, original["message_id"])
    return [m for m in telegram.messages(user) if m.copied_from == source]


async def reply_broadcast(admin: Chat, original: dict[str, Any]) -> tuple[SentMessage, SentMessage]:
    """The admin replies /broadcast to their message: the copy they are shown, then the
    confirmation with Send and Cancel."""
    before = admin.seen
    shown = await admin.send(text="/broadcast", reply_to_message=original)
    return shown, await admin.message_after(before + 1)


async def send_and_finish(admin: Chat, confirmation: SentMessage, button: str) -> str:
    """Press Send (its label says the audience); the confirmation's text once it is done."""
    assert await admin.press(confirmation, button) == "Sending…"

    def progress() -> str:
        return admin.telegram.message(ADMIN_ID, confirmation.message_id).rendered or ""

    await admin.telegram.wait_until(
        lambda: "Broadcast finished" in progress(), timeout=30, what="the broadcast to finish"
    )
    return progress()


def assert_same(copy: SentMessage, original: dict[str, Any], kind: str) -> None:
    """A copy shows what the original showed: the same media, text or caption, formatting."""
    assert copy.kind == kind
    if kind == "text":
        assert (copy.rendered, copy.rendered_entities) == (original["text"], original["entities"])
    else:
        assert copy.media == original[kind]
        assert copy.rendered == original.get("caption")
        assert copy.rendered_entities == original.get("caption_entities", [])


async def test_a_formatted_text_a_photo_and_a_video_are_copied_to_every_user_as_they_are(
    bot: BotApp, telegram: FakeTelegram
) -> None:
    users = [3100 + n for n in range(4)]
    await meet(telegram, users)
    telegram.block(users[0])
    admin = Chat(telegram, ADMIN_ID)
    await admin.settle()  # the admin is a user too: they get the broadcast as well
    originals = [
        ("text", telegram.add_user_message(ADMIN_ID, text=FORMATTED, entities=FORMATTING)),
        (
            "photo",
            telegram.add_user_message(
                ADMIN_ID, photo=PHOTO, caption=CAPTION, caption_entities=CAPTION_FORMATTING
            ),
        ),
        ("video", telegram.add_user_message(ADMIN_ID, video=VIDEO)),
    ]
    audience = 5  # 4 users and the admin; after the first broadcast, the user who blocked it
    for kind, original in originals:
        # The admin first sees the copy users will get, then the confirmation, replying to it.
        shown, confirmation = await reply_broadcast(admin, original)
        assert_same(shown, original, kind)
        assert shown.copied_from == (ADMIN_ID, original["message_id"])
        assert confirmation.reply_to_message_id == shown.message_id
        assert (confirmation.rendered or "").startswith(
            f"Broadcast the message above to {audience} users"
        )
        assert [label for label, _ in telegram.buttons(ADMIN_ID, confirmation.message_id)] == [
            f"📣 Send to {audience} users",
            "✖ Cancel",
        ]
        assert not [m for u in users if (m := copies(telegram, u, original))]  # not yet sent

        final = await send_and_finish(admin, confirmation, "Send")
        blocked = 1 if kind == "text" else 0
        assert f"Sent: 4 · blocked the bot: {blocked} · failed: 0" in final
        assert telegram.buttons(ADMIN_ID, confirmation.message_id) == []
        for user in users[1:]:
            (copy,) = copies(telegram, user, original)
            assert_same(copy, original, kind)
        assert copies(telegram, users[0], original) == []  # blocked the bot
        assert len(copies(telegram, ADMIN_ID, original)) == 2  # the preview and their own
        audience = 4

    # Every broadcast went with copyMessage, from the admin's message; nothing was resent.
    calls = telegram.calls_to("copyMessage")
    assert len(calls) == (1 + 5) + (1 + 4) * 2  # a preview each; 5 sends, then 4 (one blocked)
    assert {c.params["from_chat_id"] for c in calls} == {ADMIN_ID}
    for user in users[1:]:  # the welcome, then the three copies
        assert [m.copied_from is not None for m in telegram.messages(user)] == [False] + [True] * 3


async def test_a_copied_broadcast_cut_off_by_a_restart_copies_the_same_message_once_each(
    start_bot: Callable[..., Any], telegram: FakeTelegram
) -> None:
    first: BotApp = await start_bot(broadcast_rate=10)
    users = [3200 + n for n in range(60)]
    await meet(telegram, users)
    admin = Chat(telegram, ADMIN_ID)
    photo = telegram.add_user_message(
        ADMIN_ID, photo=PHOTO, caption=CAPTION, caption_entities=CAPTION_FORMATTING
    )
    _, confirmation = await reply_broadcast(admin, photo)
    await admin.press(confirmation, "Send")

    def received() -> list[int]:
        return [len(copies(telegram, u, photo)) for u in users]

    await telegram.wait_until(lambda: sum(received()) >= 20, timeout=30)
    await first.stop()
    halfway = sum(received())
    assert halfway < 60

    await start_bot(broadcast_rate=25)
    await telegram.wait_until(
        lambda: (
            "Broadcast finished"
            in (telegram.message(ADMIN_ID, confirmation.message_id).rendered or "")
        ),
        timeout=30,
        what="the resumed broadcast to finish",
    )
    assert received() == [1] * 60  # the same photo, once each
    for user in users:
        assert_same(copies(telegram, user, photo)[0], photo, "photo")
    final = telegram.message(ADMIN_ID, confirmation.message_id).rendered or ""
    assert "Sent: 61 · blocked the bot: 0 · failed: 0" in final  # 60 users and the admin


async def test_a_copy_left_sending_by_a_crash_is_resumed_from_the_database(
    start_bot: Callable[..., Any], telegram: FakeTelegram, database: TestDatabase
) -> None:
    first: BotApp = await start_bot()
    users = [3300 + n for n in range(5)]
    await meet(telegram, users)
    video = telegram.add_user_message(ADMIN_ID, video=VIDEO, caption=CAPTION)
    await first.stop()
    with connect(database) as conn:  # as a kill -9 in the middle of sending leaves it
        conn.execute(
            "INSERT INTO broadcasts (id, admin_id, text, state, progress_chat_id, created_at, "
            "source_chat_id, source_message_id) VALUES (1, ?, '', 'sending', ?, 0, ?, ?)",
            (ADMIN_ID, ADMIN_ID, ADMIN_ID, video["message_id"]),
        )
        for n, user in enumerate(users):
            state = "sending" if n == 0 else "pending"
            conn.execute("INSERT INTO broadcast_recipients VALUES (1, ?, ?)", (user, state))
    await start_bot()
    await telegram.wait_until(lambda: all(copies(telegram, u, video) for u in users[1:]))
    await asyncio.sleep(0.3)
    assert [len(copies(telegram, u, video)) for u in users] == [0, 1, 1, 1, 1]
    assert_same(copies(telegram, users[1], video)[0], video, "video")
    with connect(database) as conn:
        (state,) = conn.execute("SELECT state FROM broadcasts").fetchone()
    assert state == "done"


async def test_a_text_broadcast_keeps_the_admins_formatting(
    bot: BotApp, telegram: FakeTelegram
) -> None:
    users = [3400, 3401]
    await meet(telegram, users)
    admin = Chat(telegram, ADMIN_ID)
    command = f"/broadcast {FORMATTED}"
    shift = len("/broadcast ")
    entities = [
        {"type": "bot_command", "offset": 0, "length": shift - 1},
        *({**e, "offset": e["offset"] + shift} for e in FORMATTING),
    ]
    preview = await admin.send(text=command, entities=entities)
    assert FORMATTED in (preview.rendered or "")
    quoted = (preview.rendered or "").index(FORMATTED)
    assert [  # the preview shows the formatting at the text's place in it
        {**e, "offset": e["offset"] - quoted}
        for e in preview.rendered_entities
        if e["offset"] >= quoted
    ] == FORMATTING
    final = await send_and_finish(admin, preview, "Send to 3 users")
    assert "Sent: 3 · blocked the bot: 0 · failed: 0" in final
    for user in [*users, ADMIN_ID]:
        (news,) = [m for m in telegram.messages(user) if m.rendered == FORMATTED]
        assert news.rendered_entities == FORMATTING
        assert news.copied_from is None  # sent with sendMessage, as HTML

    # Text too long to quote whole: the preview shows its start, the users get it whole.
    long_text = "Bold news " + "🎨" * 1990 + " end"
    length = len(long_text.encode("utf-16-le")) // 2  # 3,994: near Telegram's 4,096
    long_preview = await admin.send(
        text=f"/broadcast {long_text}",
        entities=[  # all of it in bold, the command too
            {"type": "bot_command", "offset": 0, "length": shift - 1},
            {"type": "bold", "offset": 0, "length": shift + length},
        ],
    )
    shown = long_preview.rendered or ""
    assert "shortened here, sent in full" in shown
    assert "Bold news 🎨" in shown
    assert " end" not in shown
    await send_and_finish(admin, long_preview, "Send")
    (whole,) = [m for m in telegram.messages(users[0]) if m.rendered == long_text]
    assert whole.rendered_entities == [{"type": "bold", "offset": 0, "length": length}]


async def test_broadcast_says_how_and_refuses_what_cannot_be_copied(
    bot: BotApp, telegram: FakeTelegram, database: TestDatabase
) -> None:
    admin = Chat(telegram, ADMIN_ID)
    usage = texts.admin_usage("broadcast")
    assert (await admin.say("/broadcast")).text == usage
    assert (await admin.say("/broadcast   ")).text == usage
    own = telegram.add_user_message(ADMIN_ID, text="Big news")
    both = await admin.send(text="/broadcast and this too", reply_to_message=own)
    assert both.text == usage  # a message to copy or a text to send: not both
    bots = {
        "message_id": both.message_id,
        "date": 0,
        "chat": own["chat"],
        "from": BOT_USER,
        "text": both.rendered,
    }
    assert (await admin.send(text="/broadcast", reply_to_message=bots)).text == usage

    service = telegram.add_user_message(ADMIN_ID, write_access_allowed={})
    refused = await admin.send(text="/broadcast", reply_to_message=service)
    assert refused.text == texts.broadcast_not_copied("Message can't be copied")  # as PTB says
    assert "can't be broadcast" in (refused.rendered or "")
    assert count_rows(database, "broadcasts") == 0
