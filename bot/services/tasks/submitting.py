"""Submitting: a queued task is sent to the provider, once.

The row says `submitting` before the request leaves. An answer makes it `processing` (or puts
it back in the queue when the provider says "not now"); no answer makes it `unknown`, never
sent again, since the job may exist and cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bot import texts
from bot.domain.failures import Failure
from bot.domain.provider import ProviderError, SubmitOutcomeUnknownError, SubmitRequest
from bot.domain.records import Task, TaskState
from bot.logs.context import job_known
from bot.services.tasks.policy import SUBMIT_WAITS
from bot.services.tasks.stage import Stage
from bot.urls import callback_url

log = logging.getLogger(__name__)

# Answers that say "not now": the request was not accepted, and may be later.
_COME_BACK_LATER = frozenset({Failure.RATE_LIMITED, Failure.MAINTENANCE})


@dataclass
class _Turn:
    """The provider's submit turn one `send` waited for: used once the request may leave."""

    used: bool = False


class Submitting(Stage):
    async def wait_for_turn(self) -> None:
        """Wait until the provider's rate limit lets one more submit through; the next `send`
        uses the turn. Tasks wait here still `queued`: nothing is sent yet."""
        await self._ports.provider.wait_for_submit_turn()

    async def send(self, task: Task) -> None:
        """Submit a queued task, with the turn `wait_for_turn` took. The row says `submitting`
        before the request leaves. If it does not go after all (another instance took the
        task, every provider slot is taken, an error or a stop on the way), the turn is given
        back: unused, it would hold a place in the window, and the next submit would be given
        it, too old."""
        turn = _Turn()
        try:
            async with self._ports.speaking_to(task.user_id):
                await self._send(task, turn)
        finally:
            if not turn.used:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._ports.provider.give_back_submit_turn())

    async def _send(self, task: Task, turn: _Turn) -> None:
        tasks = self._ports.tasks
        unknown_since = self._ports.clock() - self._policy.task_timeout
        if not await tasks.start_submitting(task.id, self._policy.max_at_provider, unknown_since):
            return  # taken by another, or every provider slot is taken (by other instances)
        request = self._request(task)
        turn.used = True  # from here on, a request may leave
        try:
            job_id = await self._ports.provider.submit(request)
        except ProviderError as exc:
            if exc.failure in _COME_BACK_LATER and task.attempts < SUBMIT_WAITS:
                await self._requeue(task, exc.detail)
                return
            await self._endings.fail(
                task, TaskState.SUBMITTING, exc.failure, exc.message, exc.detail
            )
            return
        except SubmitOutcomeUnknownError as exc:
            await self._endings.mark_unknown(task, str(exc))
            return
        except Exception as exc:
            await self._endings.mark_unknown(task, texts.detail_unexpected_submit(repr(exc)))
            raise
        # Logged before it is stored: if storing fails, the job can still be found.
        job_known(job_id)  # the task's lines from here on name its job
        log.info("Task %d accepted by %s as %s", task.id, self._ports.provider.name, job_id)
        now = self._ports.clock()
        moved = await tasks.transition(
            task.id,
            TaskState.SUBMITTING,
            TaskState.PROCESSING,
            provider_task_id=job_id,
            submitted_at=now,
            next_check_at=self._policy.next_check(now, now, self._policy.first_check_delay),
            status_edited_at=now,
            attempts=0,
        )
        if moved:
            await self._ports.charge(task.id)
            await self._cards.show(task.id)

    def _request(self, task: Task) -> SubmitRequest:
        return SubmitRequest(
            video_url=task.video_url,
            prompt=task.prompt,
            callback_url=self._callback_url(task),
            mode=task.mode,
            first_frame_url=task.first_frame_url,
        )

    def _callback_url(self, task: Task) -> str | None:
        base = self._policy.callback_base_url
        if base is None or not task.callback_token:
            return None
        return callback_url(base, self._ports.provider.name, task.callback_token)

    async def _requeue(self, task: Task, detail: str) -> None:
        """The provider said "not now" (rate limit, maintenance): submit again a little later."""
        attempts = task.attempts + 1
        delay = await self._again_later(task, TaskState.SUBMITTING, TaskState.QUEUED, attempts)
        log.warning("Task %d not accepted yet (%s); trying again in %.0f s", task.id, detail, delay)
