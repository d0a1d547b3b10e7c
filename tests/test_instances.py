"""Several instances on one PostgreSQL database: one polls Telegram, the tracker's work is
shared by leases (tasks.lease_owner), and what a dead instance held is taken over."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, cast

import pytest

from bot.app import BotApp
from bot.domain.cancelling import cancel_and_wait
from bot.instances import InstanceLife
from bot.sends import SharedSends
from bot.services.tasks.recovery import Recovery
from storage.db import Database
from storage.instances import POLLING_LEASE, InstanceRepository, LeaseRepository
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, OTHER_USER_ID, USER_ID, Chat
from tests.test_queue_and_broadcast import NEWS, meet, received_news
from tests.test_webhook import webhook_settings

pytestmark = pytest.mark.engines("postgresql")

TIMEOUT = "4"  # INSTANCE_TIMEOUT_SECONDS: a heartbeat a second


def polling(app: BotApp) -> bool:
    updater = app.application.updater
    return updater is not None and updater.running


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def held_by_a_dead_instance(database: TestDatabase, mode: str) -> str:
    """Every task held by an instance last seen a second ago (a stopped bot's rows put back as
    a killed one would have left them); its id."""
    dead = "dead-host:1:beef"
    with connect(database) as conn:
        conn.execute(
            "INSERT INTO instances (id, host, pid, mode, started_at, seen_at) "
            "VALUES (?, 'dead-host', 1, ?, ?, ?)",
            (dead, mode, time.time() - 60, time.time() - 1),
        )
        conn.execute("UPDATE tasks SET lease_owner = ?", (dead,))
    return dead


async def test_two_instances_one_polls_and_every_task_is_sent_and_delivered_once(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    database: TestDatabase,
) -> None:
    first: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)
    second: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)
    await until(lambda: polling(first) or polling(second))
    await asyncio.sleep(2.5)  # a leadership check of each: still one poller
    assert [polling(first), polling(second)].count(True) == 1

    chats = [Chat(telegram, USER_ID), Chat(telegram, OTHER_USER_ID)]
    for chat in chats:
        for _ in range(2):
            await chat.press(await chat.card(), "Submit")
    jobs = await kie.wait_for_task(count=4)
    for job in jobs:
        kie.complete(job.task_id)
    await until(lambda: sum(len(chat.videos()) for chat in chats) == 4, timeout=30)
    await asyncio.sleep(1.0)  # room for a second delivery, were there one
    assert [len(chat.videos()) for chat in chats] == [2, 2]
    assert len(kie.generate_requests()) == 4
    with connect(database) as conn:
        owners = {row[0] for row in conn.execute("SELECT lease_owner FROM tasks")}
    assert owners <= {first.instance_id, second.instance_id}

    for app in (first, second):  # Telegram's flood limit is kept for both together
        sends = app.application.bot.rate_limiter
        assert isinstance(sends, SharedSends)
        assert sends.shared

    admin = Chat(telegram, ADMIN_ID)
    stats = await admin.say("/stats")
    assert "Instances running: 2" in (stats.rendered or "")
    assert "polls Telegram" in (stats.rendered or "")


async def test_the_poller_stopping_hands_polling_to_another(
    start_bot: Callable[..., Any], telegram: FakeTelegram
) -> None:
    first: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)
    await until(lambda: polling(first))
    second: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)
    await asyncio.sleep(2.5)
    assert not polling(second)
    await first.stop()
    await until(lambda: polling(second), timeout=10)
    chat = Chat(telegram)
    assert (await chat.say("/start")).rendered  # the new poller answers


async def test_a_poller_waiting_for_telegram_at_its_start_keeps_the_lease(
    start_bot: Callable[..., Any], telegram: FakeTelegram, database: TestDatabase
) -> None:
    """Starting to poll waits for Telegram as long as it takes (deleteWebhook tried again
    after 1 s, 1.5 s, 2.25 s...: five failures take about 13 s); meanwhile the lease (6 s) is
    kept, so no other instance starts polling too."""
    telegram.fail_next(
        "deleteWebhook", error_code=500, description="Internal Server Error", times=5
    )
    first: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)

    def lease_owner() -> str | None:
        with connect(database) as conn:
            row = conn.execute("SELECT owner FROM leases WHERE name = 'telegram-polling'")
            found = row.fetchone()
        return None if found is None else str(found[0])

    await until(lambda: lease_owner() is not None)
    assert lease_owner() == first.instance_id
    second: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)
    deadline = time.monotonic() + 30.0
    while not telegram.calls_to("getUpdates"):  # deleteWebhook has gone through at last
        assert not polling(second)  # (an updater is "running" from the start of its start)
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.5)  # a leadership check of each
    assert polling(first)
    assert not polling(second)
    assert lease_owner() == first.instance_id


async def test_what_a_dead_instance_held_is_taken_over(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    database: TestDatabase,
) -> None:
    """An instance killed mid-delivery, mid-submit and while tracking a task: its row stops
    being renewed, and a live instance finishes its work (INSTANCE_TIMEOUT_SECONDS later)."""
    app: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)
    chat = Chat(telegram)
    for _ in range(2):
        await chat.press(await chat.card(), "Submit")
    other = Chat(telegram, OTHER_USER_ID)
    await other.press(await other.card(), "Submit")
    jobs = await kie.wait_for_task(count=3)
    await chat.wait_for_text("Task #2")
    kie.complete(jobs[0].task_id)
    await until(lambda: len(chat.videos()) == 1)
    await app.stop()  # as if killed: its rows are put back below as a dead instance left them

    held_by_a_dead_instance(database, "polling")
    with connect(database) as conn:
        # Task 1 was being delivered (its video may have arrived: it is sent again, the
        # window README names), task 2 being submitted; task 3 was being tracked.
        conn.execute("UPDATE tasks SET state = 'delivering', delivered_as = NULL WHERE id = 1")
        conn.execute("UPDATE tasks SET state = 'submitting', provider_task_id = NULL WHERE id = 2")
    kie.complete(jobs[2].task_id)

    started = time.monotonic()
    survivor: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT)
    await asyncio.sleep(1.0)
    # The dead instance is not taken for dead at once: what it held waits.
    assert (len(chat.videos()), len(other.videos())) == (1, 0)
    await until(lambda: len(chat.videos()) == 2 and len(other.videos()) == 1, timeout=20)
    await chat.wait_for_text("can't tell whether it started")  # task 2: unknown, not resent
    assert time.monotonic() - started < 4 + 2 + 5  # the timeout, a heartbeat, and delivery
    assert len(kie.generate_requests()) == 3
    expected = [
        (1, "delivered", survivor.instance_id),
        (2, "unknown", survivor.instance_id),
        (3, "delivered", survivor.instance_id),
    ]

    def settled() -> bool:  # the video arrives a moment before its row says delivered
        with connect(database) as conn:
            rows = conn.execute("SELECT id, state, lease_owner FROM tasks ORDER BY id")
            return rows.fetchall() == expected

    await until(settled, timeout=5)


async def test_a_dead_instances_task_whose_callback_died_with_it_is_checked_at_once(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    database: TestDatabase,
) -> None:
    """Webhook mode: the provider's callback reached an instance that died before handling it.
    The instance that takes over asks the provider at once, not at the safety poll (60 s)."""
    app: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT, **webhook_settings())
    chat = Chat(telegram)
    await chat.press(await chat.card(), "Submit")
    (job,) = await kie.wait_for_task(count=1)
    await chat.wait_for_text("Task #1")
    await app.stop()  # as if killed while it held the task

    held_by_a_dead_instance(database, "webhook")
    kie.complete(job.task_id)  # its callback went to the dead instance, and is lost

    survivor: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT, **webhook_settings())
    # The take-over after a timeout (4 s) and a heartbeat more, then a check and the delivery:
    # 6.4 s alone; room for a loaded machine (CI once took 11.03 s), and still far below the
    # 60 s of the safety poll that would find it without the take-over's check.
    await until(lambda: len(chat.videos()) == 1, timeout=4 + 2 + 14)

    def delivered_by_the_survivor() -> bool:  # the row follows the video by a moment
        with connect(database) as conn:
            row = conn.execute("SELECT state, lease_owner FROM tasks").fetchone()
        return tuple(row) == ("delivered", survivor.instance_id)

    await until(delivered_by_the_survivor, timeout=5)


async def test_a_broadcast_is_sent_by_one_instance_and_taken_over_when_it_stops(
    start_bot: Callable[..., Any], telegram: FakeTelegram, database: TestDatabase
) -> None:
    """Confirmed on whichever instance, sent by the sender lease's holder at its one rate; when
    it stops half-way, another goes on, and nobody gets the message twice."""
    first: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT, broadcast_rate=10)
    second: BotApp = await start_bot(instance_timeout_seconds=TIMEOUT, broadcast_rate=10)
    users = [5000 + n for n in range(60)]
    await meet(telegram, users)
    admin = Chat(telegram, ADMIN_ID)
    preview = await admin.say(f"/broadcast {NEWS}")
    await admin.press(preview, "Send")
    await telegram.wait_until(
        lambda: sum(received_news(telegram, u) for u in users) >= 20,
        timeout=30,
        what="a third of the broadcast",
    )
    with connect(database) as conn:
        (holder,) = conn.execute("SELECT owner FROM leases WHERE name = 'broadcasts'").fetchone()
    await (first if holder == first.instance_id else second).stop()
    await telegram.wait_until(
        lambda: "finished" in (telegram.message(ADMIN_ID, preview.message_id).rendered or ""),
        timeout=60,
        what="the broadcast to finish",
    )
    assert all(received_news(telegram, u) <= 1 for u in users)
    # Recipients cut off mid-send by the stop count as failed, never sent twice.
    assert sum(received_news(telegram, u) for u in users) >= len(users) - 5
    per_second: dict[int, int] = {}
    for call in telegram.calls_to("sendMessage"):
        if str(call.params.get("text", "")).startswith("Big"):
            per_second[int(call.at)] = per_second.get(int(call.at), 0) + 1
    # One rate for both instances: two senders would make about 20 a second. Counted as they
    # arrive, a few more than 10 can come in one second: a window's edge, and sends that
    # started on time but queued behind others for Telegram's shared limit.
    assert max(per_second.values()) <= 10 + 4


async def test_a_chat_is_held_by_one_instance_at_a_time(database: TestDatabase) -> None:
    """Database.exclusive(chat), as the update processor holds it around a chat's update."""
    assert database.url is not None
    one, two = await Database.open(database.url), await Database.open(database.url)
    try:
        order: list[str] = []
        async with one.exclusive(42):
            waiting = asyncio.create_task(_hold(two, 42, order, "second"))
            async with two.exclusive(43):  # another chat: no waiting
                order.append("other chat")
            await asyncio.sleep(0.3)
            order.append("first done")
        await asyncio.wait_for(waiting, timeout=5)
        assert order == ["other chat", "first done", "second"]
    finally:
        await one.close()
        await two.close()


