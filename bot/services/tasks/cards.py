"""Status cards: the message under each request that says where its task is."""

from __future__ import annotations

import math
import statistics

from bot.domain.delivery import Estimate
from bot.domain.records import Task, TaskState
from bot.services.tasks.policy import TrackingPolicy
from bot.services.tasks.ports import TaskPorts

# Status-card refreshes may take this many of Telegram's 30 messages a second; deliveries, answers
# and reports get the rest. With more cards than that at STATUS_EDIT_INTERVAL_SECONDS, each card
# is refreshed less often (1,000 cards: every 100 s).
CARD_EDITS_PER_SECOND = 10.0
CARD_COUNT_MAX_AGE = 10.0  # seconds between counts of the cards showing
# The typical time a card shows: the median of the provider's last TYPICAL_OF delivered tasks,
# once there are TYPICAL_FROM of them (fewer say little), worked out again after a minute.
TYPICAL_OF = 50
TYPICAL_FROM = 5
TYPICAL_MAX_AGE = 60.0
TYPICAL_UNKNOWN_AGE = 5.0  # seconds a "too few to say" is kept


class StatusCards:
    def __init__(self, ports: TaskPorts, policy: TrackingPolicy) -> None:
        self._ports = ports
        self._policy = policy
        self._interval = policy.status_edit_interval  # in force, given the cards showing
        self._counted_at: float | None = None
        self._typical: tuple[float | None, float] | None = None  # (median, when worked out)

    @property
    def interval_in_force(self) -> float:
        """The refresh interval as last worked out by `interval`."""
        return self._interval

    async def interval(self, now: float) -> float:
        """How often a status card is refreshed now: STATUS_EDIT_INTERVAL_SECONDS, or longer
        when so many cards show that refreshing each that often would take more than
        CARD_EDITS_PER_SECOND of Telegram's 30 messages a second."""
        counted_at = self._counted_at
        if counted_at is None or not 0 <= now - counted_at < CARD_COUNT_MAX_AGE:
            cards = await self._ports.tasks.count_cards_showing()
            self._interval = max(self._policy.status_edit_interval, cards / CARD_EDITS_PER_SECOND)
            self._counted_at = now
        return self._interval

    async def refresh(self, task: Task) -> None:
        """Show the time elapsed (or the place in the queue) on the card, asking no provider."""
        if await self._ports.tasks.update(
            task.id, task.state, status_edited_at=self._ports.clock()
        ):
            await self.show(task.id)

    async def show(self, task_id: int) -> None:
        """Edit the task's card to show its state as stored now."""
        tasks = self._ports.tasks
        task = await tasks.get(task_id)
        if task is None:
            return
        now = self._ports.clock()
        typical = await self.typical(now)
        position, start_in = None, None
        if task.state == TaskState.QUEUED:
            position = await tasks.queue_position(task.id)
            at_provider = await tasks.count_at_provider(now - self._policy.task_timeout)
            full = at_provider >= self._policy.max_at_provider
            position = position if full or position > 1 else None
            if position is not None and typical is not None:
                # Each round of MAX_CONCURRENT_TASKS ahead takes about the typical time.
                start_in = math.ceil(position / self._policy.max_at_provider) * typical
        price = await self._ports.price_of(task.id)
        await self._ports.outbox.show_status(task, position, Estimate(typical, start_in), price)

    async def typical(self, now: float) -> float | None:
        """The median time of the provider's last tasks (None while there are too few)."""
        if self._typical is not None and 0 <= now - self._typical[1] < TYPICAL_MAX_AGE:
            return self._typical[0]
        durations = await self._ports.tasks.recent_durations(self._ports.provider.name, TYPICAL_OF)
        median = statistics.median(durations) if len(durations) >= TYPICAL_FROM else None
        # Too few yet: asked again sooner, as the first tasks finish (but not on every card).
        kept_from = now if median is not None else now - TYPICAL_MAX_AGE + TYPICAL_UNKNOWN_AGE
        self._typical = (median, kept_from)
        return median
