"""Editing the message a card answered (Telegram's edited message) changes the card, in the
same message; edits of other messages, and of a submitted request, change nothing."""

from __future__ import annotations

import asyncio

from bot import texts
from bot.app import BotApp
from bot.providers.kie import capabilities
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
    # The one new message is /help's answer (settle): neither edit got a reply of its own, nor
    # ran /tasks again, nor made a card.
    after = telegram.messages(chat.user_id)[before:]
    assert len(after) == 1
    assert (after[0].text or "").startswith(texts.help_text(capabilities("KIE.ai"))[:40])


async def test_a_late_press_of_the_old_buttons_leaves_the_edited_card_alone(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    """The old card's Submit, pressed before the edit showed (its draft is #1), says the card
    is gone; it must not retire the message, which now shows the new card (#2)."""
    card = await chat.card(f"{VIDEO_URL} make it red")
    telegram.edit_user_message(
        chat.user_id, last_user_message(telegram, chat), f"{VIDEO_URL} make it blue"
    )
    await telegram.wait_until(
        lambda: "make it blue" in (telegram.message(chat.user_id, card.message_id).rendered or ""),
        what="the edited card",
    )
    assert await chat.press_data(card.message_id, "submit:1") == texts.toast_card_gone()
    await chat.settle()  # the press is handled to its end (the toast comes first)
    shown = telegram.message(chat.user_id, card.message_id)
    assert "make it blue" in (shown.rendered or "")
    assert telegram.buttons(chat.user_id, card.message_id)  # still the new card's buttons
    await chat.press(shown, "Submit")
    (task,) = await kie.wait_for_task()
    assert task.prompt == "make it blue"
