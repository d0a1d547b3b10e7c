"""TaskLifecycle: the stages of a task's life, built together over the same ports.

Each stage has one job (intake, submitting, checking, callbacks, delivering, endings, recovery,
cards); every change of a task's state in any of them is a conditional UPDATE through
`TaskRepository.transition`, so when two callers race for the same task (two Submit presses, a
poll and a callback), exactly one of them acts. The tracker (bot.services.tasks.tracker) decides
when each task's next step is due and calls `advance` or `submitting`.
"""

from __future__ import annotations

from bot.domain.records import Task, TaskState
from bot.services.maintenance import Maintenance
from bot.services.tasks.callbacks import Callbacks
from bot.services.tasks.cards import StatusCards
from bot.services.tasks.checking import Checking
from bot.services.tasks.delivering import Delivering
from bot.services.tasks.endings import Endings
from bot.services.tasks.intake import Intake
from bot.services.tasks.policy import QuotaPolicy, TrackingPolicy
from bot.services.tasks.ports import TaskPorts
from bot.services.tasks.recovery import Recovery
from bot.services.tasks.submitting import Submitting


class TaskLifecycle:
    def __init__(
        self,
        ports: TaskPorts,
        *,
        tracking: TrackingPolicy,
        quota: QuotaPolicy,
        maintenance: Maintenance,
    ) -> None:
        self.ports = ports
        self.policy = tracking
        self.cards = StatusCards(ports, tracking)
        self.endings = Endings(ports, self.cards)
        self.intake = Intake(ports, quota, maintenance)
        self.submitting = Submitting(ports, tracking, self.cards, self.endings)
        self.checking = Checking(ports, tracking, self.cards, self.endings)
        self.callbacks = Callbacks(ports, tracking, self.checking)
        self.delivering = Delivering(ports, tracking, self.cards, self.endings)
        self.recovery = Recovery(ports, self.endings)

    async def advance(self, task: Task) -> None:
        """Do what is due for the task now, other than submitting it (the tracker decides
        when a provider slot is free): check it, deliver it, or refresh its status card."""
        async with self.ports.speaking_to(task.user_id):
            await self._advance(task)

    async def _advance(self, task: Task) -> None:
        if task.state == TaskState.QUEUED:
            await self.cards.refresh(task)
        elif task.state == TaskState.PROCESSING:
            if (task.next_check_at or 0) <= self.ports.clock():
                await self.checking.check(task)
            else:  # woken only because its status card is due for a refresh
                await self.cards.refresh(task)
        elif task.state == TaskState.SUCCEEDED:
            await self.delivering.deliver(task)
