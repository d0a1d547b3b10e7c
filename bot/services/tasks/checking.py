"""Checking: what the provider says about a processing task, from a poll or a callback, and
what the task does next (finished, failed, timed out, or checked again later)."""

from __future__ import annotations

import logging

from bot import texts
from bot.domain.failures import Failure
from bot.domain.provider import JobState, JobStatus, ProviderError
from bot.domain.records import Task, TaskState
from bot.services.tasks.policy import (
    CHECK_ERRORS_BEFORE_ALERT,
    NOT_FOUND_BEFORE_FAILING,
)
from bot.services.tasks.stage import Stage

log = logging.getLogger(__name__)


class Checking(Stage):
    async def check(self, task: Task) -> None:
        """Ask the provider about a processing task and act on the answer."""
        if task.provider_task_id is None:  # cannot happen: PROCESSING always has the job id
            raise RuntimeError(f"task {task.id} is processing without a provider id")
        try:
            status = await self._ports.provider.status(task.provider_task_id)
        except ProviderError as exc:
            await self._unanswered(task, exc.failure, exc.detail)
            return
        except Exception as exc:  # a bug, or an answer nobody foresaw: count it like an error
            log.exception("Checking task %d failed unexpectedly", task.id)
            await self._unanswered(task, Failure.PROVIDER_ERROR, texts.detail_unexpected(repr(exc)))
            await self._endings.report_unexpected(texts.unexpected_in_status_check, task.id, exc)
            return
        await self.on_status(task, status)

    async def on_status(self, task: Task, status: JobStatus) -> None:
        """Apply a provider's status answer (from a poll or a callback) to a processing task."""
        now = self._ports.clock()
        if status.state == JobState.SUCCEEDED:
            await self._finished(task, status, now)
        elif status.state == JobState.FAILED:
            failure = status.failure or Failure.GENERATION_FAILED
            await self._endings.fail(
                task, TaskState.PROCESSING, failure, status.error_message, status.detail
            )
        elif self._policy.overdue(task, now):
            await self._endings.fail(
                task, TaskState.PROCESSING, Failure.TIMED_OUT, None, status.detail
            )
        else:
            await self._still_running(task, now)

    async def _finished(self, task: Task, status: JobStatus, now: float) -> None:
        won = await self._ports.tasks.transition(
            task.id,
            TaskState.PROCESSING,
            TaskState.SUCCEEDED,
            result_url=status.result_url,
            finished_at=now,
            next_check_at=now,
            attempts=0,
            not_founds=0,
        )
        if won:
            # The tracker delivers it, in the order results came, a few at a time: a burst
            # of callbacks must not become thousands of downloads waiting for Telegram.
            log.info("Task %d finished at the provider", task.id)
            self._ports.wake_tracker()  # a provider slot is free, and a result is due

    async def _still_running(self, task: Task, now: float) -> None:
        fields: dict[str, object] = {
            "next_check_at": self._policy.next_check(
                task.started_at, now, self._policy.check_interval
            ),
            "attempts": 0,
            "not_founds": 0,
        }
        edit_card = now - (task.status_edited_at or 0) >= self._cards.interval_in_force
        if edit_card:
            fields["status_edited_at"] = now
        await self._ports.tasks.update(task.id, TaskState.PROCESSING, **fields)
        if edit_card:
            await self._cards.show(task.id)

    async def _unanswered(self, task: Task, failure: Failure, detail: str) -> None:
        """A check that got no status: try again later, unless the task is lost or overdue."""
        now = self._ports.clock()
        attempts = task.attempts + 1
        # "Not found" only ends the task that many times in a row: another error between two
        # of them (the provider unreachable) starts the count again.
        not_founds = task.not_founds + 1 if failure == Failure.NOT_FOUND else 0
        log.warning("Status check %d for task %d failed: %s", attempts, task.id, detail)
        if not_founds >= NOT_FOUND_BEFORE_FAILING:
            await self._endings.fail(task, TaskState.PROCESSING, Failure.NOT_FOUND, None, detail)
            return
        if self._policy.overdue(task, now):
            await self._endings.fail(task, TaskState.PROCESSING, Failure.TIMED_OUT, None, detail)
            return
        delay = self._policy.check_after_errors(attempts)
        await self._ports.tasks.update(
            task.id,
            TaskState.PROCESSING,
            attempts=attempts,
            not_founds=not_founds,
            next_check_at=self._policy.next_check(task.started_at, now, delay),
        )
        if attempts == CHECK_ERRORS_BEFORE_ALERT:
            await self._ports.outbox.report_to_admins(
                lambda: texts.report_status_checks_failing(task.id, attempts, detail)
            )
