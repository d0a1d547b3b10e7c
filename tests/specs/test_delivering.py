"""Delivering: a finished task's result goes into its chat once; a failed try is retried with a
growing wait, as a link after DELIVERY_ATTEMPTS, until the provider no longer keeps it."""

from __future__ import annotations

import asyncio

import pytest

from bot import texts
from bot.domain.delivery import DeliveryResult
from bot.domain.failures import Failure
from bot.domain.records import TaskState
from bot.services.tasks.policy import DELIVERY_ATTEMPTS
from tests.specs.conftest import USER, World


async def test_a_result_is_delivered_once_even_when_two_deliveries_race(world: World) -> None:
    task = await world.given_succeeded()

    await asyncio.gather(world.life.delivering.deliver(task), world.life.delivering.deliver(task))

    assert [s.task_id for s in world.outbox.sent] == [task.id]
    assert (await world.task(task.id)).state == TaskState.DELIVERED


async def test_a_delivered_task_says_how_and_when_lets_its_upload_go_and_shows_its_card(
    world: World,
) -> None:
    task = await world.given_succeeded(upload="clip-token")
    world.clock.advance(2)
    world.outbox.results.append(DeliveryResult.DOCUMENT)

    await world.life.delivering.deliver(task)

    done = await world.task(task.id)
    assert (done.state, done.delivered_as, done.delivered_at) == (
        TaskState.DELIVERED,
        "document",
        world.clock(),
    )
    assert world.outbox.sent[0].allow_upload
    assert world.uploads.released == ["clip-token"]
    assert [c.state for c in world.outbox.cards] == [TaskState.DELIVERED]


async def test_an_unreachable_chat_makes_the_task_undeliverable_and_marks_the_user(
    world: World,
) -> None:
    task = await world.given_succeeded(upload="clip-token")
    world.outbox.results.append(DeliveryResult.CHAT_UNREACHABLE)

    await world.life.delivering.deliver(task)

    assert (await world.task(task.id)).state == TaskState.UNDELIVERABLE
    user = await world.users.get(USER)
    assert user is not None
    assert user.blocked_bot_at == world.clock()
    assert world.uploads.released == ["clip-token"]
    assert world.outbox.notices == []  # nobody there to tell


async def test_a_failed_try_is_retried_later_with_a_growing_wait(world: World) -> None:
    task = await world.given_succeeded()
    world.outbox.results.extend([DeliveryResult.RETRY, DeliveryResult.RETRY])

    await world.life.delivering.deliver(task)
    once = await world.task(task.id)
    await world.life.delivering.deliver(once)
    twice = await world.task(task.id)

    now = world.clock()
    assert (once.state, once.attempts) == (TaskState.SUCCEEDED, 1)
    assert once.next_check_at == now + world.tracking.retry_after(1)
    assert (twice.state, twice.attempts) == (TaskState.SUCCEEDED, 2)
    assert twice.next_check_at == now + world.tracking.retry_after(2)
    assert world.outbox.notices == []


async def test_after_delivery_attempts_failed_uploads_the_result_goes_as_a_link(
    world: World,
) -> None:
    task = await world.given_succeeded()
    world.outbox.results.extend([DeliveryResult.RETRY] * DELIVERY_ATTEMPTS)
    world.outbox.results.append(DeliveryResult.LINK)

    for _ in range(DELIVERY_ATTEMPTS + 1):
        await world.life.delivering.deliver(await world.task(task.id))

    uploads = [s.allow_upload for s in world.outbox.sent]
    assert uploads == [True] * DELIVERY_ATTEMPTS + [False]
    done = await world.task(task.id)
    assert (done.state, done.delivered_as) == (TaskState.DELIVERED, "link")


async def test_a_result_kept_no_longer_by_the_provider_is_given_up(world: World) -> None:
    task = await world.given_succeeded(upload="clip-token")
    world.clock.advance(world.tracking.result_retention)
    world.outbox.results.append(DeliveryResult.RETRY)

    await world.life.delivering.deliver(task)

    ended = await world.task(task.id)
    assert (ended.state, ended.failure) == (TaskState.FAILED, Failure.RESULT_UNAVAILABLE)
    assert world.outbox.notices == [
        (task.id, texts.task_failed(task.id, Failure.RESULT_UNAVAILABLE, None))
    ]
    assert len(world.outbox.reports) == 1
    assert world.uploads.released == ["clip-token"]


async def test_a_result_that_cannot_be_downloaded_is_given_up_after_delivery_attempts(
    world: World,
) -> None:
    task = await world.given_succeeded()
    world.outbox.results.extend([DeliveryResult.RESULT_GONE] * DELIVERY_ATTEMPTS)
    states = []

    for _ in range(DELIVERY_ATTEMPTS):
        await world.life.delivering.deliver(await world.task(task.id))
        states.append((await world.task(task.id)).state)

    assert states == [TaskState.SUCCEEDED] * (DELIVERY_ATTEMPTS - 1) + [TaskState.FAILED]
    assert (await world.task(task.id)).failure == Failure.RESULT_UNAVAILABLE


async def test_a_result_telegram_will_not_take_and_with_no_link_fails_at_once(
    world: World,
) -> None:
    task = await world.given_succeeded()
    world.outbox.results.append(DeliveryResult.NO_LINK)

    await world.life.delivering.deliver(task)

    ended = await world.task(task.id)
    assert (ended.state, ended.failure) == (TaskState.FAILED, Failure.CANNOT_SEND)
    assert len(world.outbox.notices) == 1


async def test_an_unexpected_error_in_a_delivery_counts_as_a_failed_try_and_is_reported(
    world: World,
) -> None:
    task = await world.given_succeeded()
    world.outbox.results.append(ValueError("a bug"))

    await world.life.delivering.deliver(task)

    after = await world.task(task.id)
    assert (after.state, after.attempts) == (TaskState.SUCCEEDED, 1)
    assert world.outbox.reports == [
        texts.unexpected_in_delivery(task.id, repr(ValueError("a bug")))
    ]


async def test_a_delivery_cut_off_by_a_stop_hands_the_task_back_due_now(world: World) -> None:
    task = await world.given_succeeded()
    world.clock.advance(7)
    world.outbox.results.append(asyncio.CancelledError())

    with pytest.raises(asyncio.CancelledError):
        await world.life.delivering.deliver(task)

    back = await world.task(task.id)
    assert (back.state, back.next_check_at, back.attempts) == (
        TaskState.SUCCEEDED,
        world.clock(),
        0,
    )


async def test_advance_delivers_a_succeeded_task(world: World) -> None:
    task = await world.given_succeeded()

    await world.life.advance(task)

    assert (await world.task(task.id)).state == TaskState.DELIVERED