async def test_chat_locks_lost_with_their_connection_are_said_so_and_not_unlocked_twice(
    database: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """The locks' connection dies while a chat's update holds its lock: the lock is gone with
    the session (another instance may take it), the log says so, and the end of the update
    neither fails nor unlocks anything on the new connection."""
    assert database.url is not None
    db = await Database.open(database.url)
    try:
        async with db.exclusive(42):
            with connect(database) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                )
            async with db.exclusive(43):  # a new connection; the loss is seen here
                with connect(database) as admin:
                    keys = [
                        r[0]
                        for r in admin.execute(
                            "SELECT objid FROM pg_locks WHERE locktype = 'advisory'"
                        )
                    ]
                assert keys == [43]
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("holding 1 chat lock" in w for w in warnings), warnings
        async with asyncio.timeout(5):  # chat 42 is free, and held again at once
            async with db.exclusive(42):
                pass
    finally:
        await db.close()


def lone_lead(db: Database) -> InstanceLife:
    """An instance, for its polling lead alone."""
    return InstanceLife(
        instance_id="here:1:abcd",
        mode="polling",
        instances=InstanceRepository(db),
        leases=LeaseRepository(db),
        recovery=cast(Recovery, None),  # reached by heartbeats only: none in an hour's timeout
        timeout=3600,
        shared=True,
    )


