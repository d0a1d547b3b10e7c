"""When the tracker cannot keep POLL_INTERVAL_SECONDS: every task still checked, the longest
waiting first, and the admins told once the checks have been late for minutes, and again when
they are on time (bot.services.tasks.punctuality)."""

from __future__ import annotations

import asyncio

from bot.domain.provider import JobStatus
from bot.domain.records import TaskState
from bot.services.tasks.punctuality import BEHIND_FOR_SECONDS, Punctuality
from bot.services.tasks.tracker import Tracker
from bot.texts import i18n
from tests.specs.conftest import TRACKING, World


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
    await punctual.checks_started(40.0, 900, now=0.0)
    await punctual.checks_started(60.0, 900, now=BEHIND_FOR_SECONDS - 1)
    assert reports.sent == []  # a burst the tracker catches up with is not news
    await punctual.checks_started(50.0, 900, now=BEHIND_FOR_SECONDS)
    await punctual.checks_started(55.0, 900, now=BEHIND_FOR_SECONDS + 60)
    assert len(reports.sent) == 1
    assert "50 sec later than planned (at worst 1 min)" in reports.sent[0]
    assert "900 tasks at the provider" in reports.sent[0]
    assert "every 15 sec" in reports.sent[0]
    assert "POLL_INTERVAL_SECONDS" in reports.sent[0]
    await punctual.checks_started(3.0, 900, now=BEHIND_FOR_SECONDS + 70)
    assert reports.sent[1] == "✅ Status checks are on time again."
    await punctual.checks_started(2.0, 900, now=BEHIND_FOR_SECONDS + 80)
    assert len(reports.sent) == 2  # said once


async def test_a_spell_that_ends_before_minutes_pass_is_not_reported() -> None:
    reports = Reports()
    punctual = Punctuality(threshold=15.0, report=reports)
    await punctual.checks_started(40.0, 10, now=0.0)
    await punctual.checks_started(1.0, 10, now=100.0)  # caught up
    await punctual.checks_started(40.0, 10, now=200.0)  # late again: a new spell
    await punctual.checks_started(40.0, 10, now=200.0 + BEHIND_FOR_SECONDS - 1)
    assert reports.sent == []


async def test_the_tracker_checks_the_longest_waiting_first_and_reports_falling_behind(
    world: World,
) -> None:
    """Two tasks whose checks are 100 s overdue, then, minutes later, overdue again by
    minutes: the tracker checks both each time, the more overdue first, and the admins hear
    once that checks are falling behind."""
    first = await world.given_processing()
    second = await world.given_processing(user_id=1002)
    now = world.clock()
    await world.tasks.update(first.id, TaskState.PROCESSING, next_check_at=now - 50)
    await world.tasks.update(second.id, TaskState.PROCESSING, next_check_at=now - 100)
    running = JobStatus.running("still working")
    world.provider.status_answers.extend([running] * 4)
    tracker = Tracker(lifecycle=world.life, tasks=world.tasks, concurrency=1, clock=world.clock)
    tracker.start()
    try:
        await until(lambda: len(world.provider.asked) == 2)
        assert world.provider.asked == [f"job-{second.id}", f"job-{first.id}"]
        assert world.outbox.reports == []
        world.clock.advance(BEHIND_FOR_SECONDS + 100)  # both due again, 5 minutes late
        tracker.wake()
        await until(lambda: len(world.provider.asked) == 4)
        await until(lambda: len(world.outbox.reports) == 1)
    finally:
        await tracker.stop(grace=1.0, submit_grace=1.0)
    report = world.outbox.reports[0]
    assert "Status checks are falling behind" in report
    assert f"every {TRACKING.check_interval:.0f} sec" in report


async def until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
