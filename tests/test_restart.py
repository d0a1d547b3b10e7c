"""Stopping and starting again: every unfinished task is tracked and delivered, once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.app import BotApp
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie, FakeTask
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, Chat


def set_delivering(database: TestDatabase, task_id: int, result_url: str) -> None:
    """Leave the task as a kill in the middle of sending its video would."""
    with connect(database) as conn:
        conn.execute(
            "UPDATE tasks SET state = 'delivering', result_url = ?, finished_at = submitted_at "
            "WHERE id = ?",
            (result_url, task_id),
        )


def state_of(database: TestDatabase, task_id: int) -> str:
    with connect(database) as conn:
        return str(conn.execute("SELECT state FROM tasks WHERE id = ?", (task_id,)).fetchone()[0])


async def submit_then_stop(start_bot: Callable[..., Any], kie: FakeKie, chat: Chat) -> FakeTask:
    """Start a bot, submit one task, wait until it is processing, and stop the bot."""
    first: BotApp = await start_bot()
    await chat.press(await chat.card(), "Submit")
    (task,) = await kie.wait_for_task()
    await chat.wait_for_text("Processing")
    await first.stop()
    return task


async def test_a_task_processing_across_a_restart_is_delivered_once(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    task = await submit_then_stop(start_bot, kie, chat)

    kie.complete(task.task_id)  # finishes while the bot is down
    await start_bot()
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")
    assert len(chat.videos()) == 1
    assert len(kie.generate_requests()) == 1


async def test_a_delivery_cut_off_by_a_crash_is_redone(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
) -> None:
    task = await submit_then_stop(start_bot, kie, chat)
    kie.complete(task.task_id)
    set_delivering(database, 1, kie.result_url(task.task_id))

    await start_bot()
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")
    assert len(chat.videos()) == 1
    assert state_of(database, 1) == "delivered"


async def test_a_submit_cut_off_by_a_crash_is_reported_not_resent(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
) -> None:
    await submit_then_stop(start_bot, kie, chat)
    # As if killed after the row said "submitting" but before the provider's answer was stored.
    with connect(database) as conn:
        conn.execute("UPDATE tasks SET state = 'submitting', provider_task_id = NULL WHERE id = 1")

    await start_bot()
    await chat.wait_for_text("charging you twice")
    await Chat(telegram, ADMIN_ID).wait_for_text("may or may not be running")
    assert state_of(database, 1) == "unknown"
    assert len(kie.generate_requests()) == 1


async def test_a_queued_task_left_by_a_crash_is_submitted_at_start(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat, database: TestDatabase
) -> None:
    await submit_then_stop(start_bot, kie, chat)
    # As if killed after the task was stored but before it was sent: safe to send now.
    with connect(database) as conn:
        conn.execute("UPDATE tasks SET state = 'queued', provider_task_id = NULL WHERE id = 1")
    kie.tasks.clear()
    kie.requests.clear()

    await start_bot()
    await kie.wait_for_task()
    await chat.wait_for_text("Processing")
    assert len(kie.generate_requests()) == 1


async def test_a_stop_while_a_submission_waits_for_its_answer_lets_it_finish(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat, database: TestDatabase
) -> None:
    first: BotApp = await start_bot(provider_timeout_seconds=10)
    kie.hang_next_generate(1.5, accept=True)  # the provider takes its time to answer
    await chat.press(await chat.card(), "Submit")
    await kie.wait_for_requests("/api/v1/modify/generate")
    await first.stop()
    assert state_of(database, 1) == "processing"  # the answer was waited for, and stored
    await start_bot()
    await chat.wait_for_text("Processing")
    assert len(kie.generate_requests()) == 1


async def test_downloads_left_by_a_killed_process_are_removed_at_start(
    start_bot: Callable[..., Any], database: TestDatabase
) -> None:
    leftover = database.parent / "tmp" / "task-7-0badc0de.mp4"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a video")
    await start_bot()
    assert not leftover.exists()