async def stopped_in_time(life: InstanceLife) -> bool:
    stopping = asyncio.create_task(life.stop_leading())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    await cancel_and_wait(stopping)  # the test's end, if it hung
    return bool(done)


@pytest.mark.parametrize("turns", range(8))
async def test_a_stop_just_as_polling_has_started_stops_polling_and_frees_the_lease(
    database: TestDatabase, turns: int
) -> None:
    """A stop that comes `turns` turns of the event loop after polling has started. It once
    came as the lease's renewal (kept up while polling starts) was being cancelled, was
    swallowed with that cancellation, and the stop waited for ever (CI timed out on it)."""
    assert database.url is not None
    db = await Database.open(database.url)
    life = lone_lead(db)
    started, stopped = asyncio.Event(), asyncio.Event()

    async def start() -> None:
        started.set()

    async def stop() -> None:
        stopped.set()

    try:
        life.lead_polling(start, stop)
        await asyncio.wait_for(started.wait(), timeout=10)
        for _ in range(turns):
            await asyncio.sleep(0)
        assert await stopped_in_time(life), "the stop never ended"
        assert stopped.is_set(), "polling went on"
        assert await LeaseRepository(db).holder(POLLING_LEASE, time.time()) is None
    finally:
        await db.close()


async def test_a_stop_while_polling_stops_for_a_lost_lease_is_not_lost(
    database: TestDatabase,
) -> None:
    """Another instance has the lease, and this one is stopping its polling when the bot
    stops. The updater's stop waits for its polling task under suppress(CancelledError)
    (python-telegram-bot's Updater.stop), which swallowed the stop of the lead loop: the loop
    went on for ever."""
    assert database.url is not None
    db = await Database.open(database.url)
    life = lone_lead(db)
    started, stopping_polling = asyncio.Event(), asyncio.Event()

    async def start() -> None:
        started.set()

    async def stop() -> None:  # as Updater.stop does
        stopping_polling.set()
        polling_task = asyncio.create_task(asyncio.sleep(0.5))
        with contextlib.suppress(asyncio.CancelledError):
            await polling_task

    try:
        life.lead_polling(start, stop)
        await asyncio.wait_for(started.wait(), timeout=10)
        with connect(database) as conn:
            conn.execute(
                "UPDATE leases SET owner = 'there:2:beef', expires_at = ? WHERE name = ?",
                (time.time() + 60, POLLING_LEASE),
            )
        await asyncio.wait_for(stopping_polling.wait(), timeout=10)
        assert await stopped_in_time(life), "the stop never ended"
    finally:
        await db.close()


async def _hold(db: Database, key: int, order: list[str], name: str) -> None:
    async with db.exclusive(key):
        order.append(name)
