"""Submitting: a queued task is sent to the provider once; "not now" puts it back in the queue, a
refusal fails it, and no answer leaves its outcome unknown (never sent again)."""

from __future__ import annotations

import asyncio

import pytest

from bot import texts
from bot.domain.database import DatabaseUnavailableError
from bot.domain.failures import Failure
from bot.domain.provider import ProviderError, SubmitOutcomeUnknownError
from bot.domain.records import TaskState
from bot.services.tasks.policy import SUBMIT_WAITS
from tests.specs.conftest import ADMIN, PROMPT, USER, VIDEO_URL, World


async def test_a_submit_answered_becomes_processing_with_the_job_id_and_first_check(
    world: World,
) -> None:
    task = await world.given_queued()
    world.clock.advance(3)
    world.provider.submit_answers.append("job-42")

    await world.life.submitting.send(task)

    sent = await world.task(task.id)
    now = world.clock()
    assert sent.state == TaskState.PROCESSING
    assert sent.provider_task_id == "job-42"
    assert sent.submitted_at == now
    assert sent.next_check_at == now + world.tracking.first_check_delay
    assert [(r.video_url, r.prompt) for r in world.provider.submitted] == [(VIDEO_URL, PROMPT)]
    assert [(c.task_id, c.state) for c in world.outbox.cards] == [(task.id, TaskState.PROCESSING)]


async def test_the_row_says_submitting_while_the_request_is_out(world: World) -> None:
    task = await world.given_queued()
    seen: list[TaskState] = []

    async def look() -> None:
        seen.append((await world.task(task.id)).state)

    world.provider.while_submitting = look

    await world.life.submitting.send(task)

    assert seen == [TaskState.SUBMITTING]


async def test_a_task_is_sent_once_even_when_two_sends_race(world: World) -> None:
    task = await world.given_queued()

    await asyncio.gather(world.life.submitting.send(task), world.life.submitting.send(task))

    assert len(world.provider.submitted) == 1
    assert (await world.task(task.id)).state == TaskState.PROCESSING


async def test_a_turn_waited_for_is_given_back_when_the_task_is_not_sent(world: World) -> None:
    """A second send of a task already sent does not send it, and returns the turn it waited
    for; the one that sent it used its turn."""
    task = await world.given_queued()
    await world.life.submitting.wait_for_turn()
    await world.life.submitting.send(task)
    await world.life.submitting.wait_for_turn()
    await world.life.submitting.send(task)  # no longer queued: not sent

    assert len(world.provider.submitted) == 1
    assert world.provider.turns == 1


async def test_a_turn_is_given_back_when_an_error_comes_before_the_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = await world.given_queued()

    async def database_gone(*_: object) -> bool:
        raise DatabaseUnavailableError("PostgreSQL went away")

    monkeypatch.setattr(world.tasks, "start_submitting", database_gone)
    await world.life.submitting.wait_for_turn()
    with pytest.raises(DatabaseUnavailableError):
        await world.life.submitting.send(task)

    assert world.provider.submitted == []
    assert world.provider.turns == 0


async def test_a_callback_url_goes_with_the_submit_only_when_callbacks_are_on(
    world: World,
) -> None:
    plain = await world.given_queued()
    called = await world.given_queued(ADMIN)

    await world.life.submitting.send(plain)
    world.with_policies(callback_base_url="https://bot.example.com")
    await world.life.submitting.send(called)

    without, with_url = world.provider.submitted
    assert without.callback_url is None
    assert with_url.callback_url == (
        f"https://bot.example.com/callbacks/fake/{called.callback_token}"
    )


@pytest.mark.parametrize("failure", [Failure.RATE_LIMITED, Failure.MAINTENANCE])
async def test_not_now_puts_the_task_back_in_the_queue_with_a_growing_wait(
    world: World, failure: Failure
) -> None:
    task = await world.given_queued()
    world.provider.submit_answers.extend(
        [ProviderError(failure, "not now"), ProviderError(failure, "not now")]
    )

    await world.life.submitting.send(task)
    once = await world.task(task.id)
    await world.life.submitting.send(once)
    twice = await world.task(task.id)

    now = world.clock()
    assert (once.state, once.attempts) == (TaskState.QUEUED, 1)
    assert once.next_check_at == now + world.tracking.retry_after(1)
    assert (twice.state, twice.attempts) == (TaskState.QUEUED, 2)
    assert twice.next_check_at == now + world.tracking.retry_after(2)
    assert twice.next_check_at > once.next_check_at
    assert world.outbox.notices == []
    assert world.outbox.reports == []


async def test_rate_limited_requeues_up_to_submit_waits_then_fails(world: World) -> None:
    task = await world.given_queued()

    for _ in range(SUBMIT_WAITS + 1):
        world.provider.submit_answers.append(ProviderError(Failure.RATE_LIMITED, "429"))
        await world.life.submitting.send(await world.task(task.id))

    ended = await world.task(task.id)
    assert len(world.provider.submitted) == SUBMIT_WAITS + 1
    assert (ended.state, ended.failure) == (TaskState.FAILED, Failure.RATE_LIMITED)
    assert len(world.outbox.notices) == 1
    assert len(world.outbox.reports) == 1


async def test_a_refusal_fails_the_task_tells_the_user_and_the_admins(world: World) -> None:
    task = await world.given_queued(upload="clip-token")
    world.provider.submit_answers.append(
        ProviderError(Failure.INSUFFICIENT_CREDITS, "code 402", message="No credits left.")
    )

    await world.life.submitting.send(task)

    ended = await world.task(task.id)
    assert (ended.state, ended.failure, ended.error_detail) == (
        TaskState.FAILED,
        Failure.INSUFFICIENT_CREDITS,
        "code 402",
    )
    assert ended.finished_at == world.clock()
    assert world.outbox.notices == [
        (task.id, texts.task_failed(task.id, Failure.INSUFFICIENT_CREDITS, "No credits left."))
    ]
    assert world.outbox.reports == [
        texts.report_task_failed(task.id, USER, Failure.INSUFFICIENT_CREDITS, "code 402")
    ]
    assert world.uploads.released == ["clip-token"]
    assert world.wakes.count == 1  # its provider slot is free again


async def test_no_answer_leaves_the_outcome_unknown_and_the_task_is_never_sent_again(
    world: World,
) -> None:
    task = await world.given_queued()
    world.provider.submit_answers.append(SubmitOutcomeUnknownError("read timed out"))

    await world.life.submitting.send(task)
    await world.life.submitting.send(await world.task(task.id))

    unknown = await world.task(task.id)
    assert (unknown.state, unknown.failure) == (TaskState.UNKNOWN, Failure.OUTCOME_UNKNOWN)
    assert unknown.provider_task_id is None
    assert len(world.provider.submitted) == 1
    assert world.outbox.notices == [
        (task.id, texts.task_failed(task.id, Failure.OUTCOME_UNKNOWN, None))
    ]
    assert len(world.outbox.reports) == 1


async def test_an_unexpected_error_while_submitting_leaves_the_outcome_unknown_and_is_raised(
    world: World,
) -> None:
    task = await world.given_queued()
    world.provider.submit_answers.append(RuntimeError("a bug"))

    with pytest.raises(RuntimeError, match="a bug"):
        await world.life.submitting.send(task)

    assert (await world.task(task.id)).state == TaskState.UNKNOWN
