"""PostgreSQL lost while the bot runs: /healthz says so, statements wait for it, and once it is
back every task is finished once, with nothing submitted or delivered twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot import texts
from bot.app import BotApp
from bot.domain.records import TaskState
from tests.database import StoppablePostgres, TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import USER_ID, Chat
from tests.test_webhook import webhook_settings

pytestmark = pytest.mark.engines("postgresql")


async def health(bot: BotApp) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(bot.settings.public_url + "/healthz")
    return response.status_code


async def wait_for_health(bot: BotApp, status: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (now := await health(bot)) != status:
        assert time.monotonic() < deadline, f"/healthz stayed {now}"
        await asyncio.sleep(0.2)


async def test_a_lost_database_is_waited_for_and_no_task_is_lost_or_done_twice(
    server: StoppablePostgres,  # first: stopped after the bot
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
) -> None:
    bot: BotApp = await start_bot(database_url=server.url, **webhook_settings())
    for number in (1, 2):
        await chat.press(await chat.card(), "Submit")
        await chat.wait_for_text(f"Task #{number}")
    jobs = await kie.wait_for_task(count=2)
    at_provider = texts.state_label(TaskState.PROCESSING)
    await telegram.wait_until(  # both answers written down before the server goes
        lambda: sum(at_provider in (m.rendered or "") for m in telegram.messages(USER_ID)) == 2,
        what="both cards at the provider",
    )
    assert await health(bot) == 200

    server.stop()
    await wait_for_health(bot, 503)
    for job in jobs:  # the provider finishes while the bot cannot store it
        kie.complete(job.task_id)
    # Its callbacks, and a user's command, wait for the database (DATABASE_RETRY_SECONDS).
    callbacks = [asyncio.create_task(kie.send_callback(job.task_id)) for job in jobs]
    seen = len(telegram.messages(USER_ID))
    asked = asyncio.create_task(chat.send(text="/tasks"))
    await asyncio.sleep(2.0)
    assert chat.videos() == []
    assert not any(c.done() for c in callbacks)

    server.start()
    await wait_for_health(bot, 200)
    await asyncio.wait_for(asked, timeout=30)
    assert [(await c).status_code for c in callbacks] == [200, 200]
    deadline = time.monotonic() + 30
    while len(chat.videos()) < 2:
        assert time.monotonic() < deadline, [m.rendered for m in telegram.messages(USER_ID)]
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # time for a second delivery, were there one

    assert len(chat.videos()) == 2
    assert len(kie.generate_requests()) == 2
    assert any("#1" in (m.text or "") for m in telegram.messages(USER_ID)[seen:])  # /tasks
    with connect(TestDatabase(database.path, server.url)) as conn:
        states = conn.execute("SELECT state FROM tasks ORDER BY id").fetchall()
    assert states == [("delivered",), ("delivered",)]
