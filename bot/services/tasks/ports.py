"""What every stage of a task's life reaches: its row, its chat, its upload, the provider, the
clock. Built once (bot.wiring) and shared; the fast specs give fakes instead."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from bot.domain.delivery import Outbox
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.payments import FoundCharge, TaskCharge
from bot.domain.provider import Provider
from bot.texts import i18n
from storage.tasks import TaskRepository
from storage.users import UserRepository

log = logging.getLogger(__name__)


class HeldUploads(Protocol):
    """The uploaded videos a task holds (bot.services.media.MediaStore)."""

    async def release(self, token: str | None) -> None:
        """The task has ended: its upload may go once its keeping time is over."""
        ...


class TaskCredits(Protocol):
    """What a task's price becomes (PAYMENTS=stars; storage.ledger.LedgerRepository): spent
    when the provider accepts the task, returned when it ends without a video for its user."""

    async def charge(self, task_id: int, now: float) -> bool: ...

    async def charge_found(self, task_id: int, now: float) -> FoundCharge | None: ...

    async def release(self, task_id: int, now: float, reason: str) -> bool: ...

    async def balance(self, user_id: int) -> int: ...

    async def price_of(self, task_id: int) -> TaskCharge | None: ...

    async def settle_ended(self, now: float) -> tuple[int, int]: ...


def _no_tracker() -> None:
    return None


@dataclass(frozen=True, slots=True)
class TaskPorts:
    tasks: TaskRepository  # the one place a task's state changes (`transition`)
    users: UserRepository
    outbox: Outbox
    uploads: HeldUploads
    provider: Provider
    # Called when work is due now (a task queued, a provider slot freed, a result in).
    wake_tracker: Callable[[], None] = _no_tracker
    clock: Callable[[], float] = field(default=time.time)
    # The language a user is spoken to in (bot.services.languages.UserLanguages.of).
    language_of: Callable[[int], Awaitable[str]] = i18n.source_language_for
    # With payments on: the tasks' prices (None: payments off, tasks cost no credits).
    credits: TaskCredits | None = None
    # What tasks come to, for the operators' /metrics (bot.metrics; none by default).
    metrics: Metrics = NO_METRICS

    async def charge(self, task_id: int) -> None:
        """The provider accepted the task: its price is spent (if it had one)."""
        if self.credits is not None:
            await self.credits.charge(task_id, self.clock())

    async def charge_found(self, task_id: int) -> FoundCharge | None:
        """The provider had the task after all (its outcome was unknown): its price is spent,
        taken again if an admin had returned it and the balance allows (None: no price, or
        spent already)."""
        if self.credits is None:
            return None
        return await self.credits.charge_found(task_id, self.clock())

    async def price_of(self, task_id: int) -> TaskCharge | None:
        """What the task's price has become (None: it has none)."""
        return None if self.credits is None else await self.credits.price_of(task_id)

    async def settle_ended_prices(self) -> None:
        """Settle the prices a crash left held on tasks that have ended (at start)."""
        if self.credits is None:
            return
        returned, charged = await self.credits.settle_ended(self.clock())
        if returned or charged:
            log.warning(
                "Prices of ended tasks left unsettled by a stop: %d returned, %d charged",
                returned,
                charged,
            )

    async def give_back(self, task_id: int, reason: str) -> None:
        """The task ended without a video for its user: its price returns (if it had one)."""
        if self.credits is not None:
            await self.credits.release(task_id, self.clock(), reason)

    @asynccontextmanager
    async def speaking_to(self, user_id: int) -> AsyncIterator[None]:
        """Build the texts inside in the user's language: what the stages say about a task,
        long after the user's last update, is said in their language of now."""
        with i18n.speaking(await self.language_of(user_id)):
            yield
