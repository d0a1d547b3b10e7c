"""TaskService: the one place where a task changes state.

Handlers, the tracker (and later the provider-callback endpoint) all call in here. Every change
is a conditional UPDATE through TaskRepository.transition, so when two callers race for the same
task (two Submit presses, a poll and a callback), exactly one of them acts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot import texts
from bot.domain.delivery import DeliveryResult, Outbox
from bot.domain.failures import Failure
from bot.domain.records import Task, TaskState
from bot.providers.base import (
    CallbackEvent,
    JobState,
    JobStatus,
    Provider,
    ProviderError,
    SubmitOutcomeUnknownError,
    SubmitRequest,
)
from bot.services.maintenance import Maintenance
from bot.services.media import MediaStore
from bot.urls import callback_url
from storage.tasks import ClaimRefusal, Quota, TaskRepository
from storage.users import UserRepository

log = logging.getLogger(__name__)

# After this many status checks in a row that got no answer, the admins hear about it once.
CHECK_ERRORS_BEFORE_ALERT = 5
# The provider saying "no such task" this many times in a row ends the task.
NOT_FOUND_BEFORE_FAILING = 3
# Failed delivery attempts before the bot stops uploading and sends a link instead. It goes on
# trying (a link) until the provider no longer keeps the result.
DELIVERY_ATTEMPTS = 5
# Times a submit is put back in the queue while the provider is rate-limited or in maintenance.
SUBMIT_WAITS = 8
# Status-card refreshes may take this many of Telegram's 30 messages a second; deliveries, answers
# and reports get the rest. With more cards than that at STATUS_EDIT_INTERVAL_SECONDS, each card
# is refreshed less often (1,000 cards: every 100 s).
CARD_EDITS_PER_SECOND = 10.0
CARD_COUNT_MAX_AGE = 10.0  # seconds between counts of the cards showing
MAX_RETRY_DELAY = 300.0
# Answers that say "not now": the request was not accepted, and may be later.
_COME_BACK_LATER = frozenset({Failure.RATE_LIMITED, Failure.MAINTENANCE})


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    """The numbers from Settings that the service works with.

    With provider callbacks on (`callback_base_url` set), polling is only the safety net:
    `first_check_delay` and `check_interval` are then long, so a task whose callback arrives
    costs no status request, while a lost callback still gets the task delivered.
    """

    first_check_delay: float
    check_interval: float
    task_timeout: float
    max_active_per_user: int
    daily_limit: int
    status_edit_interval: float
    admin_ids: frozenset[int]
    max_at_provider: int  # tasks at the provider at once (MAX_CONCURRENT_TASKS)
    result_retention: float  # seconds the provider keeps a result
    retry_delay: float  # first wait before submitting or delivering again (doubles each time)
    callback_base_url: str | None = None  # PUBLIC_URL when the provider should call back


class SubmitOutcomeKind(StrEnum):
    SUBMITTED = "submitted"
    ALREADY_SUBMITTED = "already_submitted"
    GONE = "gone"
    REFUSED = "refused"  # a limit, or maintenance: the card stays, to be submitted later


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    kind: SubmitOutcomeKind
    task_id: int | None = None
    message: str | None = None  # for REFUSED: the sentence that explains it


class TaskService:
    def __init__(
        self,
        *,
        tasks: TaskRepository,
        users: UserRepository,
        maintenance: Maintenance,
        media: MediaStore,
        provider: Provider,
        outbox: Outbox,
        policy: TaskPolicy,
        wake_tracker: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tasks = tasks
        self._users = users
        self._maintenance = maintenance
        self._media = media
        self._provider = provider
        self._outbox = outbox
        self._policy = policy
        self._clock = clock
        self._card_interval = policy.status_edit_interval  # in force, given the cards showing
        self._cards_counted_at: float | None = None
        self._wake_tracker = wake_tracker

    # --- submitting -----------------------------------------------------------------------

    async def submit_draft(self, user_id: int, draft_id: int) -> SubmitOutcome:
        """Turn the user's confirmed card into a task; the tracker sends it to the provider."""
        now = self._clock()
        is_admin = user_id in self._policy.admin_ids
        maintenance = None if is_admin else await self._maintenance.message()
        if maintenance is not None:
            return SubmitOutcome(SubmitOutcomeKind.REFUSED, message=maintenance)
        claim = await self._tasks.claim_draft(
            draft_id=draft_id,
            user_id=user_id,
            provider=self._provider.name,
            quota=await self._quota(user_id, now),
            callback_token=secrets.token_urlsafe(24),
            now=now,
        )
        if claim.task is not None:
            log.info("Task %d created from draft %d for user %d", claim.task.id, draft_id, user_id)
            await self._outbox.show_status(claim.task)
            self._wake_tracker()
            return SubmitOutcome(SubmitOutcomeKind.SUBMITTED, claim.task.id)
        if claim.refusal == ClaimRefusal.DRAFT_GONE:
            if claim.existing_task_id is not None:
                return SubmitOutcome(SubmitOutcomeKind.ALREADY_SUBMITTED, claim.existing_task_id)
            return SubmitOutcome(SubmitOutcomeKind.GONE)
        if claim.refusal == ClaimRefusal.MEDIA_GONE:
            return SubmitOutcome(SubmitOutcomeKind.REFUSED, message=texts.UPLOAD_GONE)
        if claim.refusal == ClaimRefusal.ACTIVE_LIMIT:
            active = [t.id for t in await self._tasks.active_for_user(user_id)]
            message = texts.active_limit_reached(self._policy.max_active_per_user, active)
        else:
            message = texts.daily_limit_reached(
                await self.daily_limit(user_id), _next_utc_midnight(now) - now
            )
        return SubmitOutcome(SubmitOutcomeKind.REFUSED, message=message)

    async def daily_limit(self, user_id: int) -> int:
        """The user's own daily limit (set with /limit), else DAILY_TASK_LIMIT."""
        user = await self._users.get(user_id)
        own = user.daily_limit if user is not None else None
        return own if own is not None else self._policy.daily_limit

    async def _quota(self, user_id: int, now: float) -> Quota:
        if user_id in self._policy.admin_ids:
            return Quota(max_active=None, daily_limit=None, day_started_at=0.0)
        return Quota(
            max_active=self._policy.max_active_per_user,
            daily_limit=await self.daily_limit(user_id),
            day_started_at=_next_utc_midnight(now) - 86400,
        )

    async def wait_for_submit_turn(self) -> None:
        """Wait until the provider's rate limit lets one more submit through; the next
        send_to_provider uses the turn. Tasks wait here still `queued`: nothing is sent yet."""
        await self._provider.wait_for_submit_turn()

    async def send_to_provider(self, task: Task) -> None:
        """Submit a queued task. The row says `submitting` before the request leaves."""
        if not await self._tasks.transition(task.id, TaskState.QUEUED, TaskState.SUBMITTING):
            return
        request = SubmitRequest(
            video_url=task.video_url,
            prompt=task.prompt,
            callback_url=self._callback_url(task),
            mode=task.mode,
            first_frame_url=task.first_frame_url,
        )
        try:
            job_id = await self._provider.submit(request)
        except ProviderError as exc:
            if exc.failure in _COME_BACK_LATER and task.attempts < SUBMIT_WAITS:
                await self._requeue(task, exc.detail)
                return
            await self._fail(task, TaskState.SUBMITTING, exc.failure, exc.message, exc.detail)
            return
        except SubmitOutcomeUnknownError as exc:
            await self._mark_unknown(task, str(exc))
            return
        except Exception as exc:
            await self._mark_unknown(task, f"unexpected error while submitting: {exc!r}")
            raise
        # Logged before it is stored: if storing fails, the job can still be found.
        log.info("Task %d accepted by %s as %s", task.id, self._provider.name, job_id)
        now = self._clock()
        moved = await self._tasks.transition(
            task.id,
            TaskState.SUBMITTING,
            TaskState.PROCESSING,
            provider_task_id=job_id,
            submitted_at=now,
            next_check_at=self._next_check(now, now, self._policy.first_check_delay),
            status_edited_at=now,
            attempts=0,
        )
        if moved:
            await self._show(task.id)

    async def _requeue(self, task: Task, detail: str) -> None:
        """The provider said "not now" (rate limit, maintenance): submit again a little later."""
        attempts = task.attempts + 1
        delay = self._retry_delay(attempts)
        await self._tasks.transition(
            task.id,
            TaskState.SUBMITTING,
            TaskState.QUEUED,
            attempts=attempts,
            next_check_at=self._clock() + delay,
        )
        log.warning("Task %d not accepted yet (%s); trying again in %.0f s", task.id, detail, delay)

    # --- tracking ---------------------------------------------------------------------------

    async def advance(self, task: Task) -> None:
        """Do what is due for the task now, other than submitting it (the tracker decides
        when a provider slot is free): check it, deliver it, or refresh its status card."""
        if task.state == TaskState.QUEUED:
            await self.refresh_card(task)
        elif task.state == TaskState.PROCESSING:
            if (task.next_check_at or 0) <= self._clock():
                await self.check(task)
            else:  # woken only because its status card is due for a refresh
                await self.refresh_card(task)
        elif task.state == TaskState.SUCCEEDED:
            await self.deliver(task)

    async def card_interval(self, now: float) -> float:
        """How often a status card is refreshed now: STATUS_EDIT_INTERVAL_SECONDS, or longer
        when so many cards show that refreshing each that often would take more than
        CARD_EDITS_PER_SECOND of Telegram's 30 messages a second."""
        counted_at = self._cards_counted_at
        if counted_at is None or not 0 <= now - counted_at < CARD_COUNT_MAX_AGE:
            cards = await self._tasks.count_cards_showing()
            self._card_interval = max(
                self._policy.status_edit_interval, cards / CARD_EDITS_PER_SECOND
            )
            self._cards_counted_at = now
        return self._card_interval

    async def refresh_card(self, task: Task) -> None:
        """Show the time elapsed (or the place in the queue) on the card, asking no provider."""
        if await self._tasks.update(task.id, task.state, status_edited_at=self._clock()):
            await self._show(task.id)

    async def check(self, task: Task) -> None:
        """Ask the provider about a processing task and act on the answer."""
        if task.provider_task_id is None:  # cannot happen: PROCESSING always has the job id
            raise RuntimeError(f"task {task.id} is processing without a provider id")
        try:
            status = await self._provider.status(task.provider_task_id)
        except ProviderError as exc:
            await self._check_failed(task, exc.failure, exc.detail)
            return
        except Exception as exc:  # a bug, or an answer nobody foresaw: count it like an error
            log.exception("Checking task %d failed unexpectedly", task.id)
            await self._check_failed(task, Failure.PROVIDER_ERROR, f"unexpected: {exc!r}")
            await self.report_unexpected(f"the status check of task #{task.id}", exc)
            return
        await self.on_status(task, status)

    async def on_status(self, task: Task, status: JobStatus) -> None:
        """Apply a provider's status answer (from a poll or a callback) to a processing task."""
        now = self._clock()
        if status.state == JobState.SUCCEEDED:
            won = await self._tasks.transition(
                task.id,
                TaskState.PROCESSING,
                TaskState.SUCCEEDED,
                result_url=status.result_url,
                finished_at=now,
                next_check_at=now,
                attempts=0,
            )
            if won:
                # The tracker delivers it, in the order results came, a few at a time: a burst
                # of callbacks must not become thousands of downloads waiting for Telegram.
                log.info("Task %d finished at the provider", task.id)
                self._wake_tracker()  # a provider slot is free, and a result is due
            return
        if status.state == JobState.FAILED:
            await self._fail(
                task,
                TaskState.PROCESSING,
                status.failure or Failure.GENERATION_FAILED,
                status.error_message,
                status.detail,
            )
            return
        if self._overdue(task, now):
            await self._fail(task, TaskState.PROCESSING, Failure.TIMED_OUT, None, status.detail)
            return
        fields: dict[str, object] = {
            "next_check_at": self._next_check(task.started_at, now, self._policy.check_interval),
            "attempts": 0,
        }
        edit_card = now - (task.status_edited_at or 0) >= self._card_interval
        if edit_card:
            fields["status_edited_at"] = now
        await self._tasks.update(task.id, TaskState.PROCESSING, **fields)
        if edit_card:
            await self._show(task.id)

    async def _check_failed(self, task: Task, failure: Failure, detail: str) -> None:
        now = self._clock()
        attempts = task.attempts + 1
        log.warning("Status check %d for task %d failed: %s", attempts, task.id, detail)
        if failure == Failure.NOT_FOUND and attempts >= NOT_FOUND_BEFORE_FAILING:
            await self._fail(task, TaskState.PROCESSING, Failure.NOT_FOUND, None, detail)
            return
        if self._overdue(task, now):
            await self._fail(task, TaskState.PROCESSING, Failure.TIMED_OUT, None, detail)
            return
        delay = min(MAX_RETRY_DELAY, self._policy.check_interval * 2 ** min(attempts, 8))
        await self._tasks.update(
            task.id,
            TaskState.PROCESSING,
            attempts=attempts,
            next_check_at=self._next_check(task.started_at, now, delay),
        )
        if attempts == CHECK_ERRORS_BEFORE_ALERT:
            await self._outbox.report_to_admins(
                texts.report_status_checks_failing(task.id, attempts, detail)
            )

    # --- provider callbacks ------------------------------------------------------------------

    def _callback_url(self, task: Task) -> str | None:
        base = self._policy.callback_base_url
        if base is None or not task.callback_token:
            return None
        return callback_url(base, self._provider.name, task.callback_token)

    async def task_for_callback(self, provider: str, token: str) -> Task | None:
        """The task a callback URL belongs to, if the URL is genuine."""
        if provider != self._provider.name:
            return None
        return await self._tasks.get_by_callback_token(provider, token)

    async def on_callback(self, task_id: int, event: CallbackEvent) -> None:
        """Act on an authenticated provider callback (after the endpoint has answered).

        Duplicates and callbacks racing a poll are harmless: the transitions decide.
        """
        task = await self._tasks.get(task_id)
        if task is None:
            return
        if task.state == TaskState.UNKNOWN and task.provider_task_id is None:
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
            await self.check(task)  # the callback says it ended, not how: ask
        else:
            await self.on_status(task, event.status)

    async def _adopt(self, task: Task, job_id: str) -> Task | None:
        """A task whose submit answer was lost turns out to exist: track it after all."""
        now = self._clock()
        adopted = await self._tasks.transition(
            task.id,
            TaskState.UNKNOWN,
            TaskState.PROCESSING,
            provider_task_id=job_id,
            submitted_at=task.created_at,
            attempts=0,
            failure=None,
            error_detail=None,
            finished_at=None,
            next_check_at=self._next_check(task.created_at, now, self._policy.check_interval),
        )
        if not adopted:
            return await self._tasks.get(task.id)
        log.info("Task %d: the provider called back as %s; tracking it after all", task.id, job_id)
        await self._outbox.notify(task, texts.task_found_after_all(task.id))
        await self._outbox.report_to_admins(
            texts.report_found_after_all(task.id, self._provider.name, job_id)
        )
        return await self._tasks.get(task.id)

    def _retry_delay(self, attempts: int) -> float:
        return min(MAX_RETRY_DELAY, self._policy.retry_delay * 2.0 ** (attempts - 1))

    def _overdue(self, task: Task, now: float) -> bool:
        return now - task.started_at >= self._policy.task_timeout

    def _next_check(self, started: float, now: float, delay: float) -> float:
        """`now + delay`, but never past the task's deadline (so time-outs are noticed)."""
        return min(now + delay, started + self._policy.task_timeout)

    # --- delivering -------------------------------------------------------------------------

    async def deliver(self, task: Task) -> None:
        """Send a finished task's result, once: the claim SUCCEEDED -> DELIVERING decides."""
        if not await self._tasks.transition(task.id, TaskState.SUCCEEDED, TaskState.DELIVERING):
            return
        claimed = await self._tasks.get(task.id)
        if claimed is None:
            return
        try:
            # After repeated failures, stop uploading and send the result as a link.
            result = await self._outbox.send_result(
                claimed, allow_upload=claimed.attempts < DELIVERY_ATTEMPTS
            )
        except asyncio.CancelledError:
            # Stopping: hand the task back so that the next start delivers it.
            await self._tasks.transition(
                task.id, TaskState.DELIVERING, TaskState.SUCCEEDED, next_check_at=self._clock()
            )
            raise
        except Exception as exc:  # a bug: count it as a failed attempt, and tell the admins
            log.exception("Delivering task %d failed unexpectedly", task.id)
            await self.report_unexpected(f"the delivery of task #{task.id}", exc)
            result = DeliveryResult.RETRY
        await self._delivery_done(claimed, result)

    async def _delivery_done(self, task: Task, result: DeliveryResult) -> None:
        now = self._clock()
        if result in (DeliveryResult.VIDEO, DeliveryResult.DOCUMENT, DeliveryResult.LINK):
            await self._tasks.transition(
                task.id,
                TaskState.DELIVERING,
                TaskState.DELIVERED,
                delivered_as=str(result),
                delivered_at=now,
                status_edited_at=now,
            )
            log.info("Task %d delivered as %s", task.id, result)
            await self._media.release(task.media_token)
            await self._show(task.id)
            return
        if result == DeliveryResult.CHAT_UNREACHABLE:
            await self._tasks.transition(task.id, TaskState.DELIVERING, TaskState.UNDELIVERABLE)
            await self._media.release(task.media_token)
            await self._users.mark_blocked_bot(task.user_id, now)
            log.info("Task %d is done but its chat cannot be reached", task.id)
            return
        if result == DeliveryResult.NO_LINK:
            await self._fail(
                task,
                TaskState.DELIVERING,
                Failure.CANNOT_SEND,
                None,
                f"the result {task.result_url} could not be uploaded and has no public link",
            )
            return
        attempts = task.attempts + 1
        if result == DeliveryResult.RESULT_GONE and attempts >= DELIVERY_ATTEMPTS:
            await self._fail(
                task,
                TaskState.DELIVERING,
                Failure.RESULT_UNAVAILABLE,
                None,
                f"the result file {task.result_url} could not be downloaded",
            )
            return
        if now >= (task.finished_at or now) + self._policy.result_retention:
            await self._fail(
                task,
                TaskState.DELIVERING,
                Failure.RESULT_UNAVAILABLE,
                None,
                f"gave up sending the result after {attempts} attempts: it has expired",
            )
            return
        delay = self._retry_delay(attempts)
        await self._tasks.transition(
            task.id,
            TaskState.DELIVERING,
            TaskState.SUCCEEDED,
            attempts=attempts,
            next_check_at=now + delay,
        )
        log.warning(
            "Delivery of task %d failed (%s); retry %d in %.0f s", task.id, result, attempts, delay
        )

    # --- endings ----------------------------------------------------------------------------

    async def _fail(
        self,
        task: Task,
        from_state: TaskState,
        failure: Failure,
        provider_message: str | None,
        detail: str,
    ) -> None:
        now = self._clock()
        won = await self._tasks.transition(
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
        self._wake_tracker()  # a provider slot may be free
        await self._media.release(task.media_token)
        await self._show(task.id)
        await self._outbox.notify(task, texts.task_failed(task.id, failure, provider_message))
        await self._outbox.report_to_admins(
            texts.report_task_failed(task.id, task.user_id, str(failure), detail)
        )

    async def _mark_unknown(self, task: Task, detail: str) -> None:
        now = self._clock()
        won = await self._tasks.transition(
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
        await self._media.release(task.media_token)
        await self._show(task.id)
        await self._outbox.notify(task, texts.task_failed(task.id, Failure.OUTCOME_UNKNOWN, None))
        await self._outbox.report_to_admins(
            texts.report_outcome_unknown(task, self._provider.name, detail)
        )

    async def recover(self) -> None:
        """At start: settle what a crash left half-done. Run before the tracker starts."""
        for task in await self._tasks.in_states([TaskState.SUBMITTING]):
            await self._mark_unknown(task, "the bot stopped while this task was being submitted")
        for task in await self._tasks.in_states([TaskState.DELIVERING]):
            # The delivery was cut off; send again (the result may rarely arrive twice).
            await self._tasks.transition(
                task.id, TaskState.DELIVERING, TaskState.SUCCEEDED, next_check_at=self._clock()
            )
            log.info("Task %d: delivery interrupted by a restart; retrying", task.id)

    async def report_unexpected(self, where: str, exc: BaseException) -> None:
        """Tell the admins about a bug (the traceback is in the log)."""
        await self._outbox.report_to_admins(texts.report_unexpected(where, repr(exc)))

    async def _show(self, task_id: int) -> None:
        task = await self._tasks.get(task_id)
        if task is None:
            return
        position = None
        if task.state == TaskState.QUEUED:
            position = await self._tasks.queue_position(task.id)
            at_provider = await self._tasks.count_at_provider(
                self._clock() - self._policy.task_timeout
            )
            full = at_provider >= self._policy.max_at_provider
            position = position if full or position > 1 else None
        await self._outbox.show_status(task, position)

    # --- reading ----------------------------------------------------------------------------

    async def recent_tasks(self, user_id: int, limit: int = 10) -> list[Task]:
        return await self._tasks.recent_for_user(user_id, limit)

    async def task_of_user(self, user_id: int, task_id: int) -> Task | None:
        return await self._tasks.get_for_user(user_id, task_id)


def _next_utc_midnight(now: float) -> float:
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).timestamp()
