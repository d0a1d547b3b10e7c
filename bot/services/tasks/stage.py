"""What the stages that move a task on (submitting, checking, delivering) are built from."""

from __future__ import annotations

from bot.domain.records import Task, TaskState
from bot.services.tasks.cards import StatusCards
from bot.services.tasks.endings import Endings
from bot.services.tasks.policy import TrackingPolicy
from bot.services.tasks.ports import TaskPorts


class Stage:
    def __init__(
        self, ports: TaskPorts, policy: TrackingPolicy, cards: StatusCards, endings: Endings
    ) -> None:
        self._ports = ports
        self._policy = policy
        self._cards = cards  # shown after each change the user should see
        self._endings = endings  # for the ways a task ends badly

    async def _again_later(
        self, task: Task, from_state: TaskState, to_state: TaskState, attempts: int
    ) -> float:
        """Put the task back, to be tried again after a wait that doubles with each attempt
        (TrackingPolicy.retry_after); the wait, in seconds."""
        delay = self._policy.retry_after(attempts)
        await self._ports.tasks.transition(
            task.id,
            from_state,
            to_state,
            attempts=attempts,
            next_check_at=self._ports.clock() + delay,
        )
        return delay
