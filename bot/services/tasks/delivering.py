"""Delivering: a finished task's result goes into its chat, once.

The claim `succeeded -> delivering` decides who sends it. A failed try goes back to
`succeeded` to be tried again later (as a link after DELIVERY_ATTEMPTS), until the provider no
longer keeps the result.
"""

from __future__ import annotations

import asyncio
import logging

from bot import texts
from bot.domain.delivery import DeliveryResult
from bot.domain.failures import Failure
from bot.domain.records import Task, TaskState
from bot.services.tasks.policy import DELIVERY_ATTEMPTS
from bot.services.tasks.stage import Stage

log = logging.getLogger(__name__)

_SENT = frozenset({DeliveryResult.VIDEO, DeliveryResult.DOCUMENT, DeliveryResult.LINK})


class Delivering(Stage):
    async def deliver(self, task: Task) -> None:
        """Send a finished task's result, once: the claim SUCCEEDED -> DELIVERING decides."""
        tasks = self._ports.tasks
        if not await tasks.transition(task.id, TaskState.SUCCEEDED, TaskState.DELIVERING):
            return
        claimed = await tasks.get(task.id)
        if claimed is None:
            return
        # Charged when the provider accepted it, unless the process died between storing that
        # answer and the charge: a held price is spent now (once; nothing if already charged).
        await self._ports.charge(task.id)
        try:
            # After repeated failures, stop uploading and send the result as a link.
            result = await self._ports.outbox.send_result(
                claimed, allow_upload=claimed.attempts < DELIVERY_ATTEMPTS
            )
        except asyncio.CancelledError:
            # Stopping: hand the task back so that the next start delivers it.
            await tasks.transition(
                task.id,
                TaskState.DELIVERING,
                TaskState.SUCCEEDED,
                next_check_at=self._ports.clock(),
            )
            raise
        except Exception as exc:  # a bug: count it as a failed attempt, and tell the admins
            log.exception("Delivering task %d failed unexpectedly", task.id)
            await self._endings.report_unexpected(texts.unexpected_in_delivery, task.id, exc)
            result = DeliveryResult.RETRY
        await self._done(claimed, result)

    async def _done(self, task: Task, result: DeliveryResult) -> None:
        now = self._ports.clock()
        if result in _SENT:
            await self._delivered(task, result, now)
        elif result == DeliveryResult.CHAT_UNREACHABLE:
            await self._unreachable(task, now)
        elif result == DeliveryResult.NO_LINK:
            await self._give_up(
                task, Failure.CANNOT_SEND, texts.detail_no_public_link(task.result_url)
            )
        else:
            await self._not_yet(task, result, now)

    async def _delivered(self, task: Task, result: DeliveryResult, now: float) -> None:
        if await self._ports.tasks.transition(
            task.id,
            TaskState.DELIVERING,
            TaskState.DELIVERED,
            delivered_as=str(result),
            delivered_at=now,
            status_edited_at=now,
        ):
            metrics = self._ports.metrics
            metrics.task_finished(TaskState.DELIVERED)
            finished = task.finished_at
            metrics.task_delivered(
                result,
                None
                if finished is None or task.submitted_at is None
                else finished - task.submitted_at,
                None if finished is None else now - finished,
            )
        log.info("Task %d delivered as %s", task.id, result)
        for token in task.media_tokens:
            await self._ports.uploads.release(token)
        await self._cards.show(task.id)

    async def _unreachable(self, task: Task, now: float) -> None:
        """The user blocked the bot or deleted the chat: nobody to send it to."""
        tasks = self._ports.tasks
        if await tasks.transition(task.id, TaskState.DELIVERING, TaskState.UNDELIVERABLE):
            self._ports.metrics.task_finished(TaskState.UNDELIVERABLE)
        for token in task.media_tokens:
            await self._ports.uploads.release(token)
        await self._ports.users.mark_blocked_bot(task.user_id, now)
        log.info("Task %d is done but its chat cannot be reached", task.id)

    async def _not_yet(self, task: Task, result: DeliveryResult, now: float) -> None:
        """A try that failed: try again later, unless the result is gone or has expired."""
        attempts = task.attempts + 1
        if result == DeliveryResult.RESULT_GONE and attempts >= DELIVERY_ATTEMPTS:
            detail = texts.detail_not_downloaded(task.result_url)
            await self._give_up(task, Failure.RESULT_UNAVAILABLE, detail)
            return
        if now >= (task.finished_at or now) + self._policy.result_retention:
            detail = texts.detail_expired(attempts)
            await self._give_up(task, Failure.RESULT_UNAVAILABLE, detail)
            return
        delay = await self._again_later(task, TaskState.DELIVERING, TaskState.SUCCEEDED, attempts)
        log.warning(
            "Delivery of task %d failed (%s); retry %d in %.0f s", task.id, result, attempts, delay
        )

    async def _give_up(self, task: Task, failure: Failure, detail: str) -> None:
        await self._endings.fail(task, TaskState.DELIVERING, failure, None, detail)
