"""A task still waiting to start can be cancelled from its card, which gives back its place in
the user's limits; once at the provider it cannot, and the card says so."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot import texts
from bot.app import BotApp
from bot.domain.records import TaskState
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import OTHER_USER_ID, Chat


async def submitted(chat: Chat, prompt: str) -> SentMessage:
    """Submit a card; return it (it is the task's status card from then on)."""
    card = await chat.card(f"https://v.example.com/{prompt.replace(' ', '-')}.mp4 {prompt}")
    assert await chat.press(card, "Submit") == texts.toast_submitted()
    return card


async def test_a_queued_task_is_cancelled_from_its_card_and_gives_its_place_back(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(max_concurrent_tasks=1, daily_task_limit=2, max_active_tasks_per_user=2)
    running = await submitted(chat, "make it red")
    (first,) = await kie.wait_for_task()
    queued = await submitted(chat, "make it blue")
    await chat.wait_for_text("Place in the queue")
    labels = [label for label, _ in telegram.buttons(chat.user_id, queued.message_id)]
    assert labels == [texts.button_cancel_task()]
    assert telegram.buttons(chat.user_id, running.message_id) == []  # at the provider: none

    assert await chat.press(queued, "Cancel") == texts.toast_task_cancelled()
    card = telegram.message(chat.user_id, queued.message_id).rendered or ""
    assert texts.state_label(TaskState.CANCELLED) in card
    assert telegram.buttons(chat.user_id, queued.message_id) == []
    # Its place in the day's limit (2) and among the active tasks (2) is free again.
    third = await submitted(chat, "make it green")
    kie.complete(first.task_id)
    await kie.wait_for_task(count=2)
    await asyncio.sleep(0.3)
    assert [t.prompt for t in kie.tasks.values()] == ["make it red", "make it green"]
    assert third.message_id != queued.message_id
    # A second press on the cancelled card changes nothing.
    assert await chat.press_data(queued.message_id, f"stop:{2}") == texts.toast_card_gone()


async def test_a_task_at_the_provider_cannot_be_cancelled_and_others_tasks_are_not_touched(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await submitted(chat, "make it red")
    await kie.wait_for_task()
    await chat.wait_for_text("Processing")
    assert "can no longer be stopped" in (
        telegram.message(chat.user_id, card.message_id).rendered or ""
    )
    # A stale press (the button was on the card while it waited) says it is too late.
    toast = await chat.press_data(card.message_id, "stop:1")
    assert toast == texts.toast_too_late_to_cancel()
    other = Chat(telegram, OTHER_USER_ID)
    await other.say("/start")
    other_card = await submitted(other, "make it blue")
    assert await chat.press_data(card.message_id, "stop:2") == texts.toast_card_gone()
    assert "Cancelled" not in (
        telegram.message(OTHER_USER_ID, other_card.message_id).rendered or ""
    )


async def test_the_cancel_button_works_after_a_restart(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    first: BotApp = await start_bot(max_concurrent_tasks=1)
    await submitted(chat, "make it red")
    await kie.wait_for_task()
    queued = await submitted(chat, "make it blue")
    await chat.wait_for_text("Place in the queue")
    await first.stop()
    await start_bot(max_concurrent_tasks=1)
    assert await chat.press(queued, "Cancel") == texts.toast_task_cancelled()
    await asyncio.sleep(0.3)
    assert len(kie.tasks) == 1
