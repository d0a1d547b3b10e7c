"""Editing the message a card answered (Telegram's edited message) changes the card, in the
same message; edits of other messages, and of a submitted request, change nothing."""

from __future__ import annotations

import asyncio

from bot import texts
from bot.app import BotApp
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import VIDEO_URL, Chat


def last_user_message(telegram: FakeTelegram, chat: Chat) -> int:
    return telegram.user_message_ids(chat.user_id)[-1]


async def test_editing_the_prompt_changes_the_card_in_place(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card(f"{VIDEO_URL} make it red")
    prompt_message = last_user_message(telegram, chat)
    before = chat.seen
    telegram.edit_user_message(chat.user_id, prompt_message, f"{VIDEO_URL} make it blue")
    await telegram.wait_until(
        lambda: "make it blue" in (telegram.message(chat.user_id, card.message_id).rendered or ""),
        what="the card to show the edited prompt",
    )
    assert chat.seen == before  # the same card, no new message
    await chat.press(telegram.message(chat.user_id, card.message_id), "Submit")
    (task,) = await kie.wait_for_task()
    assert task.prompt == "make it blue"


async def test_a_prompt_sent_after_the_link_is_edited_too_and_a_bad_edit_is_answered(
    bot: BotApp, telegram: FakeTelegram, chat: Chat
) -> None:
    await chat.say(VIDEO_URL)
    card = await chat.card("make it red")
    prompt_message = last_user_message(telegram, chat)
    telegram.edit_user_message(chat.user_id, prompt_message, "make it green")
    await telegram.wait_until(
        lambda: "make it green" in (telegram.message(chat.user_id, card.message_id).rendered or ""),
        what="the edited card",
    )
    before = chat.seen
    telegram.edit_user_message(chat.user_id, prompt_message, "🙂")
    problem = await chat.message_after(before)
    assert problem.text == texts.prompt_no_words()
    assert "make it green" in (telegram.message(chat.user_id, card.message_id).rendered or "")


async def test_edits_of_other_messages_or_after_submit_change_nothing(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await chat.say("/help")
    help_message = last_user_message(telegram, chat)
    card = await chat.card(f"{VIDEO_URL} make it red")
    prompt_message = last_user_message(telegram, chat)
    before = chat.seen
    telegram.edit_user_message(chat.user_id, help_message, "/tasks")
    await chat.press(card, "Submit")
    (task,) = await kie.wait_for_task()
    telegram.edit_user_message(chat.user_id, prompt_message, f"{VIDEO_URL} make it blue")
    await asyncio.sleep(0.3)
    await chat.settle()
    assert task.prompt == "make it red"
    assert len(kie.tasks) == 1
    texts_after = [m.text for m in telegram.messages(chat.user_id)[before:]]
    assert all("make it blue" not in (t or "") for t in texts_after)
    assert not any((t or "").startswith("#1") for t in texts_after)
