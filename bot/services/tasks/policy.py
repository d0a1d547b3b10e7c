"""The numbers the task stages work with: the operator's settings as small typed policies, and
the counts and caps that are the design's own."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.payments import Prices
from bot.domain.records import Task

# After this many status checks in a row that got no answer, the admins hear about it once.
CHECK_ERRORS_BEFORE_ALERT = 5
# The provider saying "no such task" this many times in a row ends the task.
NOT_FOUND_BEFORE_FAILING = 3
# Failed delivery attempts before the bot stops uploading and sends a link instead. It goes on
# trying (a link) until the provider no longer keeps the result.
DELIVERY_ATTEMPTS = 5
# Times a submit is put back in the queue while the provider is rate-limited or in maintenance.
SUBMIT_WAITS = 8
# The longest wait between two tries of anything (a submit, a check, a delivery).
MAX_RETRY_DELAY = 300.0


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """What one user may have going: DAILY_TASK_LIMIT, MAX_ACTIVE_TASKS_PER_USER; admins are
    not limited."""

    max_active_per_user: int
    daily_limit: int
    admin_ids: frozenset[int]
    # PAYMENTS=stars: what a task costs (admins' tasks are free); None: tasks cost nothing.
    prices: Prices | None = None
    free_tasks_per_day: int = 0


@dataclass(frozen=True, slots=True)
class TrackingPolicy:
    """How tasks are checked, shown and retried.

    With provider callbacks on (`callback_base_url` set), polling is only the safety net:
    `first_check_delay` and `check_interval` are then long, so a task whose callback arrives
    costs no status request, while a lost callback still gets the task delivered.
    """

    first_check_delay: float
    check_interval: float
    task_timeout: float
    status_edit_interval: float
    max_at_provider: int  # tasks at the provider at once (MAX_CONCURRENT_TASKS)
    result_retention: float  # seconds the provider keeps a result
    retry_delay: float  # first wait before submitting or delivering again (doubles each time)
    callback_base_url: str | None = None  # PUBLIC_URL when the provider should call back

    def retry_after(self, attempts: int) -> float:
        """The wait before try `attempts + 1` of a submit or a delivery."""
        return min(MAX_RETRY_DELAY, self.retry_delay * 2.0 ** (attempts - 1))

    def check_after_errors(self, attempts: int) -> float:
        """The wait before the next status check after `attempts` unanswered ones."""
        return min(MAX_RETRY_DELAY, self.check_interval * 2.0 ** min(attempts, 8))

    def overdue(self, task: Task, now: float) -> bool:
        return now - task.started_at >= self.task_timeout

    def next_check(self, started: float, now: float, delay: float) -> float:
        """`now + delay`, but never past the task's deadline (so time-outs are noticed)."""
        return min(now + delay, started + self.task_timeout)
