"""Callbacks: a provider's callback finds its task by the token in its URL and is applied like a
poll's answer; a callback for a task whose submit answer was lost adopts it."""

from __future__ import annotations

from bot import texts
from bot.domain.failures import Failure
from bot.domain.provider import CallbackEvent, JobStatus, SubmitOutcomeUnknownError
from bot.domain.records import TaskState
from tests.specs.conftest import RESULT_URL, World


async def test_a_callback_url_finds_its_task_for_its_own_provider_only(world: World) -> None:
    task = await world.given_processing()
    assert task.callback_token is not None

    found = await world.life.callbacks.task_for("fake", task.callback_token)
    other_provider = await world.life.callbacks.task_for("kie", task.callback_token)
    wrong_token = await world.life.callbacks.task_for("fake", "guessed")

    assert found is not None
    assert found.id == task.id
    assert other_provider is None
    assert wrong_token is None


async def test_a_callback_with_a_result_finishes_the_task_without_asking(world: World) -> None:
    task = await world.given_processing("job-9")
    event = world.provider.parse_callback(
        {"job_id": "job-9", "result_url": RESULT_URL}, {}, world.clock()
    )

    await world.life.callbacks.on_callback(task.id, event)

    done = await world.task(task.id)
    assert (done.state, done.result_url) == (TaskState.SUCCEEDED, RESULT_URL)
    assert world.provider.asked == []
    assert world.wakes.count == 1


async def test_a_callback_that_says_only_that_the_job_ended_asks_the_provider(
    world: World,
) -> None:
    task = await world.given_processing("job-9")
    world.provider.status_answers.append(JobStatus.finished(RESULT_URL, "asked"))

    await world.life.callbacks.on_callback(task.id, CallbackEvent("job-9", None))

    assert world.provider.asked == ["job-9"]
    assert (await world.task(task.id)).state == TaskState.SUCCEEDED


async def test_a_duplicate_callback_changes_the_task_once(world: World) -> None:
    task = await world.given_processing("job-9")
    event = CallbackEvent("job-9", JobStatus.finished(RESULT_URL, "callback"))

    await world.life.callbacks.on_callback(task.id, event)
    await world.life.callbacks.on_callback(task.id, event)

    assert world.wakes.count == 1
    assert (await world.task(task.id)).state == TaskState.SUCCEEDED


async def test_a_callback_naming_another_job_is_ignored(world: World) -> None:
    task = await world.given_processing("job-9")

    await world.life.callbacks.on_callback(
        task.id, CallbackEvent("job-10", JobStatus.finished(RESULT_URL, "callback"))
    )

    after = await world.task(task.id)
    assert (after.state, after.result_url) == (TaskState.PROCESSING, None)
    assert world.wakes.count == 0


async def test_a_callback_for_a_task_whose_submit_went_unanswered_adopts_it(
    world: World,
) -> None:
    task = await world.given_queued()
    world.provider.submit_answers.append(SubmitOutcomeUnknownError("read timed out"))
    await world.life.submitting.send(task)
    world.forget()
    world.clock.advance(30)
    world.provider.status_answers.append(JobStatus.running("still working"))

    await world.life.callbacks.on_callback(task.id, CallbackEvent("job-late", None))

    adopted = await world.task(task.id)
    assert (adopted.state, adopted.provider_task_id) == (TaskState.PROCESSING, "job-late")
    assert (adopted.failure, adopted.error_detail, adopted.finished_at) == (None, None, None)
    assert adopted.submitted_at == task.created_at  # its deadline counts from its start
    assert world.outbox.notices == [(task.id, texts.task_found_after_all(task.id))]
    assert world.outbox.reports == [texts.report_found_after_all(task.id, "fake", "job-late")]
    assert world.provider.asked == ["job-late"]  # the callback did not say how it is going


async def test_an_adopted_task_takes_the_status_its_callback_brought(world: World) -> None:
    task = await world.given_queued()
    world.provider.submit_answers.append(SubmitOutcomeUnknownError("read timed out"))
    await world.life.submitting.send(task)

    await world.life.callbacks.on_callback(
        task.id, CallbackEvent("job-late", JobStatus.finished(RESULT_URL, "callback"))
    )

    done = await world.task(task.id)
    assert (done.state, done.result_url) == (TaskState.SUCCEEDED, RESULT_URL)


async def test_a_callback_for_a_task_that_failed_changes_nothing(world: World) -> None:
    task = await world.given_processing("job-9")
    world.provider.status_answers.append(JobStatus.failed(None, "failed"))
    await world.life.checking.check(task)
    world.forget()

    await world.life.callbacks.on_callback(
        task.id, CallbackEvent("job-9", JobStatus.finished(RESULT_URL, "late"))
    )

    after = await world.task(task.id)
    assert (after.state, after.failure) == (TaskState.FAILED, Failure.GENERATION_FAILED)
    assert world.outbox.notices == []
