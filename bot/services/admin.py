"""AdminService: what the operators' commands do. Each method returns the HTML to reply with."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from html import escape
from typing import Any

from bot import texts
from bot.domain.delivery import DeliveryResult, Outbox
from bot.domain.numbers import ascii_int, user_ref
from bot.domain.provider import Provider, ProviderError
from bot.domain.records import TaskState, User
from bot.services import stats_chart as chart
from bot.services.maintenance import Maintenance
from bot.services.tasks.intake import Intake
from bot.services.tasks.policy import TrackingPolicy
from storage.instances import POLLING_LEASE, InstanceRepository, LeaseRepository
from storage.tasks import TaskRepository
from storage.users import UserRepository

log = logging.getLogger(__name__)

DAY = 86400.0
MAX_DAILY_LIMIT = 10_000
# Finished tasks: while one is still being sent, the tracker sends it (again would be twice).
_REDELIVERABLE = frozenset({TaskState.DELIVERED, TaskState.UNDELIVERABLE, TaskState.FAILED})


class AdminService:
    def __init__(
        self,
        *,
        users: UserRepository,
        tasks: TaskRepository,
        intake: Intake,
        maintenance: Maintenance,
        provider: Provider,
        outbox: Outbox,
        tracking: TrackingPolicy,
        instances: InstanceRepository,
        leases: LeaseRepository,
        instance_timeout: float,
        shared: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`shared`: several instances may use the database (/stats lists them)."""
        self._instances = instances
        self._leases = leases
        self._instance_timeout = instance_timeout
        self._shared = shared
        self._task_timeout = tracking.task_timeout
        self._users = users
        self._tasks = tasks
        self._intake = intake
        self._maintenance = maintenance
        self._provider = provider
        self._outbox = outbox
        self._max_at_provider = tracking.max_at_provider
        self._clock = clock

    async def stats(self) -> str:
        now = self._clock()
        users = await self._users.counts(now)
        by_state = [
            await self._tasks.count_by_state(since) for since in (now - DAY, now - 7 * DAY, 0)
        ]
        times = sorted(await self._tasks.processing_times(now - 7 * DAY))
        queued = (by_state[2]).get(TaskState.QUEUED, 0)
        at_provider = await self._tasks.count_at_provider(now - self._task_timeout)
        return texts.admin_stats(
            users=users,
            by_state=by_state,
            processing_times=times,
            queued=queued,
            at_provider=at_provider,
            max_at_provider=self._max_at_provider,
            credits=await self._credits(),
            **await self._instances_now(now),
        )

    async def stats_chart(self) -> bytes | None:
        """/stats' picture of the last 14 UTC days (a PNG), or None when no task ended in them,
        or when drawing failed (logged: the figures go without it). Drawn in a worker thread;
        its words in the language in force."""
        now = self._clock()
        rows = await self._tasks.finished_since(chart.window_start(now))
        days = chart.daily(rows, now)
        if not any(day.ended for day in days):
            return None
        labels = chart_labels(days)
        try:
            return await asyncio.to_thread(chart.draw, days, labels)
        except Exception:
            log.exception("/stats: the chart could not be drawn")
            return None

    async def _instances_now(self, now: float) -> dict[str, Any]:
        if not self._shared:
            return {}
        return {
            "instances": await self._instances.alive(now - self._instance_timeout),
            "poller": await self._leases.holder(POLLING_LEASE, now),
            "now": now,
        }

    async def _credits(self) -> str:
        capabilities = self._provider.capabilities
        if not capabilities.reports_credits:
            return texts.admin_credits_not_reported(capabilities.display_name)
        try:
            balance = await self._provider.credit_balance()
        except ProviderError as exc:
            return texts.admin_credits_unavailable(capabilities.display_name, exc.detail)
        return texts.admin_credits(capabilities.display_name, balance)

    async def user_info(self, who: str) -> str:
        ref = user_ref(who)
        user = await self._users.find(ref) if ref is not None else None
        if user is None:
            return texts.admin_no_such_user(who)
        now = self._clock()
        return texts.admin_user(
            user,
            now=now,
            daily_limit=await self._intake.daily_limit(user.id),
            own_limit=user.daily_limit is not None,
            active=len(await self._tasks.active_for_user(user.id)),
            recent=await self._tasks.recent_for_user(user.id, 5),
        )

    async def ban(self, who: str, reason: str | None) -> str:
        user = await self._target(who)
        if isinstance(user, str):
            return user
        await self._users.ban(user.id, reason, self._clock())
        return texts.admin_banned(user, reason)

    async def unban(self, who: str) -> str:
        user = await self._target(who)
        if isinstance(user, str):
            return user
        if not await self._users.unban(user.id):
            return texts.admin_was_not_banned(user)
        return texts.admin_unbanned(user)

    async def set_limit(self, who: str, value: str) -> str:
        user = await self._target(who)
        if isinstance(user, str):
            return user
        if value.lower() == "default":
            await self._users.set_daily_limit(user.id, None)
        elif (daily := ascii_int(value, high=MAX_DAILY_LIMIT)) is not None:
            await self._users.set_daily_limit(user.id, daily)
        else:
            return texts.admin_usage("limit")
        return texts.admin_limit_set(user, await self._intake.daily_limit(user.id))

    async def task_info(self, task_id: int) -> str:
        task = await self._tasks.get(task_id)
        if task is None:
            return texts.admin_no_such_task(task_id)
        return texts.admin_task(task, self._clock())

    async def redeliver(self, task_id: int) -> str:
        task = await self._tasks.get(task_id)
        if task is None:
            return texts.admin_no_such_task(task_id)
        if not task.result_url or task.state not in _REDELIVERABLE:
            return texts.admin_nothing_to_redeliver(task_id)
        result = await self._outbox.send_result(task, allow_upload=True)
        if result in (DeliveryResult.VIDEO, DeliveryResult.DOCUMENT, DeliveryResult.LINK):
            return texts.admin_redelivered(task_id, str(result))
        return texts.admin_redeliver_failed(task_id, str(result))

    async def maintenance(self, on: bool, message: str | None) -> str:
        if on:
            text = escape(message) if message else ""  # "": the default, in each user's language
            await self._maintenance.start(text)
            return texts.admin_maintenance_on(text or texts.maintenance_default())
        await self._maintenance.end()
        return texts.admin_maintenance_off()

    async def _target(self, who: str) -> User | str:
        """The user an admin command names (an id not seen yet can be acted on ahead), or the
        sentence saying there is none."""
        ref = user_ref(who)
        user = await self._users.find_or_ensure(ref) if ref is not None else None
        return user if user is not None else texts.admin_no_such_user(who)


def chart_labels(days: list[chart.DayFigures]) -> chart.ChartLabels:
    """The picture's words, in the language in force."""
    return chart.ChartLabels(
        title=texts.admin_chart_title(),
        delivered=texts.admin_chart_delivered(),
        failed=texts.admin_chart_failed(),
        other=texts.admin_chart_other(),
        median=texts.admin_chart_median(),
        p90=texts.admin_chart_p90(),
        tasks_axis=texts.admin_chart_tasks_axis(),
        time_axis=texts.admin_chart_time_axis(),
        days=[texts.admin_chart_day(day.day) for day in days],
    )
