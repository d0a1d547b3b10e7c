"""Recovery, at start: settling what a crash or a stop left half-done. Run before the tracker
starts; all else the tracker finds again by itself (its state is in the rows)."""

from __future__ import annotations

import logging
from collections.abc import Collection

from bot import texts
from bot.domain.records import Task, TaskState
from bot.services.tasks.endings import Endings
from bot.services.tasks.ports import TaskPorts

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, ports: TaskPorts, endings: Endings) -> None:
        self._ports = ports
        self._endings = endings

    async def recover(self) -> None:
        """At start. The only instance settles every task left half-done; one of several
        settles only those of instances that died (the others' are theirs)."""
        await self._ports.settle_ended_prices()
        tasks = self._ports.tasks
        if tasks.shared:
            # What instances that left (their rows gone) had in hand; those whose heartbeats
            # stopped are taken over by the heartbeats, once this one's own get through.
            await self.take_over(silent_owners=False)
            return
        for task in await tasks.in_states([TaskState.SUBMITTING, TaskState.DELIVERING]):
            await self._settle(task)

    async def take_over(self, in_hand: Collection[int] = (), *, silent_owners: bool = True) -> int:
        """Settle the tasks left mid-submit or mid-delivery by instances that left or died
        (`silent_owners`: also those whose heartbeats stopped), and by this one when its last
        write about them was lost (`in_hand`: what it is working on now); several instances.
        How many."""
        tasks = self._ports.tasks
        now = self._ports.clock()
        settled = 0
        for task in await tasks.orphaned(now, in_hand, silent_owners=silent_owners):
            if await tasks.claim(task, now):  # of two instances taking over, one does
                log.info("Task %d: taking over from instance %s", task.id, task.lease_owner)
                await self._settle(task)
                settled += 1
        checks = 0
        for task in await tasks.left_processing(silent_owners=silent_owners):
            # Its callback may have reached the dead instance and died with it: ask the
            # provider now, rather than at the safety poll minutes later.
            if await tasks.claim(task, now) and await tasks.update(
                task.id, TaskState.PROCESSING, next_check_at=now
            ):
                checks += 1
        if checks:
            log.info("%d task(s) of an instance that stopped: checked now", checks)
            self._ports.wake_tracker()
        return settled

    async def _settle(self, task: Task) -> None:
        if task.state == TaskState.SUBMITTING:
            # Sent or not, nobody knows: never sent again (it may exist, and cost).
            async with self._ports.speaking_to(task.user_id):
                await self._endings.mark_unknown(task, texts.detail_stopped_while_submitting())
        elif task.state == TaskState.DELIVERING:
            # The delivery was cut off; send again (the result may rarely arrive twice).
            await self._ports.tasks.transition(
                task.id,
                TaskState.DELIVERING,
                TaskState.SUCCEEDED,
                next_check_at=self._ports.clock(),
            )
            log.info("Task %d: delivery interrupted by a restart; retrying", task.id)
