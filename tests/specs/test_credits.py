"""A task's price (PAYMENTS=stars): spent when the provider accepts the task, returned when it
ends without a video (refused, failed at the provider, cancelled while queued), held while its
outcome is unknown."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain.failures import Failure
from bot.domain.payments import ChargeState, Prices, TaskCharge
from bot.domain.provider import (
    CallbackEvent,
    JobStatus,
    ProviderError,
    SubmitOutcomeUnknownError,
)
from bot.domain.records import Task, TaskState
from bot.services.tasks.intake import SubmitOutcomeKind
from storage.db import Database
from storage.ledger import Reservation
from tests.specs.conftest import ADMIN, QUOTA, USER, World

PRICE = 10


@pytest.fixture
def world(db: Database) -> World:
    return World(db, payments=True)


async def priced(world: World, task: Task) -> None:
    """The task's price reserved, as Submit reserves it."""
    await world.ledger.grant(USER, PRICE, "test", admin_id=1, now=world.clock())
    assert await world.ledger.reserve(USER, task.id, PRICE, world.clock())


async def reservation(world: World, task: Task) -> Reservation:
    found = await world.ledger.reservation(task.id)
    assert found is not None
    return found


async def test_a_task_the_provider_accepts_is_charged(world: World) -> None:
    task = await world.given_queued()
    await priced(world, task)
    world.provider.submit_answers.append("job-1")

    await world.life.submitting.send(task)

    assert (await reservation(world, task)).charged
    assert await world.ledger.balance(USER) == 0
    assert world.outbox.cards[-1].price == TaskCharge(PRICE, ChargeState.SPENT)


async def test_a_task_the_provider_refuses_gets_its_price_back(world: World) -> None:
    task = await world.given_queued()
    await priced(world, task)
    world.provider.submit_answers.append(
        ProviderError(Failure.INVALID_REQUEST, "HTTP 422: videoUrl is invalid")
    )

    await world.life.submitting.send(task)

    assert (await world.task(task.id)).state == TaskState.FAILED
    spent = await reservation(world, task)
    assert (spent.charged, spent.released) == (False, True)
    assert await world.ledger.balance(USER) == PRICE
    assert world.outbox.cards[-1].price == TaskCharge(PRICE, ChargeState.RETURNED)  # user sees it


async def test_a_task_that_fails_at_the_provider_is_charged_then_returned(world: World) -> None:
    task = await world.given_queued()
    await priced(world, task)
    world.provider.submit_answers.append("job-1")
    await world.life.submitting.send(task)
    task = await world.task(task.id)

    await world.life.checking.on_status(task, JobStatus.failed("unsafe content", "failed"))

    assert (await world.task(task.id)).state == TaskState.FAILED
    assert (await reservation(world, task)).refunded
    assert await world.ledger.balance(USER) == PRICE


async def test_a_task_cancelled_while_queued_gets_its_price_back(world: World) -> None:
    task = await world.given_queued()
    await priced(world, task)

    await world.life.intake.cancel_queued(USER, task.id)

    assert (await world.task(task.id)).state == TaskState.CANCELLED
    assert (await reservation(world, task)).released
    assert world.outbox.cards[-1].price == TaskCharge(PRICE, ChargeState.RETURNED)
    assert await world.ledger.balance(USER) == PRICE


async def test_a_task_whose_outcome_is_unknown_keeps_its_price_held(world: World) -> None:
    """It may exist at the provider, and cost: an admin decides (charge or return)."""
    task = await world.given_queued()
    await priced(world, task)
    world.provider.submit_answers.append(SubmitOutcomeUnknownError("read timed out"))

    await world.life.submitting.send(task)

    assert (await world.task(task.id)).state == TaskState.UNKNOWN
    assert (await reservation(world, task)).held
    assert world.outbox.cards[-1].price == TaskCharge(PRICE, ChargeState.HELD)
    assert await world.ledger.balance(USER) == 0


async def test_a_task_found_after_all_by_its_callback_is_charged(world: World) -> None:
    """The provider took it after all: its held price is spent, once."""
    task = await world.given_queued()
    await priced(world, task)
    world.provider.submit_answers.append(SubmitOutcomeUnknownError("read timed out"))
    await world.life.submitting.send(task)
    world.provider.status_answers.append(JobStatus.running("still working"))

    await world.life.callbacks.on_callback(task.id, CallbackEvent("job-late", None))
    await world.life.callbacks.on_callback(task.id, CallbackEvent("job-late", None))

    assert (await world.task(task.id)).state == TaskState.PROCESSING
    found = await reservation(world, task)
    assert (found.charged, found.released) == (True, False)
    assert await world.ledger.balance(USER) == 0


