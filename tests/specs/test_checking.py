"""Checking: what the provider says about a processing task, and what the task does next."""

from __future__ import annotations

from bot import texts
from bot.domain.failures import Failure
from bot.domain.provider import JobStatus, ProviderError
from bot.domain.records import TaskState
from bot.services.tasks.policy import CHECK_ERRORS_BEFORE_ALERT, NOT_FOUND_BEFORE_FAILING
from tests.specs.conftest import RESULT_URL, USER, World


async def test_a_succeeded_status_makes_the_task_succeeded_with_its_result_and_wakes(
    world: World,
) -> None:
    task = await world.given_processing("job-7")
    world.clock.advance(60)
    world.provider.status_answers.append(JobStatus.finished(RESULT_URL, "done"))

    await world.life.checking.check(task)

    done = await world.task(task.id)
    assert world.provider.asked == ["job-7"]
    assert (done.state, done.result_url) == (TaskState.SUCCEEDED, RESULT_URL)
    assert done.finished_at == done.next_check_at == world.clock()  # delivery due now
    assert world.wakes.count == 1
    assert world.outbox.notices == []  # the delivery speaks to the user


async def test_a_failed_status_fails_the_task_with_a_notice_and_an_admin_report(
    world: World,
) -> None:
    task = await world.given_processing(upload="clip-token")
    world.provider.status_answers.append(JobStatus.failed("Faces are not allowed.", "state=fail"))

    await world.life.checking.check(task)

    failed = await world.task(task.id)
    assert (failed.state, failed.failure) == (TaskState.FAILED, Failure.GENERATION_FAILED)
    assert world.outbox.notices == [
        (
            task.id,
            texts.task_failed(task.id, Failure.GENERATION_FAILED, "Faces are not allowed."),
        )
    ]
    assert world.outbox.reports == [
        texts.report_task_failed(task.id, USER, Failure.GENERATION_FAILED, "state=fail")
    ]
    assert world.uploads.released == ["clip-token"]
    assert [c.state for c in world.outbox.cards] == [TaskState.FAILED]


async def test_a_running_status_past_the_deadline_times_the_task_out(world: World) -> None:
    task = await world.given_processing()
    world.clock.advance(world.tracking.task_timeout)
    world.provider.status_answers.append(JobStatus.running("state=generating"))

    await world.life.checking.check(task)

    ended = await world.task(task.id)
    assert (ended.state, ended.failure) == (TaskState.FAILED, Failure.TIMED_OUT)
    assert world.outbox.notices == [(task.id, texts.task_failed(task.id, Failure.TIMED_OUT, None))]


async def test_a_running_status_is_checked_again_after_the_interval_never_past_the_deadline(
    world: World,
) -> None:
    task = await world.given_processing()
    world.clock.advance(100)
    world.provider.status_answers.append(JobStatus.running("early"))
    await world.life.checking.check(task)
    early = await world.task(task.id)
    world.clock.now = task.started_at + world.tracking.task_timeout - 5
    world.provider.status_answers.append(JobStatus.running("late"))

    await world.life.checking.check(early)

    late = await world.task(task.id)
    assert early.next_check_at == task.started_at + 100 + world.tracking.check_interval
    assert late.next_check_at == task.started_at + world.tracking.task_timeout
    assert late.state == TaskState.PROCESSING


async def test_a_running_status_edits_the_card_only_once_the_edit_interval_passed(
    world: World,
) -> None:
    task = await world.given_processing()  # its card was edited when it was sent
    world.clock.advance(world.tracking.status_edit_interval - 1)
    world.provider.status_answers.append(JobStatus.running("soon"))
    await world.life.checking.check(task)
    cards_too_soon = len(world.outbox.cards)
    world.clock.advance(1)
    world.provider.status_answers.append(JobStatus.running("due"))

    await world.life.checking.check(await world.task(task.id))

    assert cards_too_soon == 0
    assert [c.state for c in world.outbox.cards] == [TaskState.PROCESSING]
    assert (await world.task(task.id)).status_edited_at == world.clock()


async def test_not_found_ends_the_task_only_the_third_time_in_a_row(world: World) -> None:
    task = await world.given_processing()
    states = []

    for _ in range(NOT_FOUND_BEFORE_FAILING):
        world.provider.status_answers.append(ProviderError(Failure.NOT_FOUND, "404"))
        await world.life.checking.check(await world.task(task.id))
        states.append((await world.task(task.id)).state)

    assert states == [TaskState.PROCESSING, TaskState.PROCESSING, TaskState.FAILED]
    assert (await world.task(task.id)).failure == Failure.NOT_FOUND


