"""How the services speak to the chat: the Outbox and Messenger ports (bot.delivery implements
them over Telegram) and what a delivery or a message came to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.payments import TaskCharge
from bot.domain.records import Task


class DeliveryResult(StrEnum):
    VIDEO = "video"
    DOCUMENT = "document"
    LINK = "link"
    CHAT_UNREACHABLE = "chat_unreachable"  # the user blocked the bot or deleted the chat
    RETRY = "retry"  # a passing problem: try again later
    RESULT_GONE = "result_gone"  # the result file cannot be downloaded
    NO_LINK = "no_link"  # it cannot be uploaded, and a result on this machine has no link


# A report to the admins: builds its HTML in the language in force, once for each admin.
Report = Callable[[], str]


class SendResult(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # the user blocked the bot, or the chat is gone
    FAILED = "failed"


class Messenger(Protocol):
    """Messages into a chat, for broadcasts (bot.delivery.TelegramOutbox implements it)."""

    async def send_text(self, chat_id: int, html: str) -> tuple[SendResult, int | None]:
        """Send a message; say whether it went (with its id), the chat is closed, or it failed."""
        ...

    async def copy(
        self, chat_id: int, from_chat_id: int, message_id: int
    ) -> tuple[SendResult, int | None]:
        """Copy a message (its text or media, caption and formatting) into a chat, as a message
        of the bot's own; say as `send_text` does whether it went."""
        ...

    async def edit_text(self, chat_id: int, message_id: int, html: str) -> None:
        """Edit a message the bot sent; a failure is logged, not raised."""
        ...


@dataclass(frozen=True, slots=True)
class Estimate:
    """How long tasks take at this provider lately, for a status card (None: too few to say)."""

    typical: float | None = None  # seconds from submit to result: the median of the last ones
    start_in: float | None = None  # seconds until a queued task is likely to start


class Outbox(Protocol):
    """How the task stages speak to the chat (bot.delivery.TelegramOutbox implements it)."""

    async def show_status(
        self,
        task: Task,
        queue_position: int | None = None,
        estimate: Estimate | None = None,
        price: TaskCharge | None = None,
    ) -> None:
        """Edit the task's status card to show its current state (and place in the queue, and
        what its price has become)."""
        ...

    async def notify(self, task: Task, html: str, *, offer_retry: bool = False) -> None:
        """Send a message about the task into its chat, as a reply to the status card;
        `offer_retry`: with a "Try again" button (a new card of the same request)."""
        ...

    async def send_result(self, task: Task, *, allow_upload: bool) -> DeliveryResult:
        """Send the result: as a video if it fits and `allow_upload`, else as a link."""
        ...

    async def report_to_admins(self, report: Report) -> None:
        """Send the report to every admin, each in their language."""
        ...
