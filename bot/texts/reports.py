"""Reports to the admins, sent unasked when something needs their eye: a task that failed or
whose outcome is unknown, status checks that keep failing, the bot's own errors."""

from __future__ import annotations

from html import escape

from bot.domain.records import Task
from bot.texts.formatting import (
    DETAIL_SHOWN,
    NAME_SHOWN,
    REASON_SHOWN,
    format_duration,
    shorten,
    show_link,
)

__all__ = [
    "report_found_after_all",
    "report_outcome_unknown",
    "report_status_checks_failing",
    "report_task_failed",
    "report_unexpected",
    "reports_held_back",
]


def report_status_checks_failing(task_id: int, attempts: int, detail: str) -> str:
    return (
        f"⚠️ Task #{task_id}: {attempts} status checks in a row failed. "
        f"Last error: <code>{escape(shorten(detail, DETAIL_SHOWN))}</code>"
    )


def report_found_after_all(task_id: int, provider: str, job_id: str) -> str:
    return (
        f"✅ Task #{task_id} did reach {escape(shorten(provider, NAME_SHOWN))} after all "
        f"(job <code>{escape(shorten(job_id, NAME_SHOWN))}</code>); it is tracked again."
    )


def report_task_failed(task_id: int, user_id: int, failure: str, detail: str) -> str:
    return (
        f"❌ Task #{task_id} (user <code>{user_id}</code>) failed: "
        f"<b>{escape(shorten(failure, NAME_SHOWN))}</b>\n"
        f"<code>{escape(shorten(detail, DETAIL_SHOWN))}</code>"
    )


def report_outcome_unknown(task: Task, provider: str, detail: str) -> str:
    return (
        f"❔ Task #{task.id} (user <code>{task.user_id}</code>): the submit request got no "
        f"answer, so it may or may not be running at {escape(shorten(provider, NAME_SHOWN))}. "
        f"It was not resent.\n<code>{escape(shorten(detail, DETAIL_SHOWN))}</code>\n"
        f"Video: {show_link(task.video_url)}"
    )


def report_unexpected(where: str, error: str) -> str:
    return (
        f"🐞 Unexpected error in {escape(shorten(where, REASON_SHOWN))}: "
        f"<code>{escape(shorten(error, DETAIL_SHOWN))}</code>\n"
        "The traceback is in the bot's log."
    )


def reports_held_back(count: int, window: float) -> str:
    return (
        f"⚠️ {count} more reports came in the last {format_duration(window)} and were held back "
        "to keep this chat readable. The bot's log has each of them."
    )
