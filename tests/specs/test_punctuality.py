"""When the tracker cannot keep POLL_INTERVAL_SECONDS: every task still checked, the longest
waiting first, and the admins told once the checks have been late for minutes, and again when
they are on time (bot.services.tasks.punctuality)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.domain.provider import JobStatus
from bot.domain.records import TaskState
from bot.services.tasks.punctuality import BEHIND_FOR_SECONDS, Punctuality
from bot.services.tasks.tracker import Tracker
from bot.texts import i18n
from storage.db import Database
from tests.specs.conftest import TRACKING, World

LONG = 10_000.0  # seconds: a check not due within the spec


class Reports:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def __call__(self, report: object) -> None:
        assert callable(report)
        with i18n.speaking("en"):
            self.sent.append(report())


async def test_late_checks_are_reported_once_after_minutes_and_again_when_on_time() -> None:
    reports = Reports()
    punctual = Punctuality(threshold=15.0, report=reports)
    for now in range(0, int(BEHIND_FOR_SECONDS), 10):  # late at every round, for 5 minutes
        punctual.checks_started(40.0 + (now == 100) * 20, 900, now=float(now))
    await settled()
    assert reports.sent == []  # a burst the tracker catches up with is not news
    punctual.checks_started(50.0, 900, now=BEHIND_FOR_SECONDS)
    punctual.checks_started(55.0, 900, now=BEHIND_FOR_SECONDS + 10)
    await settled()
    assert len(reports.sent) == 1
    assert "50 sec later than planned (at worst 1 min)" in reports.sent[0]
    assert "900 tasks at the provider" in reports.sent[0]
    assert "every 15 sec" in reports.sent[0]
    assert "raise TRACKER_CONCURRENCY" in reports.sent[0]
    assert "POLL_INTERVAL_SECONDS" in reports.sent[0]
    punctual.checks_started(3.0, 900, now=BEHIND_FOR_SECONDS + 20)
    await settled()
    assert reports.sent[1] == "✅ Status checks are on time again."
    punctual.checks_started(2.0, 900, now=BEHIND_FOR_SECONDS + 30)
    await settled()
    assert len(reports.sent) == 2  # said once


async def test_in_webhook_mode_the_advice_is_about_the_safety_checks() -> None:
    reports = Reports()
    punctual = Punctuality(threshold=300.0, report=reports, callbacks=True)
    for now in range(0, 700, 100):
        punctual.checks_started(400.0, 5, now=float(now))
    await settled()
    assert len(reports.sent) == 1
    assert "SAFETY_POLL_INTERVAL_SECONDS" in reports.sent[0]
    assert "PUBLIC_URL" not in reports.sent[0]


async def test_a_spell_that_ends_before_minutes_pass_is_not_reported() -> None:
    reports = Reports()
    punctual = Punctuality(threshold=15.0, report=reports)
    punctual.checks_started(40.0, 10, now=0.0)
    punctual.checks_started(1.0, 10, now=100.0)  # caught up
    punctual.checks_started(40.0, 10, now=200.0)  # late again: a new spell
    punctual.checks_started(40.0, 10, now=200.0 + BEHIND_FOR_SECONDS - 1)
    # Two late checks minutes apart with none between are two spells, not one long one.
    punctual.checks_started(40.0, 10, now=200.0 + 2 * BEHIND_FOR_SECONDS)
    await settled()
    assert reports.sent == []


async def test_the_tracker_checks_the_longest_waiting_first_and_reports_falling_behind(
    db: Database,
) -> None:
    """Two tasks whose checks are overdue at every round for five minutes (the manual clock
    moves 10 s a round): the tracker checks both each time, the more overdue first, and the
    admins hear once that checks are falling behind; then once that they are on time."""
    # A round of the tracker's own can read the clock before the spec moves it and the tasks
    # after: it checks them under the step before, and the step it missed shows as a gap of
    # 20 s between late checks. An interval of 35 s keeps such gaps within one spell.
    world = World(db, tracking=replace(TRACKING, check_interval=35.0))
    first = await world.given_processing()
    second = await world.given_processing(user_id=1002)
    world.provider.status_answers.extend([JobStatus.running("still working")] * 200)
    tracker = Tracker(lifecycle=world.life, tasks=world.tasks, concurrency=1, clock=world.clock)

    async def nothing_due() -> None:
        """Neither task's check nor its card's refresh due within the spec, until a round
        says so: a round of the tracker's own (a timer's, or one its last checks' ends woke)
        would otherwise find both due alike once the clock moves on, and take them in either
        order, or keep one in hand (a card refresh) while the woken round checks the other."""
        far = world.clock() + LONG
        for task in (first, second):
            await world.tasks.update(
                task.id, TaskState.PROCESSING, next_check_at=far, status_edited_at=far
            )

    await nothing_due()
    tracker.start()
    try:
        for round_ in range(int(BEHIND_FOR_SECONDS // 10) + 2):
            now = world.clock()
            late = 1.0 if round_ > BEHIND_FOR_SECONDS // 10 else 50.0
            asked = len(world.provider.asked)
            # The more overdue is made due first: a round of the tracker's own that comes
            # between the two writes checks it alone, and the order still holds.
            await world.tasks.update(second.id, TaskState.PROCESSING, next_check_at=now - 2 * late)
            await world.tasks.update(first.id, TaskState.PROCESSING, next_check_at=now - late)
            tracker.wake()
            await until(lambda: len(world.provider.asked) == asked + 2)  # noqa: B023
            await until(lambda: not tracker.in_hand())  # the checks' own writes are done
            if late > 1:  # the more overdue first
                assert world.provider.asked[-2:] == [f"job-{second.id}", f"job-{first.id}"]
            await nothing_due()
            world.clock.advance(10.0)
        await until(lambda: len(world.outbox.reports) >= 2)
    finally:
        await tracker.stop(grace=1.0, submit_grace=1.0)
    assert len(world.outbox.reports) == 2, world.outbox.reports
    assert "Status checks are falling behind" in world.outbox.reports[0]
    assert "every 35 sec" in world.outbox.reports[0]
    assert world.outbox.reports[1] == "✅ Status checks are on time again."


async def settled() -> None:
    """Let the reports sent apart go out."""
    for _ in range(5):
        await asyncio.sleep(0)


async def until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