async def test_only_not_founds_in_a_row_end_the_task_not_other_errors_before_one(
    world: World,
) -> None:
    task = await world.given_processing()
    answers = [
        ProviderError(Failure.UNREACHABLE, "refused"),
        ProviderError(Failure.UNREACHABLE, "refused"),
        ProviderError(Failure.NOT_FOUND, "404"),
    ]
    world.provider.status_answers.extend(answers)

    for _ in answers:
        await world.life.checking.check(await world.task(task.id))

    assert (await world.task(task.id)).state == TaskState.PROCESSING


async def test_an_answer_between_not_founds_starts_the_count_again(world: World) -> None:
    task = await world.given_processing()
    answers: list[JobStatus | BaseException] = [
        ProviderError(Failure.NOT_FOUND, "404"),
        ProviderError(Failure.NOT_FOUND, "404"),
        JobStatus.running("there after all"),
        ProviderError(Failure.NOT_FOUND, "404"),
    ]
    world.provider.status_answers.extend(answers)

    for _ in answers:
        await world.life.checking.check(await world.task(task.id))

    still = await world.task(task.id)
    assert (still.state, still.attempts) == (TaskState.PROCESSING, 1)


async def test_unanswered_checks_back_off(world: World) -> None:
    task = await world.given_processing()
    waits = []

    for attempt in (1, 2, 3):
        world.provider.status_answers.append(ProviderError(Failure.UNREACHABLE, "refused"))
        await world.life.checking.check(await world.task(task.id))
        after = await world.task(task.id)
        assert after.attempts == attempt
        assert after.next_check_at is not None
        waits.append(after.next_check_at - world.clock())

    assert waits == [world.tracking.check_after_errors(n) for n in (1, 2, 3)]
    assert waits[0] < waits[1] < waits[2]


async def test_check_errors_before_alert_unanswered_checks_alert_the_admins_once(
    world: World,
) -> None:
    task = await world.given_processing()

    for _ in range(CHECK_ERRORS_BEFORE_ALERT + 3):
        world.provider.status_answers.append(ProviderError(Failure.PROVIDER_ERROR, "HTTP 502"))
        await world.life.checking.check(await world.task(task.id))

    assert world.outbox.reports == [
        texts.report_status_checks_failing(task.id, CHECK_ERRORS_BEFORE_ALERT, "HTTP 502")
    ]
    assert (await world.task(task.id)).state == TaskState.PROCESSING
    assert world.outbox.notices == []


async def test_an_unanswered_check_past_the_deadline_times_the_task_out(world: World) -> None:
    task = await world.given_processing()
    world.clock.advance(world.tracking.task_timeout)
    world.provider.status_answers.append(ProviderError(Failure.UNREACHABLE, "refused"))

    await world.life.checking.check(task)

    assert (await world.task(task.id)).failure == Failure.TIMED_OUT


async def test_an_unexpected_error_in_a_check_counts_as_unanswered_and_is_reported(
    world: World,
) -> None:
    task = await world.given_processing()
    world.provider.status_answers.append(KeyError("status"))

    await world.life.checking.check(task)

    after = await world.task(task.id)
    assert (after.state, after.attempts) == (TaskState.PROCESSING, 1)
    assert len(world.outbox.reports) == 1
    assert "KeyError" in world.outbox.reports[0]


async def test_a_status_for_a_task_that_already_ended_changes_nothing(world: World) -> None:
    task = await world.given_processing()
    await world.life.checking.on_status(task, JobStatus.finished(RESULT_URL, "done"))
    world.forget()

    await world.life.checking.on_status(task, JobStatus.failed("late", "late failure"))
    await world.life.checking.on_status(task, JobStatus.finished(RESULT_URL, "again"))

    assert (await world.task(task.id)).state == TaskState.SUCCEEDED
    assert world.wakes.count == 0
    assert world.outbox.notices == []
    assert world.outbox.reports == []


async def test_advance_checks_a_processing_task_only_when_its_check_is_due(
    world: World,
) -> None:
    task = await world.given_processing()
    assert task.next_check_at is not None
    world.clock.now = task.next_check_at - 1

    await world.life.advance(task)  # woken for its card only
    asked_early = list(world.provider.asked)
    world.clock.now = task.next_check_at
    world.provider.status_answers.append(JobStatus.running("on time"))
    await world.life.advance(await world.task(task.id))

    assert asked_early == []
    assert world.provider.asked == [task.provider_task_id]
