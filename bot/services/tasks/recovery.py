"""Recovery, at start: settling what a crash or a stop left half-done. Run before the tracker
starts; all else the tracker finds again by itself (its state is in the rows)."""

from __future__ import annotations

import logging

from bot import texts
from bot.domain.records import TaskState
from bot.services.tasks.endings import Endings
from bot.services.tasks.ports import TaskPorts

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, ports: TaskPorts, endings: Endings) -> None:
        self._ports = ports
        self._endings = endings

    async def recover(self) -> None:
        tasks = self._ports.tasks
        for task in await tasks.in_states([TaskState.SUBMITTING]):
            # Sent or not, nobody knows: never sent again (it may exist, and cost).
            async with self._ports.speaking_to(task.user_id):
                await self._endings.mark_unknown(task, texts.detail_stopped_while_submitting())
        for task in await tasks.in_states([TaskState.DELIVERING]):
            # The delivery was cut off; send again (the result may rarely arrive twice).
            await tasks.transition(
                task.id,
                TaskState.DELIVERING,
                TaskState.SUCCEEDED,
                next_check_at=self._ports.clock(),
            )
            log.info("Task %d: delivery interrupted by a restart; retrying", task.id)
