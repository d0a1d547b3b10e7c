"""Recovery, at start: what a crash or a stop left half-done is settled before tracking starts."""

from __future__ import annotations

from bot import texts
from bot.domain.failures import Failure
from bot.domain.records import TaskState
from tests.specs.conftest import RESULT_URL, World

CUT_OFF = "the bot stopped while this task was being submitted"


async def test_recovery_turns_a_task_left_submitting_into_unknown_never_sending_it(
    world: World,
) -> None:
    left = await world.given_in(TaskState.SUBMITTING)
    world.clock.advance(600)  # the restart

    await world.life.recovery.recover()

    unknown = await world.task(left.id)
    assert (unknown.state, unknown.failure, unknown.error_detail) == (
        TaskState.UNKNOWN,
        Failure.OUTCOME_UNKNOWN,
        CUT_OFF,
    )
    assert unknown.finished_at == world.clock()
    assert world.provider.submitted == []
    assert world.outbox.notices == [
        (left.id, texts.task_failed(left.id, Failure.OUTCOME_UNKNOWN, None))
    ]
    assert world.outbox.reports == [texts.report_outcome_unknown(left, "fake", CUT_OFF)]


async def test_recovery_turns_a_task_left_delivering_back_into_succeeded_due_now(
    world: World,
) -> None:
    left = await world.given_in(TaskState.DELIVERING, result_url=RESULT_URL, attempts=2)
    world.clock.advance(600)

    await world.life.recovery.recover()

    again = await world.task(left.id)
    assert (again.state, again.next_check_at, again.attempts) == (
        TaskState.SUCCEEDED,
        world.clock(),
        2,  # the tries so far still count towards sending a link
    )
    assert world.outbox.notices == []


async def test_recovery_leaves_every_other_task_as_it_is(world: World) -> None:
    queued = await world.given_queued()
    processing = await world.given_processing()
    before = [await world.task(queued.id), await world.task(processing.id)]

    await world.life.recovery.recover()

    assert [await world.task(queued.id), await world.task(processing.id)] == before
    assert world.outbox.notices == []
    assert world.outbox.reports == []
