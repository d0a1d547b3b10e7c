"""The tracker's reads each round leave out the tasks it has in hand, in SQL: a row read again
each round for nothing is CPU spent (about 40 us a row), and with TRACKER_CONCURRENCY 100 it was
hundreds of rows a round (issue 18)."""

from __future__ import annotations

from bot.domain.records import TaskState
from tests.specs.conftest import World


async def test_due_checks_leave_out_the_tasks_in_hand(world: World) -> None:
    world.with_policies(max_at_provider=3)
    tasks = [await world.given_processing(user_id=1001 + n) for n in range(3)]
    now = world.clock()
    for n, task in enumerate(tasks):
        await world.tasks.update(task.id, TaskState.PROCESSING, next_check_at=now - 30 + n)
    due = await world.tasks.due(now, 5, 3600.0)
    assert [t.id for t in due] == [t.id for t in tasks]  # the longest due first
    due = await world.tasks.due(now, 1, 3600.0, exclude=[tasks[0].id])
    assert [t.id for t in due] == [tasks[1].id]
    due = await world.tasks.due(now, 5, 3600.0, exclude=[tasks[0].id, tasks[2].id])
    assert [t.id for t in due] == [tasks[1].id]


async def test_due_deliveries_leave_out_the_tasks_in_hand(world: World) -> None:
    first = await world.given_succeeded()
    second = await world.given_succeeded()
    now = world.clock() + 1
    assert [t.id for t in await world.tasks.due_deliveries(now, 5)] == [first.id, second.id]
    assert [t.id for t in await world.tasks.due_deliveries(now, 5, exclude=[first.id])] == [
        second.id
    ]
    assert await world.tasks.due_deliveries(now, 5, exclude=[first.id, second.id]) == []
