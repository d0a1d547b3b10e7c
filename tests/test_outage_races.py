"""PostgreSQL going away at the worst moments (found by review): while a submit's answer is on
its way, with one instance and with two."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.app import BotApp
from storage.db import Database
from storage.rates import SharedWindowLimiter
from tests.database import StoppablePostgres, TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.helpers import Chat
from tests.test_webhook import webhook_settings

pytestmark = pytest.mark.engines("postgresql")


async def submitted(kie: FakeKie, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not kie.generate_requests():
        assert time.monotonic() < deadline, "no submit reached the provider"
        await asyncio.sleep(0.05)


def rows(database: TestDatabase, url: str) -> list[tuple[Any, ...]]:
    with connect(TestDatabase(database.path, url)) as conn:
        return conn.execute("SELECT id, state, provider_task_id FROM tasks ORDER BY id").fetchall()


async def test_a_submit_answer_whose_write_was_lost_is_settled_and_its_result_still_comes(
    server: StoppablePostgres,
    start_bot: Callable[..., Any],
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
) -> None:
    """The provider accepts the job, but the database is away when its answer comes and the
    write waits no longer than DATABASE_RETRY_SECONDS: the task is not left "submitting" (and
    holding a provider slot) for the life of the process; the job's callback still delivers."""
    await start_bot(
        database_url=server.url,
        database_retry_seconds=1,
        instance_timeout_seconds=4,
        **webhook_settings(),
    )
    kie.hang_next_submit(3.0, accept=True)  # accepted at once, answered after 3 s
    await chat.press(await chat.card(), "Submit")
    await submitted(kie)
    server.stop()
    await asyncio.sleep(5)
    server.start()
    await asyncio.sleep(3)  # heartbeats settle the task
    (job,) = kie.tasks.values()
    kie.complete(job.task_id)
    response = await kie.send_callback(job.task_id)
    assert response.status_code == 200
    deadline = time.monotonic() + 20
    while len(chat.videos()) < 1:
        assert time.monotonic() < deadline, rows(database, server.url)
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    assert len(chat.videos()) == 1
    assert len(kie.generate_requests()) == 1


async def test_after_an_outage_no_instance_takes_a_live_ones_submit_for_dead(
    server: StoppablePostgres,
    start_bot: Callable[..., Any],
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
) -> None:
    """An outage longer than INSTANCE_TIMEOUT_SECONDS stops every heartbeat: once it is over,
    the instance whose heartbeat gets through first must not settle the other's submit (still
    waiting for the provider's answer) as unknown."""
    common: dict[str, Any] = {
        "database_url": server.url,
        "database_retry_seconds": 20,
        "instance_timeout_seconds": 4,
    }
    one: BotApp = await start_bot(**common, **webhook_settings())
    two: BotApp = await start_bot(**common, **webhook_settings())
    kie.hang_next_submit(10.0, accept=True)  # accepted, answered after 10 s
    await chat.press(await chat.card(), "Submit")
    await submitted(kie)
    server.stop()
    await asyncio.sleep(6)
    server.start()
    await asyncio.sleep(12)
    (job,) = kie.tasks.values()
    assert rows(database, server.url) == [(1, "processing", job.task_id)], (
        one.instance_id,
        two.instance_id,
    )


async def test_a_chat_whose_id_is_a_lock_key_of_the_bot_does_not_block_it(
    database: TestDatabase,
) -> None:
    """The bot's own advisory locks are in PostgreSQL's two-key space, the chats' in the
    one-key space: a chat id equal to any number never waits on them."""
    assert database.url is not None
    db = await Database.open(database.url)
    try:
        limiter = SharedWindowLimiter(db, "submits:kie", 20, 10.0)
        for chat_id in (*limiter.lock_key, 0x6C756D61, 1426170240):
            async with db.exclusive(chat_id):
                await asyncio.wait_for(limiter.acquire(), timeout=5)
    finally:
        await db.close()
