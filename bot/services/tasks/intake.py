"""Intake: a confirmed card becomes a queued task, within the user's quota and outside
maintenance. The tracker then sends it to the provider (see Submitting). Until then its user may
cancel it, which gives back its place in their quota."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot import texts
from bot.domain.records import TaskState
from bot.services.maintenance import Maintenance
from bot.services.tasks.policy import QuotaPolicy
from bot.services.tasks.ports import TaskPorts
from storage.tasks import ClaimRefusal, Quota, TaskPrice

log = logging.getLogger(__name__)

DAY = 86400


class SubmitOutcomeKind(StrEnum):
    SUBMITTED = "submitted"
    ALREADY_SUBMITTED = "already_submitted"
    GONE = "gone"
    REFUSED = "refused"  # a limit, or maintenance: the card stays, to be submitted later


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    TOO_LATE = "too_late"  # at the provider already (or on its way): it cannot be stopped
    GONE = "gone"  # not this user's, or ended


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a user stands against their limits (None: no limit, as for admins)."""

    today: int
    daily_limit: int | None
    active: int
    max_active: int | None


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    kind: SubmitOutcomeKind
    task_id: int | None = None
    message: str | None = None  # for REFUSED: the sentence that explains it
    short_of_credits: bool = False  # REFUSED for the balance: the packs may be offered


class Intake:
    def __init__(
        self,
        ports: TaskPorts,
        policy: QuotaPolicy,
        maintenance: Maintenance,
    ) -> None:
        self._ports = ports
        self._policy = policy
        self._maintenance = maintenance

    async def submit_draft(self, user_id: int, draft_id: int) -> SubmitOutcome:
        """Turn the user's confirmed card into a task; the tracker sends it to the provider."""
        now = self._ports.clock()
        is_admin = user_id in self._policy.admin_ids
        maintenance = None if is_admin else await self._maintenance.message()
        if maintenance is not None:
            return SubmitOutcome(SubmitOutcomeKind.REFUSED, message=maintenance)
        claim = await self._ports.tasks.claim_draft(
            draft_id=draft_id,
            user_id=user_id,
            provider=self._ports.provider.name,
            quota=await self._quota(user_id, now),
            callback_token=secrets.token_urlsafe(24),
            now=now,
            price=self._price(user_id),
        )
        if claim.task is not None:
            log.info("Task %d created from draft %d for user %d", claim.task.id, draft_id, user_id)
            self._ports.metrics.task_submitted()
            await self._ports.outbox.show_status(
                claim.task, price=await self._ports.price_of(claim.task.id)
            )
            self._ports.wake_tracker()
            return SubmitOutcome(SubmitOutcomeKind.SUBMITTED, claim.task.id)
        if claim.refusal == ClaimRefusal.DRAFT_GONE:
            if claim.existing_task_id is not None:
                return SubmitOutcome(SubmitOutcomeKind.ALREADY_SUBMITTED, claim.existing_task_id)
            return SubmitOutcome(SubmitOutcomeKind.GONE)
        return SubmitOutcome(
            SubmitOutcomeKind.REFUSED,
            message=await self._refusal(claim.refusal, user_id, now),
            short_of_credits=claim.refusal == ClaimRefusal.NO_CREDITS,
        )

    async def cancel_queued(self, user_id: int, task_id: int) -> CancelOutcome:
        """Cancel the user's task while it waits to start. The tracker takes a task out of the
        queue by the same conditional change, so exactly one of the two wins."""
        tasks = self._ports.tasks
        task = await tasks.get(task_id)
        if task is None or task.user_id != user_id:
            return CancelOutcome.GONE
        now = self._ports.clock()
        if await tasks.transition(task_id, TaskState.QUEUED, TaskState.CANCELLED, finished_at=now):
            log.info("Task %d cancelled by user %d while queued", task_id, user_id)
            self._ports.metrics.task_finished(TaskState.CANCELLED)
            await self._ports.give_back(task_id, "cancelled while queued")
            for token in task.media_tokens:
                await self._ports.uploads.release(token)
            await self._ports.outbox.show_status(
                await tasks.get(task_id) or task, price=await self._ports.price_of(task_id)
            )
            return CancelOutcome.CANCELLED
        current = await tasks.get(task_id)
        return CancelOutcome.TOO_LATE if current and current.state.is_active else CancelOutcome.GONE

    async def standing(self, user_id: int) -> Standing:
        """The user's tasks today and unfinished ones, against their limits (one trip to the
        database: it is asked for every card)."""
        day_started_at = _next_utc_midnight(self._ports.clock()) - DAY
        active, today, own_limit = await self._ports.tasks.usage(user_id, day_started_at)
        if user_id in self._policy.admin_ids:
            return Standing(today, None, active, None)
        daily = own_limit if own_limit is not None else self._policy.daily_limit
        return Standing(today, daily, active, self._policy.max_active_per_user)

    async def daily_limit(self, user_id: int) -> int:
        """The user's own daily limit (set with /limit), else DAILY_TASK_LIMIT."""
        user = await self._ports.users.get(user_id)
        own = user.daily_limit if user is not None else None
        return own if own is not None else self._policy.daily_limit

    def _price(self, user_id: int) -> TaskPrice | None:
        """What the task costs the user: nothing with payments off, or to admins."""
        prices = self._policy.prices
        if prices is None or user_id in self._policy.admin_ids:
            return None
        return TaskPrice(prices.default, self._policy.free_tasks_per_day, prices.by_mode)

    async def _refusal(self, refusal: ClaimRefusal | None, user_id: int, now: float) -> str:
        if refusal == ClaimRefusal.MEDIA_GONE:
            return texts.upload_gone()
        if refusal == ClaimRefusal.NO_CREDITS:
            credits = self._ports.credits
            balance = 0 if credits is None else await credits.balance(user_id)
            return texts.not_enough_credits(balance)
        if refusal == ClaimRefusal.ACTIVE_LIMIT:
            active = [t.id for t in await self._ports.tasks.active_for_user(user_id)]
            return texts.active_limit_reached(self._policy.max_active_per_user, active)
        return texts.daily_limit_reached(
            await self.daily_limit(user_id), _next_utc_midnight(now) - now
        )

    async def _quota(self, user_id: int, now: float) -> Quota:
        if user_id in self._policy.admin_ids:
            return Quota(
                max_active=None, daily_limit=None, day_started_at=_next_utc_midnight(now) - DAY
            )
        return Quota(
            max_active=self._policy.max_active_per_user,
            daily_limit=await self.daily_limit(user_id),
            day_started_at=_next_utc_midnight(now) - DAY,
        )


def _next_utc_midnight(now: float) -> float:
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).timestamp()
