"""Status cards: each request's card shows where its task is; with many cards showing, each is
refreshed less often, so that refreshes keep within their share of Telegram's rate."""

from __future__ import annotations

from bot.domain.records import TaskState
from bot.services.tasks.cards import CARD_COUNT_MAX_AGE, CARD_EDITS_PER_SECOND
from tests.specs.conftest import ADMIN, World

INTERVAL = 0.5  # STATUS_EDIT_INTERVAL_SECONDS in these specs: 5 cards a second each


async def cards_showing(world: World, count: int) -> None:
    for n in range(count):
        await world.given_queued(ADMIN, card=100 + n)


async def test_the_card_interval_grows_with_the_cards_showing(world: World) -> None:
    world.with_policies(status_edit_interval=INTERVAL)
    few, many = 3, 15  # 15 cards at 0.5 s would be 30 edits a second
    await cards_showing(world, few)
    with_few = await world.life.cards.interval(world.clock())
    await cards_showing(world, many - few)
    world.clock.advance(CARD_COUNT_MAX_AGE)

    with_many = await world.life.cards.interval(world.clock())

    assert with_few == INTERVAL
    assert with_many == many / CARD_EDITS_PER_SECOND
    assert world.life.cards.interval_in_force == with_many


async def test_the_cards_are_counted_again_only_after_card_count_max_age(world: World) -> None:
    world.with_policies(status_edit_interval=INTERVAL)
    counted = await world.life.cards.interval(world.clock())
    await cards_showing(world, 20)
    world.clock.advance(CARD_COUNT_MAX_AGE - 1)
    before = await world.life.cards.interval(world.clock())
    world.clock.advance(1)

    after = await world.life.cards.interval(world.clock())

    assert counted == before == INTERVAL
    assert after == 20 / CARD_EDITS_PER_SECOND


async def test_a_queued_card_shows_its_place_unless_it_goes_next_to_a_free_provider(
    world: World,
) -> None:
    first = await world.given_queued(ADMIN)
    second = await world.given_queued(ADMIN)

    await world.life.cards.show(first.id)
    await world.life.cards.show(second.id)
    free = [(c.task_id, c.queue_position) for c in world.outbox.cards]
    for _ in range(world.tracking.max_at_provider):
        await world.given_processing(user_id=ADMIN)  # the provider is full now
    await world.life.cards.show(first.id)

    assert free == [(first.id, None), (second.id, 2)]
    assert [(c.task_id, c.queue_position) for c in world.outbox.cards] == [(first.id, 1)]


async def test_a_refresh_marks_the_card_edited_and_shows_it(world: World) -> None:
    task = await world.given_processing()
    world.clock.advance(30)

    await world.life.cards.refresh(task)

    assert (await world.task(task.id)).status_edited_at == world.clock()
    assert [(c.task_id, c.state) for c in world.outbox.cards] == [(task.id, TaskState.PROCESSING)]
    assert world.provider.asked == []  # a refresh asks no provider


async def test_a_refresh_of_a_task_that_moved_on_shows_nothing(world: World) -> None:
    task = await world.given_queued()
    assert await world.tasks.transition(task.id, TaskState.QUEUED, TaskState.SUBMITTING)

    await world.life.cards.refresh(task)  # the task as it was, queued

    assert world.outbox.cards == []


async def test_advance_refreshes_a_queued_tasks_card_and_sends_nothing(world: World) -> None:
    task = await world.given_queued(card=100)

    await world.life.advance(task)

    assert [(c.task_id, c.state) for c in world.outbox.cards] == [(task.id, TaskState.QUEUED)]
    assert world.provider.submitted == []
