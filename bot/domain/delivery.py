"""How the task services speak to the chat: the Outbox port (bot.delivery implements it over
Telegram) and what a delivery came to."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from bot.domain.records import Task


class DeliveryResult(StrEnum):
    VIDEO = "video"
    DOCUMENT = "document"
    LINK = "link"
    CHAT_UNREACHABLE = "chat_unreachable"  # the user blocked the bot or deleted the chat
    RETRY = "retry"  # a passing problem: try again later
    RESULT_GONE = "result_gone"  # the result file cannot be downloaded
    NO_LINK = "no_link"  # it cannot be uploaded, and a result on this machine has no link


class Outbox(Protocol):
    """How the service speaks to Telegram (bot.delivery implements it)."""

    async def show_status(self, task: Task, queue_position: int | None = None) -> None:
        """Edit the task's status card to show its current state (and place in the queue)."""
        ...

    async def notify(self, task: Task, html: str) -> None:
        """Send a message about the task into its chat, as a reply to the status card."""
        ...

    async def send_result(self, task: Task, *, allow_upload: bool) -> DeliveryResult:
        """Send the result: as a video if it fits and `allow_upload`, else as a link."""
        ...

    async def report_to_admins(self, html: str) -> None: ...
