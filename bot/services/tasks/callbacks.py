"""Provider callbacks: finding the task a callback URL belongs to, and acting on what the
callback says (after the endpoint has answered). A callback for a task whose submit answer was
lost adopts it: the job exists after all, and is tracked."""

from __future__ import annotations

import logging

from bot import texts
from bot.domain.provider import CallbackEvent
from bot.domain.records import Task, TaskState
from bot.services.tasks.checking import Checking
from bot.services.tasks.policy import TrackingPolicy
from bot.services.tasks.ports import TaskPorts

log = logging.getLogger(__name__)


class Callbacks:
    def __init__(self, ports: TaskPorts, policy: TrackingPolicy, checking: Checking) -> None:
        self._ports = ports
        self._policy = policy
        self._checking = checking

    async def task_for(self, provider: str, token: str) -> Task | None:
        """The task a callback URL belongs to, if the URL is genuine."""
        if provider != self._ports.provider.name:
            return None
        return await self._ports.tasks.get_by_callback_token(provider, token)

    async def on_callback(self, task_id: int, event: CallbackEvent) -> None:
        """Act on an authenticated provider callback (after the endpoint has answered).

        Duplicates and callbacks racing a poll are harmless: the transitions decide.
        """
        task = await self._ports.tasks.get(task_id)
        if task is None:
            return
        async with self._ports.speaking_to(task.user_id):
            await self._act(task, event)

    async def _act(self, task: Task | None, event: CallbackEvent) -> None:
        if task is not None and task.state == TaskState.UNKNOWN and task.provider_task_id is None:
            task = await self._adopt(task, event.job_id)
        if task is None or task.state != TaskState.PROCESSING:
            return
        if task.provider_task_id != event.job_id:
            log.warning(
                "Callback for task %d names job %s, not %s",
                task.id,
                event.job_id,
                task.provider_task_id,
            )
            return
        if event.status is None:
            await self._checking.check(task)  # the callback says it ended, not how: ask
        else:
            await self._checking.on_status(task, event.status)

    async def _adopt(self, task: Task, job_id: str) -> Task | None:
        """A task whose submit answer was lost turns out to exist: track it after all."""
        now = self._ports.clock()
        adopted = await self._ports.tasks.transition(
            task.id,
            TaskState.UNKNOWN,
            TaskState.PROCESSING,
            provider_task_id=job_id,
            submitted_at=task.created_at,
            attempts=0,
            failure=None,
            error_detail=None,
            finished_at=None,
            next_check_at=self._policy.next_check(
                task.created_at, now, self._policy.check_interval
            ),
        )
        if adopted:
            log.info(
                "Task %d: the provider called back as %s; tracking it after all", task.id, job_id
            )
            # The provider took it after all: its price is spent (taken again if an admin
            # returned it meanwhile, when the balance allows; else the task is free).
            price = await self._ports.charge_found(task.id)
            await self._ports.outbox.notify(task, texts.task_found_after_all(task.id))
            await self._ports.outbox.report_to_admins(
                lambda: texts.report_found_after_all(
                    task.id, self._ports.provider.name, job_id, price
                )
            )
        return await self._ports.tasks.get(task.id)
