"""A user's own tasks (/tasks, /status), and the per-user limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot import texts
from bot.app import BotApp
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, OTHER_USER_ID, Chat


async def test_status_shows_own_tasks_and_hides_other_users_tasks(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await chat.press(await chat.card(), "Submit")
    await kie.wait_for_task()
    mine = (await chat.say("/status 1")).rendered or ""
    assert "Task #1" in mine
    assert "watercolor" in mine

    other = Chat(telegram, OTHER_USER_ID)
    assert (await other.say("/status 1")).text == texts.task_not_found(1)
    listing = (await other.say("/tasks")).text or ""
    assert listing == f"{texts.no_tasks()}\n\n{texts.standing(0, 10, 0, 2)}"
    assert (await other.say("/status #1")).text == texts.task_not_found(1)


async def test_tasks_lists_recent_tasks_newest_first(bot: BotApp, kie: FakeKie, chat: Chat) -> None:
    for prompt in ("make it red", "make it blue"):
        await chat.press(await chat.card(f"https://v.example.com/a.mp4 {prompt}"), "Submit")
    await kie.wait_for_task(count=2)
    listing = (await chat.say("/tasks")).rendered or ""
    assert listing.index("#2") < listing.index("#1")
    assert "make it blue" in listing


async def test_active_task_limit_refuses_with_a_sentence_and_keeps_the_card(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(max_active_tasks_per_user=1)
    await chat.press(await chat.card(), "Submit")
    (first,) = await kie.wait_for_task()
    second = await chat.card("https://v.example.com/b.mp4 make it blue")
    assert await chat.press(second, "Submit") == texts.toast_not_now()
    notice = await chat.wait_for_text("the limit is 1")
    assert "#1" in (notice.rendered or "")
    assert len(kie.generate_requests()) == 1

    kie.complete(first.task_id)  # once the first is delivered, the kept card can go
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")
    assert await chat.press(second, "Submit") == texts.toast_submitted()
    await kie.wait_for_task(count=2)


async def test_daily_limit_counts_started_tasks_and_says_when_to_come_back(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat
) -> None:
    await start_bot(daily_task_limit=1)
    await chat.press(await chat.card(), "Submit")
    (first,) = await kie.wait_for_task()
    kie.complete(first.task_id)
    await chat.wait_for_text("Done")
    assert await chat.press(await chat.card(), "Submit") == texts.toast_not_now()
    notice = await chat.wait_for_text("daily limit")
    assert "00:00 UTC" in (notice.rendered or "")
    assert len(kie.generate_requests()) == 1


async def test_tasks_the_provider_refused_do_not_count_towards_the_daily_limit(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat
) -> None:
    await start_bot(daily_task_limit=1)
    kie.refuse_next_generate(402, "Credits insufficient")
    await chat.press(await chat.card(), "Submit")
    await chat.wait_for_text("failed")
    assert await chat.press(await chat.card(), "Submit") == texts.toast_submitted()
    await kie.wait_for_task()


async def test_admins_are_exempt_from_the_limits(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie
) -> None:
    await start_bot(daily_task_limit=1, max_active_tasks_per_user=1)
    admin = Chat(telegram, ADMIN_ID)
    for n in range(3):
        answer = await admin.press(await admin.card(f"https://v.example.com/{n}.mp4 red"), "Submit")
        assert answer == texts.toast_submitted()
    await kie.wait_for_task(count=3)


async def test_the_card_tasks_and_help_show_where_the_user_stands(
    bot: BotApp, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card()
    assert texts.standing(0, 10, 0, 2) in (card.text or "")  # "Today: 0 of 10 · running: 0 of 2"
    await chat.press(card, "Submit")
    await kie.wait_for_task()
    assert texts.standing(1, 10, 1, 2) in ((await chat.say("/tasks")).text or "")
    assert texts.standing(1, 10, 1, 2) in ((await chat.say("/help")).text or "")
    admin = Chat(chat.telegram, ADMIN_ID)
    assert "Today:" not in ((await admin.say("/help")).text or "")  # admins have no limits
    await admin.say(f"/limit {chat.user_id} 5")  # the user's own daily limit
    assert texts.standing(1, 5, 1, 2) in ((await chat.say("/tasks")).text or "")
