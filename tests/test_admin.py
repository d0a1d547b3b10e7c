"""Operators' commands: only admins have them; bans, limits, maintenance, access, task tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from handlers import ADMIN_COMMANDS
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, OTHER_USER_ID, USER_ID, Chat


def users_table(database: TestDatabase) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return list(conn.execute("SELECT id, access, banned_at, daily_limit FROM users"))


@pytest.fixture
def admin(telegram: FakeTelegram) -> Chat:
    return Chat(telegram, ADMIN_ID)


@pytest.mark.parametrize("command", sorted(ADMIN_COMMANDS))
async def test_a_non_admin_gets_the_unknown_command_answer_and_nothing_changes(
    bot: BotApp, kie: FakeKie, chat: Chat, database: TestDatabase, command: str
) -> None:
    await chat.say("/start")
    before = users_table(database)
    reply = await chat.say(f"/{command} {USER_ID} 5")
    assert reply.text == texts.unknown_command()
    assert users_table(database) == before


async def test_admins_get_the_admin_menu_and_others_do_not(
    bot: BotApp, telegram: FakeTelegram
) -> None:
    everyone = [c["command"] for c in telegram.commands({"type": "all_private_chats"})]
    admin_menu = [c["command"] for c in telegram.commands({"type": "chat", "chat_id": ADMIN_ID})]
    assert "stats" not in everyone
    assert {"stats", "ban", "broadcast", "maintenance"} <= set(admin_menu)
    assert set(everyone) <= set(admin_menu)
    assert "refund" not in admin_menu  # with payments off, not the money commands


def test_the_admin_menu_lists_every_admin_command_and_each_but_stats_has_a_usage() -> None:
    assert {name for name, _ in texts.admin_commands()} == set(ADMIN_COMMANDS)
    for name in set(ADMIN_COMMANDS) - {"stats"}:
        assert texts.admin_usage(name).startswith(f"Usage: /{name} ")


async def test_stats_user_and_task(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    await chat.press(await chat.card(), "Submit")
    (job,) = await kie.wait_for_task()
    kie.complete(job.task_id)
    await chat.wait_for_text("Done")
    stats = (await admin.say("/stats")).rendered or ""
    assert "Users: 2 in all" in stats  # the user and the admin
    assert "✅ Done: 1 / 1 / 1" in stats
    assert "Success rate (all): 100% of 1 ended" in stats
    assert "Processing time (7 d): median" in stats
    assert "Queue: 0 waiting · 0 at the provider (at most 10)" in stats
    assert "Credits at KIE.ai: 100" in stats

    for who in (str(USER_ID), "@tester", "@TESTER"):
        profile = (await admin.say(f"/user {who}")).rendered or ""
        assert f"({USER_ID})" in profile
        assert "Daily limit: 10 (default)" in profile
        assert "#1" in profile
    assert (await admin.say("/user 424242")).text == texts.admin_no_such_user("424242")

    detail = (await admin.say("/task 1")).rendered or ""
    assert job.task_id in detail
    assert "Delivered" in detail
    assert (await admin.say("/task 99")).text == texts.admin_no_such_task(99)
    assert (await admin.say("/task")).text == texts.admin_usage("task")

    assert "sent again" in ((await admin.say("/redeliver 1")).rendered or "")
    assert len(chat.videos()) == 2


async def test_a_banned_user_is_refused_politely_but_their_running_task_is_delivered(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    card = await chat.card()
    await chat.press(card, "Submit")
    (job,) = await kie.wait_for_task()
    second_card = await chat.card("https://v.example.com/b.mp4 make it blue")
    banned = (await admin.say(f"/ban {USER_ID} spamming")).rendered or ""
    assert "is banned (spamming)" in banned

    assert (await chat.say("/start")).text == texts.banned()
    assert (await chat.say("https://v.example.com/c.mp4 red")).text == texts.banned()
    assert await chat.press(second_card, "Submit") == texts.banned()
    kie.complete(job.task_id)
    await telegram.wait_for("sendVideo")  # the running task still finishes
    assert len(kie.generate_requests()) == 1

    assert "no longer banned" in ((await admin.say(f"/unban {USER_ID}")).rendered or "")
    assert "Hi Test" in ((await chat.say("/start")).rendered or "")
    assert "was not banned" in ((await admin.say(f"/unban {USER_ID}")).rendered or "")


async def test_a_users_own_daily_limit_and_going_back_to_the_default(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    await start_bot(daily_task_limit=5, max_active_tasks_per_user=5)
    await chat.say("/start")
    assert "may now start 1 task a day" in ((await admin.say(f"/limit {USER_ID} 1")).rendered or "")
    await chat.press(await chat.card(), "Submit")
    await kie.wait_for_task()
    assert await chat.press(await chat.card(), "Submit") == texts.toast_not_now()
    await chat.wait_for_text("the daily limit")
    assert "may now start 5" in ((await admin.say(f"/limit {USER_ID} default")).rendered or "")
    assert await chat.press(await chat.card(), "Submit") == texts.toast_submitted()
    assert (await admin.say(f"/limit {USER_ID} lots")).text == texts.admin_usage("limit")


async def test_maintenance_refuses_new_tasks_while_running_ones_finish(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    await chat.press(await chat.card(), "Submit")
    (job,) = await kie.wait_for_task()
    on = (await admin.say("/maintenance on Back at 15:00 UTC <b>promise</b>")).rendered or ""
    assert "Maintenance is on" in on
    assert await chat.press(await chat.card(), "Submit") == texts.toast_not_now()
    notice = await chat.wait_for_text("Back at 15:00 UTC")
    assert "<b>promise</b>" in (notice.rendered or "")  # shown as typed, not as markup
    kie.complete(job.task_id)
    await telegram.wait_for("sendVideo")
    assert await admin.press(await admin.card(), "Submit") == texts.toast_submitted()  # admins may

    assert (await admin.say("/maintenance off")).text == texts.admin_maintenance_off()
    assert await chat.press(await chat.card(), "Submit") == texts.toast_submitted()
    assert (await admin.say("/maintenance maybe")).text == texts.admin_usage("maintenance")


async def test_allowlist_mode_asks_the_admins_and_follows_their_decision(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    await start_bot(access_mode="allowlist")
    assert (await chat.say("/start")).text == texts.access_asked()
    request = await admin.wait_for_text("asks to use the bot")
    assert (await chat.say("https://v.example.com/a.mp4 red")).text == texts.access_waiting()
    assert len([m for m in telegram.messages(ADMIN_ID) if "asks to use" in (m.rendered or "")]) == 1

    # Someone who is not an admin cannot press the admin's button (forged button data).
    stranger = Chat(telegram, OTHER_USER_ID)
    await stranger.say("/start")
    reply = await stranger.press_data(
        (await stranger.say("/help")).message_id, f"access:{USER_ID}:allow"
    )
    assert reply == texts.access_waiting()  # the stranger is stopped at the gate, unapproved
    assert await admin.press(request, "Approve") == ""
    assert "allowed by" in (telegram.message(ADMIN_ID, request.message_id).rendered or "")
    await chat.wait_for_text(texts.access_granted())
    await chat.press(await chat.card(), "Submit")
    await kie.wait_for_task()

    assert "denied by" in ((await admin.say(f"/deny {USER_ID}")).rendered or "")
    assert (await chat.say("/start")).text == texts.access_denied()
    assert "allowed by" in ((await admin.say("/allow @tester")).rendered or "")
    assert "Hi Test" in ((await chat.say("/start")).rendered or "")


async def test_a_banned_users_button_press_stays_stopped_even_if_the_refusal_fails(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    card = await chat.card()
    await admin.say(f"/ban {USER_ID}")
    telegram.fail_next(
        "answerCallbackQuery",
        error_code=400,
        description="Bad Request: query is too old and response timeout expired",
    )
    telegram.press_button(USER_ID, card.message_id, chat.button_data(card, "Submit"))
    await telegram.wait_for("answerCallbackQuery")
    await admin.say("/help")  # let the bot finish with the press
    assert kie.generate_requests() == []


async def test_the_first_admin_to_decide_a_request_decides_it(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    await start_bot(access_mode="allowlist", admin_ids="900,901")
    first, second = Chat(telegram, ADMIN_ID), Chat(telegram, 901)
    await chat.say("/start")
    request_one = await first.wait_for_text("asks to use the bot")
    request_two = await second.wait_for_text("asks to use the bot")
    await first.press(request_one, "Approve")
    await second.press(request_two, "Deny")
    assert "already allowed" in (telegram.message(901, request_two.message_id).rendered or "")
    await first.press_data(request_one.message_id, f"access:{USER_ID}:allow")  # a double tap
    granted = [m for m in telegram.messages(USER_ID) if m.text == texts.access_granted()]
    assert len(granted) == 1
    assert "Hi Test" in ((await chat.say("/start")).rendered or "")


async def test_a_username_belongs_to_its_newest_holder(
    bot: BotApp, telegram: FakeTelegram, admin: Chat
) -> None:
    telegram.send_message(1001, "/start", username="bob")
    telegram.send_message(1002, "/help", username="other")
    await telegram.wait_for("sendMessage", count=2)
    telegram.send_message(1002, "/help", username="Bob")  # 1001 gave the name up; 1002 took it
    await telegram.wait_for("sendMessage", count=3)
    assert "(1002)" in ((await admin.say("/ban @bob")).rendered or "")


async def test_someone_who_never_wrote_can_be_banned_or_allowed_ahead(
    start_bot: Callable[..., Any], telegram: FakeTelegram, admin: Chat
) -> None:
    await start_bot(access_mode="allowlist")
    assert "is banned" in ((await admin.say("/ban 555")).rendered or "")
    assert "allowed by" in ((await admin.say("/allow 556")).rendered or "")
    assert (await Chat(telegram, 555).say("/start")).text == texts.banned()
    assert "Hi Test" in ((await Chat(telegram, 556).say("/start")).rendered or "")
    assert (await admin.say("/user 557")).text == texts.admin_no_such_user("557")  # only looks