async def unknown_with_its_price_returned(world: World, balance_left: int) -> Task:
    """A priced task whose outcome is unknown, its price returned by an admin (Return under
    /task), and the user's balance then `balance_left` (they spent the rest)."""
    task = await world.given_queued()
    await priced(world, task)
    world.provider.submit_answers.append(SubmitOutcomeUnknownError("read timed out"))
    await world.life.submitting.send(task)
    settled, _ = await world.ledger.settle_held(
        task.id, False, world.clock(), "outcome unknown: returned", ADMIN
    )
    assert settled
    spent = PRICE - balance_left
    if spent:
        assert await world.ledger.grant(USER, -spent, "spent", ADMIN, world.clock()) is not None
    world.outbox.forget()
    return task


async def test_a_task_found_after_all_takes_its_returned_price_again(world: World) -> None:
    """An admin returned the held price, then the provider's callback found the task: the
    price is taken again (once), so the video is not free, and the admins are told; if the
    task then fails at the provider, the price is returned again."""
    task = await unknown_with_its_price_returned(world, PRICE)
    world.provider.status_answers.extend([JobStatus.running("still working")] * 2)

    await world.life.callbacks.on_callback(task.id, CallbackEvent("job-late", None))
    await world.life.callbacks.on_callback(task.id, CallbackEvent("job-late", None))

    assert (await world.task(task.id)).state == TaskState.PROCESSING
    found = await reservation(world, task)
    assert (found.charged, found.released, found.recharged) == (True, False, True)
    assert await world.ledger.balance(USER) == 0
    assert await world.ledger.price_of(task.id) == TaskCharge(PRICE, ChargeState.SPENT)
    (report,) = world.outbox.reports
    assert "10 credits, had been returned by an admin: they were taken from" in report
    assert await world.ledger.charge(task.id, world.clock()) is False  # spent once

    task = await world.task(task.id)
    await world.life.checking.on_status(task, JobStatus.failed("unsafe content", "failed"))

    assert (await world.task(task.id)).state == TaskState.FAILED
    assert (await reservation(world, task)).refunded
    assert await world.ledger.balance(USER) == PRICE
    assert await world.ledger.mismatches() == []


async def test_a_task_found_after_all_stays_free_when_the_balance_is_short(world: World) -> None:
    """The user spent the returned price meanwhile: the balance never goes below zero, so the
    task goes on free, and the admins' report says so."""
    task = await unknown_with_its_price_returned(world, PRICE - 1)
    world.provider.status_answers.append(JobStatus.running("still working"))

    await world.life.callbacks.on_callback(task.id, CallbackEvent("job-late", None))

    assert (await world.task(task.id)).state == TaskState.PROCESSING
    found = await reservation(world, task)
    assert (found.charged, found.released, found.recharged) == (False, True, False)
    assert await world.ledger.balance(USER) == PRICE - 1
    (report,) = world.outbox.reports
    assert "the user's balance (9) is short of them: this task is free." in report
    assert await world.ledger.mismatches() == []


async def test_a_task_without_a_price_ends_as_before(world: World) -> None:
    """A free task (no reservation): charging and returning find nothing, and say nothing."""
    task = await world.given_queued()
    world.provider.submit_answers.append(ProviderError(Failure.INVALID_REQUEST, "HTTP 422"))

    await world.life.submitting.send(task)

    assert (await world.task(task.id)).state == TaskState.FAILED
    assert await world.ledger.reservation(task.id) is None
    assert await world.ledger.balance(USER) == 0


async def test_submit_with_credits_short_is_refused_and_reserves_when_they_are_there(
    db: Database,
) -> None:
    world = World(db, payments=True, quota=replace(QUOTA, prices=Prices(PRICE, {"flex_2": 25})))
    draft_id = await world.draft(USER)

    refused = await world.life.intake.submit_draft(USER, draft_id)

    assert refused.kind == SubmitOutcomeKind.REFUSED
    assert refused.message is not None
    assert "You have 0 credits, not enough for this task" in refused.message
    await world.ledger.grant(USER, PRICE, "test", admin_id=1, now=world.clock())
    made = await world.life.intake.submit_draft(USER, draft_id)
    assert made.kind == SubmitOutcomeKind.SUBMITTED
    assert made.task_id is not None
    held = await world.ledger.reservation(made.task_id)
    assert held is not None
    assert (held.credits, held.held) == (PRICE, True)
    assert await world.ledger.balance(USER) == 0


async def test_admins_tasks_cost_nothing(db: Database) -> None:
    world = World(db, payments=True, quota=replace(QUOTA, prices=Prices(PRICE)))
    made = await world.life.intake.submit_draft(ADMIN, await world.draft(ADMIN))
    assert made.kind == SubmitOutcomeKind.SUBMITTED
    assert made.task_id is not None
    assert await world.ledger.reservation(made.task_id) is None
