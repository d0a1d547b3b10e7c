"""How a task ends badly: failed, or sent with no answer (its outcome unknown); and reports of
the bot's own errors. The user hears it in the chat, the admins in a report."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot import texts
from bot.domain.failures import Failure
from bot.domain.records import Task, TaskState
from bot.services.tasks.cards import StatusCards
from bot.services.tasks.ports import TaskPorts

log = logging.getLogger(__name__)


class Endings:
    def __init__(self, ports: TaskPorts, cards: StatusCards) -> None:
        self._ports = ports
        self._cards = cards

    async def fail(
        self,
        task: Task,
        from_state: TaskState,
        failure: Failure,
        provider_message: str | None,
        detail: str,
    ) -> None:
        """Move the task from `from_state` to failed (if it is still there) and say why."""
        now = self._ports.clock()
        won = await self._ports.tasks.transition(
            task.id,
            from_state,
            TaskState.FAILED,
            failure=failure,
            error_detail=detail,
            finished_at=now,
            status_edited_at=now,
        )
        if not won:
            return
        log.info("Task %d failed: %s (%s)", task.id, failure, detail)
        self._ports.metrics.task_finished(TaskState.FAILED, failure)
        await self._ports.give_back(task.id, str(failure))
        self._ports.wake_tracker()  # a provider slot may be free
        await self._tell(
            task, texts.task_failed(task.id, failure, provider_message), offer_retry=True
        )
        await self._ports.outbox.report_to_admins(
            lambda: texts.report_task_failed(task.id, task.user_id, str(failure), detail)
        )

    async def mark_unknown(self, task: Task, detail: str) -> None:
        """A submit was sent and no answer came: the job may exist (and cost), so it is never
        sent again; a callback may still find it (see Callbacks)."""
        now = self._ports.clock()
        won = await self._ports.tasks.transition(
            task.id,
            (TaskState.SUBMITTING,),
            TaskState.UNKNOWN,
            failure=Failure.OUTCOME_UNKNOWN,
            error_detail=detail,
            finished_at=now,
            status_edited_at=now,
        )
        if not won:
            return
        log.warning("Task %d: submit outcome unknown (%s)", task.id, detail)
        self._ports.metrics.task_finished(TaskState.UNKNOWN, Failure.OUTCOME_UNKNOWN)
        await self._tell(task, texts.task_failed(task.id, Failure.OUTCOME_UNKNOWN, None))
        await self._ports.outbox.report_to_admins(
            lambda: texts.report_outcome_unknown(task, self._ports.provider.name, detail)
        )

    async def report_unexpected(
        self, report: Callable[[int, str], str], task_id: int, exc: BaseException
    ) -> None:
        """Tell the admins about a bug (the traceback is in the log): `report` is the texts
        sentence for where it happened (texts.unexpected_in_delivery, ...)."""
        await self._ports.outbox.report_to_admins(lambda: report(task_id, repr(exc)))

    async def _tell(self, task: Task, html: str, *, offer_retry: bool = False) -> None:
        """Say how the task ended; a failed one (not one whose outcome is unknown: it may have
        cost already) with a "Try again" button."""
        for token in task.media_tokens:
            await self._ports.uploads.release(token)
        await self._cards.show(task.id)
        await self._ports.outbox.notify(task, html, offer_retry=offer_retry)
