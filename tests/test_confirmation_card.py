"""The confirmation card: nothing is spent before Submit, and one card makes at most one task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.app import BotApp
from tests.database import TestDatabase
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import PROMPT, USER_ID, VIDEO_URL, Chat, count_rows


async def test_pressing_submit_twice_fast_sends_one_request(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card()
    data = chat.button_data(card, "Submit")
    first = telegram.press_button(USER_ID, card.message_id, data)
    second = telegram.press_button(USER_ID, card.message_id, data)
    await telegram.wait_for("answerCallbackQuery", count=2)
    await kie.wait_for_task()
    await chat.wait_for_text("Processing")
    assert len(kie.generate_requests()) == 1
    answers = [telegram.callback_answer(q) for q in (first, second)]
    texts = [str(a.params.get("text")) for a in answers if a is not None]
    assert texts == ["Submitted.", "Already submitted as task #1."]


async def test_an_old_cards_submit_after_a_restart_sends_nothing_more(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    first: BotApp = await start_bot()
    card = await chat.card()
    data = chat.button_data(card, "Submit")
    await chat.press(card, "Submit")
    await kie.wait_for_task()
    await first.stop()

    await start_bot()
    # The user taps the button they still see on the old card.
    assert await chat.press_data(card.message_id, data) == "Already submitted as task #1."
    assert len(kie.generate_requests()) == 1


async def test_cancel_closes_the_card_and_spends_nothing(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card()
    submit = chat.button_data(card, "Submit")
    assert await chat.press(card, "Cancel") == "Cancelled."
    assert "Cancelled" in (telegram.message(USER_ID, card.message_id).rendered or "")
    assert telegram.buttons(USER_ID, card.message_id) == []
    # A stale client may still show the buttons and send a tap.
    assert await chat.press_data(card.message_id, submit) == "This request is no longer open."
    assert kie.generate_requests() == []


async def test_a_second_link_replaces_the_pending_card(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, database: TestDatabase
) -> None:
    old = await chat.card()
    old_submit = chat.button_data(old, "Submit")
    new = await chat.card(f"https://other.example.com/b.mp4 {PROMPT}")
    assert "replaces your previous request" in (new.rendered or "")
    # The old card is not edited at once (that would cost a Bot API call per message) ...
    assert telegram.calls_to("editMessageText") == []
    # The old card's data sent from the new card (a forged press) leaves the new card alone ...
    assert await chat.press_data(new.message_id, old_submit) == "This request is no longer open."
    # ... and a press on the old card says so, and takes its buttons.
    assert await chat.press_data(old.message_id, old_submit) == "This request is no longer open."
    await telegram.wait_until(
        lambda: "replaced" in (telegram.message(USER_ID, old.message_id).rendered or "")
    )
    assert telegram.buttons(USER_ID, old.message_id) == []
    # Updates of one chat are handled in order: the forged press is done with by now.
    assert len(telegram.buttons(USER_ID, new.message_id)) == 2
    await chat.press(new, "Submit")
    (task,) = await kie.wait_for_task()
    assert task.video_url == "https://other.example.com/b.mp4"
    assert len(kie.generate_requests()) == 1
    assert count_rows(database, "tasks") == 1


async def test_a_new_prompt_while_a_card_shows_makes_a_new_card_for_the_same_link(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await chat.card()
    new = await chat.card("make it snow instead")
    await chat.press(new, "Submit")
    (task,) = await kie.wait_for_task()
    assert (task.video_url, task.prompt) == (VIDEO_URL, "make it snow instead")


async def test_button_data_the_bot_never_made_is_refused_politely(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card()
    for data in ("submit:999999", "submit:abc", "rm -rf", "cancel:-1"):
        assert await chat.press_data(card.message_id, data) == "This request is no longer open."
    assert kie.generate_requests() == []


async def test_another_users_button_press_does_not_submit_the_card(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card()
    data = chat.button_data(card, "Submit")
    # A forged callback from another user carrying this card's data.
    stranger = Chat(telegram, 4242)
    their_message = await stranger.say("/help")
    assert await stranger.press_data(their_message.message_id, data) == (
        "This request is no longer open."
    )
    assert kie.generate_requests() == []
