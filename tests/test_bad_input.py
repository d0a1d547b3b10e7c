"""Bad input gets one clear sentence, no provider request, and no change to stored data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import PROMPT, USER_ID, VIDEO_URL, Chat


def stored(database: TestDatabase) -> list[tuple[Any, ...]]:
    """Every draft and task row, to compare before and after a bad message."""
    with connect(database) as conn:
        return [
            *conn.execute("SELECT * FROM drafts ORDER BY id"),
            *conn.execute("SELECT * FROM tasks ORDER BY id"),
        ]


BAD_TEXTS = [
    ("make it look like a watercolor painting", texts.no_link()),
    (f"ftp://videos.example.com/clip.mp4 {PROMPT}", texts.not_http()),
    (f"file:///etc/passwd {PROMPT}", texts.not_http()),
    (f"javascript:alert(document.cookie) {PROMPT}", texts.not_http()),
    (f"https:// {PROMPT}", texts.link_without_host()),
    (f"https:///clip.mp4 {PROMPT}", texts.link_without_host()),
    (f"http://exa%mple.com/clip.mp4 {PROMPT}", texts.link_without_host()),
    (f"{VIDEO_URL} " + "a" * 801, texts.prompt_too_long(801, 800)),
    (f"{VIDEO_URL} сделай как акварель", texts.prompt_not_english()),
    (f"{VIDEO_URL} 🎨🎨🎨 !!!", texts.prompt_no_words()),
    (f"{VIDEO_URL} https://two.example.com/b.mp4 {PROMPT}", texts.more_than_one_link()),
]


@pytest.mark.parametrize(("text", "answer"), BAD_TEXTS, ids=[a[:30] for _, a in BAD_TEXTS])
async def test_bad_text_is_explained_and_changes_nothing(
    bot: BotApp, kie: FakeKie, chat: Chat, database: TestDatabase, text: str, answer: str
) -> None:
    before = stored(database)
    reply = await chat.say(text)
    assert reply.text == answer
    assert stored(database) == before
    assert kie.requests == []


@pytest.mark.parametrize(("text", "answer"), BAD_TEXTS[1:], ids=[a[:30] for _, a in BAD_TEXTS[1:]])
async def test_bad_text_leaves_a_pending_card_as_it_was(
    bot: BotApp,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
    text: str,
    answer: str,
) -> None:
    card = await chat.card()
    await chat.settle()
    before = stored(database)
    assert (await chat.say(text)).text == answer
    assert stored(database) == before
    assert telegram.buttons(USER_ID, card.message_id) != []
    assert kie.requests == []


async def test_a_bad_prompt_after_a_link_keeps_the_link_waiting(
    bot: BotApp, kie: FakeKie, chat: Chat, database: TestDatabase
) -> None:
    await chat.say(VIDEO_URL)
    await chat.settle()
    before = stored(database)
    assert (await chat.say("!?")).text == texts.prompt_no_words()
    assert (await chat.say("x" * 900)).text == texts.prompt_too_long(900, 800)
    assert stored(database) == before
    card = await chat.say("make it sepia")
    assert "make it sepia" in (card.rendered or "")
    assert kie.requests == []


@pytest.mark.parametrize(
    ("fields", "answer"),
    [
        (
            {
                "sticker": {
                    "file_id": "s1",
                    "file_unique_id": "u1",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            texts.unsupported_message(),
        ),
        (
            {"voice": {"file_id": "v1", "file_unique_id": "u2", "duration": 3}},
            texts.unsupported_message(),
        ),
        (
            {"photo": [{"file_id": "p1", "file_unique_id": "u3", "width": 90, "height": 90}]},
            texts.unsupported_message(),
        ),
        ({"location": {"latitude": 52.5, "longitude": 13.4}}, texts.unsupported_message()),
    ],
)
async def test_other_kinds_of_message_are_explained(
    bot: BotApp,
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
    fields: dict[str, Any],
    answer: str,
) -> None:
    before = stored(database)
    reply = await chat.send(**fields)
    assert reply.text == answer
    assert stored(database) == before
    assert kie.requests == []


VIDEO_FILES = [
    {
        "video": {
            "file_id": "f1",
            "file_unique_id": "u4",
            "width": 640,
            "height": 360,
            "duration": 5,
        }
    },
    {
        "document": {
            "file_id": "d1",
            "file_unique_id": "u5",
            "file_name": "a.mp4",
            "mime_type": "video/mp4",
        }
    },
]


@pytest.mark.parametrize("fields", VIDEO_FILES)
async def test_files_are_refused_without_a_public_address_or_a_file_host(
    start_bot: Callable[..., Any],
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
    fields: dict[str, Any],
) -> None:
    await start_bot(kie_upload_url="")  # long polling, and KIE's File Upload API turned off
    before = stored(database)
    reply = await chat.send(**fields)
    assert reply.text == texts.uploads_need_webhook()
    assert stored(database) == before
    assert kie.requests == []


async def test_unknown_commands_and_bad_status_arguments(bot: BotApp, chat: Chat) -> None:
    assert (await chat.say("/frobnicate")).text == texts.unknown_command()
    assert (await chat.say("/status")).text == texts.status_usage()
    assert (await chat.say("/status twelve")).text == texts.status_usage()
    assert (await chat.say("/status ²")).text == texts.status_usage()  # a digit to str.isdigit
    assert (await chat.say("/status 99999999999999999999999")).text == texts.status_usage()
    assert (await chat.say("/status 7")).text == texts.task_not_found(7)
