"""The fair queue under a provider cap, and broadcasts within Telegram's limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.app import BotApp
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import ADMIN_ID, Chat

NEWS = "Big news: version 2 is out & <it works>"


async def test_25_tasks_from_5_users_never_exceed_the_cap_and_keep_their_order(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie
) -> None:
    await start_bot(max_concurrent_tasks=10, max_active_tasks_per_user=5, daily_task_limit=50)
    chats = [Chat(telegram, 2000 + n) for n in range(5)]
    order: list[str] = []
    cards: list[tuple[Chat, SentMessage]] = []
    for _ in range(5):
        for chat in chats:  # the users take turns
            prompt = f"make it red, take {len(order)}"
            card = await chat.card(f"https://v.example.com/{len(order)}.mp4 {prompt}")
            await chat.press(card, "Submit")
            order.append(prompt)
            cards.append((chat, card))
    await kie.wait_for_task(count=10)
    await asyncio.sleep(0.5)
    assert len(kie.tasks) == 10  # the other 15 wait
    eleventh, last = cards[10], cards[24]
    await eleventh[0].wait_for_text("Place in the queue: 1.")
    await last[0].wait_for_text("Place in the queue: 15.")

    for finished in range(25):
        running = [task for task in kie.tasks.values() if task.success_flag == 0]
        assert len(running) <= 10
        kie.complete(running[0].task_id)
        if len(kie.tasks) < 25:
            await kie.wait_for_task(count=11 + finished)
    started = [task.prompt for task in kie.tasks.values()]
    # The first ten had free slots and went out together: the provider may get them in any
    # order. The other fifteen each waited for a slot: first come, first served.
    assert sorted(started[:10]) == sorted(order[:10])
    assert started[10:] == order[10:]
    await telegram.wait_for("sendVideo", count=25, timeout=30)


async def meet(telegram: FakeTelegram, users: list[int]) -> None:
    """Each user starts the bot (so it knows them) and gets the welcome."""
    for user in users:
        telegram.send_message(user, "/start", username=f"user{user}")
    await telegram.wait_until(
        lambda: all(telegram.messages(u) for u in users), timeout=30, what="every welcome"
    )


def received_news(telegram: FakeTelegram, user: int) -> int:
    return sum(1 for m in telegram.messages(user) if (m.rendered or "").startswith("Big news"))


async def test_a_broadcast_reaches_everyone_once_skips_who_blocked_and_waits_out_flood_control(
    bot: BotApp, telegram: FakeTelegram
) -> None:
    users = [3000 + n for n in range(100)]
    await meet(telegram, users)
    for user in users[:10]:
        telegram.block(user)
    telegram.fail_next(
        "sendMessage",
        error_code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        chat_id=users[50],
    )
    admin = Chat(telegram, ADMIN_ID)
    preview = await admin.say(f"/broadcast {NEWS}")
    assert NEWS in (preview.rendered or "")
    assert await admin.press(preview, "Send to 101 users") == "Sending…"
    await telegram.wait_until(
        lambda: "finished" in (telegram.message(ADMIN_ID, preview.message_id).rendered or ""),
        timeout=60,
        what="the broadcast to finish",
    )
    final = telegram.message(ADMIN_ID, preview.message_id).rendered or ""
    assert "Sent: 91 · blocked the bot: 10 · failed: 0" in final
    assert [received_news(telegram, u) for u in users[10:]] == [1] * 90
    assert received_news(telegram, ADMIN_ID) == 1
    attempts = telegram.calls_to("sendMessage", chat_id=users[50])
    assert len([c for c in attempts if str(c.params.get("text", "")).startswith("Big")]) == 2

    # Who blocked the bot is skipped next time.
    again = await admin.say("/broadcast Another note")
    assert ("📣 Send to 91 users", "bcast:2:send") in telegram.buttons(ADMIN_ID, again.message_id)
    assert await admin.press(again, "Cancel") == ""
    assert "cancelled" in (telegram.message(ADMIN_ID, again.message_id).rendered or "")


async def test_a_broadcast_cut_off_by_a_restart_resumes_and_sends_no_one_twice(
    start_bot: Callable[..., Any], telegram: FakeTelegram
) -> None:
    first: BotApp = await start_bot(broadcast_rate=10)
    users = [4000 + n for n in range(100)]
    await meet(telegram, users)
    admin = Chat(telegram, ADMIN_ID)
    preview = await admin.say(f"/broadcast {NEWS}")
    await admin.press(preview, "Send")
    await telegram.wait_until(
        lambda: sum(received_news(telegram, u) for u in users) >= 30, timeout=30
    )
    await first.stop()
    halfway = sum(received_news(telegram, u) for u in users)
    assert halfway < 100

    await start_bot(broadcast_rate=25)
    await telegram.wait_until(
        lambda: "finished" in (telegram.message(ADMIN_ID, preview.message_id).rendered or ""),
        timeout=60,
        what="the resumed broadcast to finish",
    )
    counts = [received_news(telegram, u) for u in [*users, ADMIN_ID]]
    assert max(counts) == 1  # no one twice
    final = telegram.message(ADMIN_ID, preview.message_id).rendered or ""
    assert "Sent: 101 · blocked the bot: 0 · failed: 0" in final  # 100 users and the admin
    assert sum(counts) == 101


async def test_recipients_a_crash_caught_mid_send_are_not_sent_again(
    start_bot: Callable[..., Any], telegram: FakeTelegram, database: TestDatabase
) -> None:
    first: BotApp = await start_bot()
    users = [5000 + n for n in range(6)]
    await meet(telegram, users)
    await first.stop()
    with connect(database) as conn:  # as a kill -9 in the middle of sending leaves it
        conn.execute(
            "INSERT INTO broadcasts (id, admin_id, text, state, progress_chat_id, created_at) "
            "VALUES (1, ?, 'Big news, again', 'sending', ?, 0)",
            (ADMIN_ID, ADMIN_ID),
        )
        for n, user in enumerate(users):
            state = "sending" if n < 2 else "pending"
            conn.execute("INSERT INTO broadcast_recipients VALUES (1, ?, ?)", (user, state))
    await start_bot()
    await telegram.wait_until(lambda: all(received_news(telegram, u) for u in users[2:]))
    await asyncio.sleep(0.3)
    assert [received_news(telegram, u) for u in users] == [0, 0, 1, 1, 1, 1]
    with connect(database) as conn:
        states = dict(conn.execute("SELECT user_id, state FROM broadcast_recipients"))
        (broadcast_state,) = conn.execute("SELECT state FROM broadcasts").fetchone()
    assert [states[u] for u in users] == ["failed", "failed", "sent", "sent", "sent", "sent"]
    assert broadcast_state == "done"


async def test_broadcasts_keep_within_telegrams_rate_in_every_second(
    bot: BotApp, telegram: FakeTelegram
) -> None:
    users = [6000 + n for n in range(100)]
    await meet(telegram, users)
    admin = Chat(telegram, ADMIN_ID)
    await admin.press(await admin.say("/broadcast Big news, at a steady pace"), "Send")
    await telegram.wait_until(
        lambda: sum(received_news(telegram, u) for u in users) == 100, timeout=30
    )
    times = sorted(
        c.at
        for c in telegram.calls_to("sendMessage")
        if str(c.params.get("text")).startswith("Big")
    )
    busiest = max(len([t for t in times[i:] if t - start < 1.0]) for i, start in enumerate(times))
    assert busiest <= 30  # Telegram's limit is about 30 messages a second
    rate = (len(times) - 25) / (times[-1] - times[0])  # after the first second's allowance
    assert rate <= 25 * 1.05  # BROADCAST_RATE, 25 a second


async def test_in_allowlist_mode_only_approved_users_get_broadcasts(
    start_bot: Callable[..., Any], telegram: FakeTelegram
) -> None:
    await start_bot(access_mode="allowlist")
    admin = Chat(telegram, ADMIN_ID)
    await meet(telegram, [7001, 7002, 7003])  # all three ask; only one is let in
    await telegram.wait_until(
        lambda: len([m for m in telegram.messages(ADMIN_ID) if "asks" in (m.rendered or "")]) == 3
    )
    await admin.say("/allow 7001")
    await admin.say("/deny 7002")
    preview = await admin.say("/broadcast Big news: members only")
    assert "Send to 2 users" in telegram.buttons(ADMIN_ID, preview.message_id)[0][0]
    await admin.press(preview, "Send")
    await telegram.wait_until(lambda: received_news(telegram, 7001) == 1)
    await asyncio.sleep(0.3)
    assert [received_news(telegram, u) for u in (7001, 7002, 7003)] == [1, 0, 0]


async def test_someone_no_longer_an_admin_cannot_send_their_old_draft(
    start_bot: Callable[..., Any], telegram: FakeTelegram
) -> None:
    first: BotApp = await start_bot()
    await meet(telegram, [8001])
    admin = Chat(telegram, ADMIN_ID)
    preview = await admin.say("/broadcast Big news from the past")
    await first.stop()
    await start_bot(admin_ids="901")
    assert await admin.press(preview, "Send") != "Sending…"
    await asyncio.sleep(0.3)
    assert received_news(telegram, 8001) == 0


async def test_a_task_with_an_unknown_outcome_keeps_its_provider_slot(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie
) -> None:
    await start_bot(max_concurrent_tasks=1, provider_timeout_seconds=0.5)
    kie.hang_next_generate(2.0, accept=True)  # taken, but the answer comes too late
    first, second = Chat(telegram, 9001), Chat(telegram, 9002)
    await first.press(await first.card(), "Submit")
    await first.wait_for_text("charging you twice")
    await second.press(await second.card(), "Submit")
    await asyncio.sleep(1.0)
    assert len(kie.generate_requests()) == 1  # the slot may still be in use at the provider
