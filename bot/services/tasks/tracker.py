"""The tracking loop: reads due tasks from the database and hands each to its stage.

All tracking state is in the database (`tasks.next_check_at`), so after a restart the loop
simply finds every unfinished task again. The only thing kept in memory is which tasks are
being worked on right now, so that one round does not pick up a task the last one still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot import texts
from bot.domain.cancelling import cancel_and_wait
from bot.domain.database import DatabaseUnavailableError
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.records import Task, TaskState
from bot.logs.context import about_task
from bot.services.tasks.lifecycle import TaskLifecycle
from bot.services.tasks.policy import MAX_RETRY_DELAY
from bot.services.tasks.punctuality import Punctuality
from storage.tasks import TaskRepository

log = logging.getLogger(__name__)

# Rounds start at most this often. Every job's end wakes the loop; under load that would be a
# round (five queries) per job: a short pause lets one round see the ends of many.
MIN_ROUND_GAP = 0.05

T = TypeVar("T")


class Tracker:
    def __init__(
        self,
        *,
        lifecycle: TaskLifecycle,
        tasks: TaskRepository,
        concurrency: int,
        max_idle: float = 5.0,
        wakeup: asyncio.Event | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """`wakeup`: set by whoever knows of work due now (the stages, given `wakeup.set` in
        their ports when they are built), so that neither is patched onto the other afterwards.
        `metrics`: told each round's database time."""
        self._metrics = metrics
        self._round_db = 0.0  # seconds the current round's statements took
        self._lifecycle = lifecycle
        self._tasks = tasks
        self._slots = asyncio.Semaphore(concurrency)  # checks and card refreshes
        # Deliveries have slots of their own: waiting for Telegram's 30 messages a second, they
        # must not hold up the checks that find the next results.
        self._delivery_slots = asyncio.Semaphore(concurrency)
        self._batch = concurrency * 4
        self._max_at_provider = lifecycle.policy.max_at_provider
        self._task_timeout = lifecycle.policy.task_timeout
        self._max_idle = max_idle
        self._clock = clock
        self._wake = wakeup or asyncio.Event()
        self._working: dict[int, asyncio.Task[None]] = {}
        self._picked: set[int] = set()  # queued tasks picked up to be sent to the provider
        self._sending: set[int] = set()  # of those, the ones whose submit is under way
        self._delivering: set[int] = set()  # finished tasks picked up to be delivered
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._at_provider = 0  # as the last round counted them
        self._punctuality = Punctuality(
            threshold=lifecycle.policy.check_interval,
            report=lifecycle.ports.outbox.report_to_admins,
            callbacks=lifecycle.policy.callback_base_url is not None,
        )

    def in_hand(self) -> frozenset[int]:
        """The tasks being worked on now."""
        return frozenset(self._working)

    def wake(self) -> None:
        """Look for due tasks now instead of at the next planned time."""
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="tracker")

    async def stop(self, grace: float, submit_grace: float) -> None:
        """Stop picking up work; give work in hand `grace` seconds, then cancel it.

        Submissions under way get up to `submit_grace` seconds: one cut off before its answer
        arrives leaves a task whose outcome is unknown. Any other work cut off here is picked up
        again at the next start (see Recovery.recover).
        """
        self._stopping = True
        self.wake()
        if self._loop_task is not None:
            await cancel_and_wait(self._loop_task)
            self._loop_task = None
        # Tasks waiting for the provider's turn have sent nothing: they stay queued for the next
        # start.
        for task_id in self._picked - self._sending:
            self._working[task_id].cancel()
        working = dict(self._working)
        if not working:
            return
        _, pending = await asyncio.wait(working.values(), timeout=grace)
        submits = [
            job for task_id, job in working.items() if job in pending and task_id in self._sending
        ]
        if submits:
            log.info("Waiting for %d submission(s) to be answered", len(submits))
            await asyncio.wait(submits, timeout=max(0.0, submit_grace - grace))
        left = [job for job in working.values() if not job.done()]
        for job in left:
            job.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    async def _run(self) -> None:
        last_round = float("-inf")
        while not self._stopping:
            gap = MIN_ROUND_GAP - (time.monotonic() - last_round)
            if gap > 0:
                await asyncio.sleep(gap)
            last_round = time.monotonic()
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailableError as exc:  # the statement waited for it already
                log.warning("Tracker round skipped: %s", exc)
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("Tracker round failed; trying again shortly")
                await asyncio.sleep(1.0)

    async def _db(self, statement: Awaitable[T]) -> T:
        """Await one of the round's statements, adding its time to the round's."""
        started = time.perf_counter()
        try:
            return await statement
        finally:
            self._round_db += time.perf_counter() - started

    async def _round(self) -> None:
        self._wake.clear()
        self._round_db = 0.0
        now = self._clock()
        # Submissions first, in order, only as many as the provider has free slots for, and
        # no more than a batch waiting for the provider's rate limit at once (a task waiting
        # there is not looked at otherwise: its card keeps its place in the queue meanwhile).
        free = min(await self._free_slots(now), self._batch - len(self._picked))
        head_busy = False
        due = await self._db(self._tasks.due_submissions(now, max(free, 0) + len(self._picked)))
        for task in due:
            if task.id in self._picked:
                continue
            if task.id in self._working or free <= 0:
                # In hand already (its card is being refreshed): wait for it rather than let
                # the next one overtake it. Its end wakes this loop again.
                head_busy = task.id in self._working
                break
            free -= 1
            self._picked.add(task.id)
            self._working[task.id] = asyncio.create_task(self._submit(task))
        # Then deliveries, and checks and card refreshes, the longest due first, no more than a
        # batch of each in hand (thousands of due tasks must not become thousands of waiting
        # jobs, nor thousands of rows read every round).
        room = self._batch - len(self._delivering)
        if room > 0:
            in_hand = list(self._working)
            for task in await self._db(self._tasks.due_deliveries(now, room, in_hand)):
                if room > 0 and task.id not in self._working:
                    self._delivering.add(task.id)
                    self._start(task, self._lifecycle.advance, self._delivery_slots)
                    room -= 1
        card_interval = await self._db(self._lifecycle.cards.interval(now))
        room = self._batch - (len(self._working) - len(self._picked) - len(self._delivering))
        if room > 0:
            lateness: float | None = None  # of the most overdue check started
            for task in await self._db(
                self._tasks.due(now, room, card_interval, list(self._working))
            ):
                if room > 0 and task.id not in self._working:
                    self._start(task, self._lifecycle.advance, self._slots)
                    room -= 1
                    late = self._check_lateness(task, now)
                    if late is not None:
                        self._metrics.check_started(late)
                        lateness = max(late, lateness or 0.0)
            if lateness is not None:
                self._punctuality.checks_started(lateness, self._at_provider, now)
        next_at = await self._db(
            self._tasks.next_wake_at(
                card_interval, self._working.keys(), submissions=free > 0 and not head_busy, now=now
            )
        )
        self._metrics.tracker_round(self._round_db)
        idle = self._max_idle if next_at is None else next_at - self._clock()
        idle = min(max(idle, 0.0), self._max_idle)
        if idle > 0 and not self._stopping:
            # Not asyncio.wait_for: in Python 3.11 it swallows a cancellation that comes at the
            # moment the event is set, and the loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):
                    await self._wake.wait()

    def _check_lateness(self, task: Task, now: float) -> float | None:
        """How late the status check of a task picked now starts; None when it is no planned
        check: a card refresh, or the check at the task's deadline (which may be long past for
        a task adopted late)."""
        if task.state != TaskState.PROCESSING or task.next_check_at is None:
            return None
        if task.next_check_at > now or self._lifecycle.policy.overdue(task, now):
            return None
        return now - task.next_check_at

    async def _free_slots(self, now: float) -> int:
        """Provider slots free for new submissions. Tasks picked in an earlier round but not
        yet "submitting" count as taken (a little conservative, never over the cap)."""
        taken = await self._db(
            self._tasks.count_at_provider(unknown_since=now - self._task_timeout)
        )
        self._at_provider = taken
        return self._max_at_provider - taken - len(self._picked)

    def _start(
        self, task: Task, work: Callable[[Task], Awaitable[None]], slots: asyncio.Semaphore
    ) -> None:
        self._working[task.id] = asyncio.create_task(self._advance(task, work, slots))

    async def _advance(
        self, task: Task, work: Callable[[Task], Awaitable[None]], slots: asyncio.Semaphore
    ) -> None:
        async def in_a_slot(task: Task) -> None:
            async with slots:
                await work(task)

        await self._guarded(task, in_a_slot)

    async def _submit(self, task: Task) -> None:
        """Send a queued task once the provider's rate limit allows.

        Outside the slots: a submission waiting for its turn must not hold up checks and
        deliveries, and once it has its turn it must go at once (the turn is counted from then).
        """

        async def send(task: Task) -> None:
            await self._lifecycle.submitting.wait_for_turn()
            self._sending.add(task.id)
            await self._lifecycle.submitting.send(task)

        await self._guarded(task, send)

    async def _guarded(self, task: Task, work: Callable[[Task], Awaitable[None]]) -> None:
        """Run the work, if no other instance holds the task; an unexpected error is reported
        and the task looked at again later. Every line logged meanwhile names the task."""
        with about_task(task):
            await self._attempt(task, work)

    async def _attempt(self, task: Task, work: Callable[[Task], Awaitable[None]]) -> None:
        try:
            if await self._tasks.claim(task, self._clock()):
                await work(task)
        except DatabaseUnavailableError as exc:
            # Not a bug, and nothing to report per task: the task is still in the state its
            # last stored change left, and a later round takes it up from there.
            log.warning("Advancing task %d waits for the database: %s", task.id, exc)
        except Exception as exc:
            log.exception("Advancing task %d failed", task.id)
            await self._postpone(task)
            with contextlib.suppress(Exception):
                await self._lifecycle.endings.report_unexpected(
                    texts.unexpected_in_task, task.id, exc
                )
        finally:
            self._working.pop(task.id, None)
            self._picked.discard(task.id)
            self._sending.discard(task.id)
            self._delivering.discard(task.id)
            self.wake()

    async def _postpone(self, task: Task) -> None:
        """After an unexpected error, look at the task again later rather than at once."""
        with contextlib.suppress(Exception):
            await self._tasks.update(
                task.id, TaskState(task.state), next_check_at=self._clock() + MAX_RETRY_DELAY / 5
            )
