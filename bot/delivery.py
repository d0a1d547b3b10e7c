"""Everything the bot says in Telegram: status cards, notices, admin reports, and the result.

A result is downloaded to a temporary file and uploaded with sendVideo, replying to the task's
status card. When it is larger than the Bot API upload limit, comes too slowly (bot.net.results), or
uploads keep failing, the user gets a link instead. Telegram errors never escape: each becomes a
DeliveryResult or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import partial
from html import unescape
from pathlib import Path

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import texts
from bot.chat_actions import chat_action
from bot.domain.cancelling import cancel_and_wait
from bot.domain.delivery import DeliveryResult, Estimate, Report, SendResult
from bot.domain.payments import TaskCharge
from bot.domain.records import Task, TaskState
from bot.logs.redaction import Redactor
from bot.logs.report_throttle import ReportThrottle
from bot.net.results import Fetched, ResultFetcher
from bot.texts import i18n

log = logging.getLogger(__name__)


UPLOAD_TIMEOUT = 300.0  # seconds to upload up to 50 MB (or more to a local Bot API server)


class TelegramOutbox:
    """Implements bot.domain.delivery.Outbox with python-telegram-bot's Bot."""

    def __init__(
        self,
        *,
        bot: Bot,
        results: ResultFetcher,
        admin_ids: frozenset[int],
        upload_limit_bytes: int,
        result_retention_hours: float,
        temp_dir: Path,
        redact: Redactor,
        throttle: ReportThrottle | None = None,
        language_of: Callable[[int], Awaitable[str]] | None = None,
        shared_reports: Callable[[], Awaitable[bool]] | None = None,
        per_instance_temp: bool = False,
    ) -> None:
        """`language_of`: the language a user (an admin, for reports) is spoken to in.
        `shared_reports`: with several instances, whether the throttle they share lets one
        more report through (each instance's own throttle is asked first)."""
        self._shared_reports = shared_reports
        self._per_instance_temp = per_instance_temp  # temp_dir is this instance's, in a shared one
        self._bot = bot
        self._language_of = language_of or i18n.source_language_for
        self._results = results
        self._admin_ids = admin_ids
        self._upload_limit = upload_limit_bytes
        self._retention_hours = result_retention_hours
        self._temp_dir = temp_dir
        self._redact = redact
        self._throttle = throttle or ReportThrottle()
        self._summary: asyncio.Task[None] | None = None

    # --- the status card and notices --------------------------------------------------------

    async def show_status(
        self,
        task: Task,
        queue_position: int | None = None,
        estimate: Estimate | None = None,
        price: TaskCharge | None = None,
    ) -> None:
        if task.status_message_id is None:
            return
        try:
            await self._bot.edit_message_text(
                chat_id=task.chat_id,
                message_id=task.status_message_id,
                text=texts.status_card(task, time.time(), queue_position, estimate, price),
                reply_markup=_status_buttons(task),
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("Status card of task %d not updated: %s", task.id, exc.message)
        except TelegramError as exc:
            log.info("Status card of task %d not updated: %s", task.id, exc)

    async def notify(self, task: Task, html: str, *, offer_retry: bool = False) -> None:
        retry = _buttons((texts.button_try_again(), f"{RETRY}:{task.id}")) if offer_retry else None
        try:
            await self._bot.send_message(
                chat_id=task.chat_id,
                text=html,
                reply_parameters=self._reply_to(task),
                reply_markup=retry,
            )
        except TelegramError as exc:
            log.warning("Could not tell the user about task %d: %s", task.id, exc)

    async def send_text(
        self, chat_id: int, html: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> tuple[SendResult, int | None]:
        """Send a message; say whether it went (with its id), the chat is closed, or it failed."""
        try:
            message = await self._bot.send_message(
                chat_id=chat_id, text=html, reply_markup=reply_markup
            )
        except Forbidden:
            return SendResult.BLOCKED, None
        except BadRequest as exc:
            if _chat_gone(exc):
                return SendResult.BLOCKED, None
            log.warning("Message to %d refused: %s", chat_id, exc)
            return SendResult.FAILED, None
        except TelegramError as exc:
            log.warning("Message to %d failed: %s", chat_id, exc)
            return SendResult.FAILED, None
        return SendResult.SENT, message.message_id

    async def copy(
        self, chat_id: int, from_chat_id: int, message_id: int
    ) -> tuple[SendResult, int | None]:
        """Copy a message into a chat (copyMessage: its text or media, caption and formatting,
        without a "forwarded from"); say as `send_text` does whether it went."""
        try:
            copied = await self._bot.copy_message(
                chat_id=chat_id, from_chat_id=from_chat_id, message_id=message_id
            )
        except Forbidden:
            return SendResult.BLOCKED, None
        except BadRequest as exc:
            if _chat_gone(exc):
                return SendResult.BLOCKED, None
            log.warning("Copy of message %d to %d refused: %s", message_id, chat_id, exc)
            return SendResult.FAILED, None
        except TelegramError as exc:
            log.warning("Copy of message %d to %d failed: %s", message_id, chat_id, exc)
            return SendResult.FAILED, None
        return SendResult.SENT, copied.message_id

    async def edit_text(
        self,
        chat_id: int,
        message_id: int,
        html: str,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """Edit a message the bot sent; a failure is logged, not raised."""
        try:
            await self._bot.edit_message_text(
                chat_id=chat_id, message_id=message_id, text=html, reply_markup=reply_markup
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("Message %d not edited: %s", message_id, exc.message)
        except TelegramError as exc:
            log.info("Message %d not edited: %s", message_id, exc)

    async def report_to_admins(self, report: Report) -> None:
        """Send a report to every admin, unless a storm of them is under way: then a summary
        of the held-back ones follows when the storm's window has passed."""
        allowed = self._throttle.allow()
        if allowed and self._shared_reports is not None and not await self._shared_reports():
            self._throttle.hold()  # another instance sent the window's reports
            allowed = False
        if not allowed:
            if self._summary is None or self._summary.done():
                self._summary = asyncio.create_task(self._report_held_later())
            return
        await self._send_report(report)

    async def _report_held_later(self) -> None:
        """After the window, sum up the held-back reports; again while more were held."""
        while True:
            await asyncio.sleep(self._throttle.window)
            held = self._throttle.take_held()
            if not held:
                return
            await self._send_report(partial(texts.reports_held_back, held, self._throttle.window))

    async def stop(self) -> None:
        """Say how many reports were still held back, rather than lose the count."""
        if self._summary is not None:
            await cancel_and_wait(self._summary)
        held = self._throttle.take_held()
        if held:
            await self._send_report(lambda: texts.reports_held_back(held, self._throttle.window))

    async def _send_report(self, report: Report) -> None:
        """To each admin in their language: as HTML, or as plain text when the HTML is too long
        or Telegram refuses it."""
        for admin_id in self._admin_ids:
            with i18n.speaking(await self._language_of(admin_id)):
                html = self._redact(report())
            plain = texts.shorten(_html_to_text(html), texts.SAFE_MESSAGE_LENGTH)
            try:
                if texts.telegram_length(html) <= texts.SAFE_MESSAGE_LENGTH:
                    try:
                        await self._bot.send_message(chat_id=admin_id, text=html)
                        continue
                    except BadRequest as exc:
                        log.info("Report refused as HTML (%s); sending it as plain text", exc)
                await self._bot.send_message(chat_id=admin_id, text=plain, parse_mode=None)
            except TelegramError as exc:
                log.warning("Could not report to admin %d: %s", admin_id, exc)

    # --- the result -------------------------------------------------------------------------

    def remove_leftover_downloads(self) -> None:
        """Delete downloads a killed process left behind (each delivery removes its own).

        With several instances each downloads into a folder of its own under the shared one:
        there, a download is a leftover once it is a day old (none takes that long)."""
        shared = self._temp_dir.parent if self._per_instance_temp else self._temp_dir
        if not shared.is_dir():
            return
        for leftover in shared.glob("task-*.mp4"):
            leftover.unlink(missing_ok=True)
        if self._per_instance_temp:
            day_ago = time.time() - 86400
            for folder in (p for p in shared.iterdir() if p.is_dir()):
                for leftover in folder.glob("task-*.mp4"):
                    with contextlib.suppress(OSError):
                        if leftover.stat().st_mtime < day_ago:
                            leftover.unlink()
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty

    async def send_result(self, task: Task, *, allow_upload: bool) -> DeliveryResult:
        """Send the video (or its link) to the task's owner, in their language whoever asks (the
        tracker, or an admin's /redeliver)."""
        with i18n.speaking(await self._language_of(task.user_id)):
            return await self._send_result(task, allow_upload=allow_upload)

    async def _send_result(self, task: Task, *, allow_upload: bool) -> DeliveryResult:
        if not task.result_url:
            return DeliveryResult.RESULT_GONE
        reason = texts.video_not_taken()  # why a link is sent instead of the video
        if allow_upload:
            self._temp_dir.mkdir(parents=True, exist_ok=True)
            path = self._temp_dir / f"task-{task.id}-{secrets.token_hex(4)}.mp4"
            try:
                download = await self._results.fetch(task.result_url, path, self._upload_limit)
                if download.outcome == Fetched.GONE:
                    return DeliveryResult.RESULT_GONE
                if download.outcome == Fetched.RETRY:
                    return DeliveryResult.RETRY
                if download.outcome == Fetched.OK:
                    uploaded = await self._upload(task, path)
                    if uploaded is not None:
                        return uploaded
                elif download.outcome == Fetched.TOO_BIG:
                    size_mb = download.size / 1_048_576 if download.size is not None else None
                    reason = texts.too_big_to_upload(size_mb, self._upload_limit // 1_048_576)
                elif download.outcome == Fetched.TOO_SLOW:
                    reason = texts.result_too_slow()
            finally:
                path.unlink(missing_ok=True)
        if task.result_url.startswith("file:"):
            return DeliveryResult.NO_LINK  # a path on this machine means nothing to the user
        return await self._send_link(task, reason)

    async def _upload(self, task: Task, path: Path) -> DeliveryResult | None:
        """sendVideo, then sendDocument if Telegram refuses the video; None: send a link. The
        chat shows "sending video…" meanwhile."""
        async with chat_action(self._bot, task.chat_id, ChatAction.UPLOAD_VIDEO):
            sent = await self._send_file(task, path, DeliveryResult.VIDEO)
            if sent is None:
                sent = await self._send_file(task, path, DeliveryResult.DOCUMENT)
        return sent

    async def _send_file(
        self, task: Task, path: Path, kind: DeliveryResult
    ) -> DeliveryResult | None:
        """Upload the file as a video or a document; None when Telegram refuses that form."""
        send = (
            partial(self._bot.send_video, supports_streaming=True)
            if kind == DeliveryResult.VIDEO
            else self._bot.send_document
        )
        try:
            with path.open("rb") as file:
                # read_file_handle=False: httpx streams the file instead of holding it in memory.
                upload = InputFile(file, filename=f"task-{task.id}.mp4", read_file_handle=False)
                await send(
                    task.chat_id,
                    upload,
                    caption=texts.result_caption(task),
                    reply_parameters=self._reply_to(task),
                    reply_markup=result_buttons(task),
                    write_timeout=UPLOAD_TIMEOUT,
                    read_timeout=UPLOAD_TIMEOUT,
                )
        except Forbidden:
            return DeliveryResult.CHAT_UNREACHABLE
        except BadRequest as exc:
            if _chat_gone(exc):
                return DeliveryResult.CHAT_UNREACHABLE
            log.warning("Telegram refused task %d as a %s: %s", task.id, kind, exc)
            return None
        except TelegramError as exc:  # TimedOut, RetryAfter past the limiter's retries, 5xx
            log.warning("Sending task %d as a %s failed: %s", task.id, kind, exc)
            return DeliveryResult.RETRY
        return kind

    async def _send_link(self, task: Task, reason: str) -> DeliveryResult:
        text = texts.result_as_link(task, reason, self._retention_hours)
        try:
            await self._bot.send_message(
                chat_id=task.chat_id,
                text=text,
                reply_parameters=self._reply_to(task),
                reply_markup=result_buttons(task),
            )
        except Forbidden:
            return DeliveryResult.CHAT_UNREACHABLE
        except BadRequest as exc:
            if _chat_gone(exc):
                return DeliveryResult.CHAT_UNREACHABLE
            log.warning("Sending the result link of task %d failed: %s", task.id, exc)
            return DeliveryResult.RETRY
        except TelegramError as exc:
            log.warning("Sending the result link of task %d failed: %s", task.id, exc)
            return DeliveryResult.RETRY
        return DeliveryResult.LINK

    @staticmethod
    def _reply_to(task: Task) -> ReplyParameters | None:
        if task.status_message_id is None:
            return None
        return ReplyParameters(message_id=task.status_message_id, allow_sending_without_reply=True)


def _html_to_text(html: str) -> str:
    return unescape(re.sub(r"<[^>]*>", "", html))


def _chat_gone(exc: BadRequest) -> bool:
    return "chat not found" in exc.message.lower()


# Buttons on a task's messages, `<action>:<task id>` (handlers/tasks.py, handlers/followups.py):
CANCEL_TASK = "stop"  # on the card of a task waiting to start
AGAIN = "again"  # under a result: a new card of the same video, the prompt asked next
EDIT_RESULT = "redo"  # under a result: the result is the new card's video
RETRY = "retry"  # under a failure: a new card of the same request


def _status_buttons(task: Task) -> InlineKeyboardMarkup | None:
    """A task waiting to start can be cancelled from its card; past that, no buttons."""
    if task.state != TaskState.QUEUED:
        return None
    return _buttons((texts.button_cancel_task(), f"{CANCEL_TASK}:{task.id}"))


def result_buttons(task: Task, *, result_kept: bool = True) -> InlineKeyboardMarkup:
    """Under a result: a new prompt for the same video, and (while the provider keeps the
    result) the result as the next card's video."""
    rows = [(texts.button_new_prompt_same_video(), f"{AGAIN}:{task.id}")]
    if result_kept:
        rows.append((texts.button_edit_result(), f"{EDIT_RESULT}:{task.id}"))
    return _buttons(*rows)


def _buttons(*rows: tuple[str, str]) -> InlineKeyboardMarkup:
    """One button a row: (label, callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data)] for label, data in rows]
    )
