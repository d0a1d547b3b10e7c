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
from bot.texts.i18n import gettext

__all__ = [
    "detail_expired",
    "detail_no_public_link",
    "detail_not_downloaded",
    "detail_stopped_while_submitting",
    "detail_unexpected",
    "detail_unexpected_submit",
    "in_callback",
    "in_delivery",
    "in_status_check",
    "in_task",
    "report_found_after_all",
    "report_outcome_unknown",
    "report_status_checks_failing",
    "report_task_failed",
    "report_unexpected",
    "report_unhandled",
    "reports_held_back",
]

# How much of an unhandled error's traceback its report shows: the end, in characters.
_TRACE_SHOWN = 3000


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


# The technical detail of why a task ended, stored with it and shown in the admins' reports
# (escaped and shortened there, in report_task_failed and report_outcome_unknown).
def detail_stopped_while_submitting() -> str:
    return gettext("the bot stopped while this task was being submitted")


def detail_no_public_link(result_url: str | None) -> str:
    return f"the result {result_url} could not be uploaded and has no public link"


def detail_not_downloaded(result_url: str | None) -> str:
    return f"the result file {result_url} could not be downloaded"


def detail_expired(attempts: int) -> str:
    return f"gave up sending the result after {attempts} attempts: it has expired"


def detail_unexpected(error: str) -> str:
    return f"unexpected: {error}"


def detail_unexpected_submit(error: str) -> str:
    return f"unexpected error while submitting: {error}"


# Where an unexpected error happened, for report_unexpected.
def in_status_check(task_id: int) -> str:
    return f"the status check of task #{task_id}"


def in_delivery(task_id: int) -> str:
    return f"the delivery of task #{task_id}"


def in_callback(task_id: int) -> str:
    return f"the callback of task #{task_id}"


def in_task(task_id: int) -> str:
    return f"task #{task_id}"


def report_unexpected(where: str, error: str) -> str:
    return (
        f"🐞 Unexpected error in {escape(shorten(where, REASON_SHOWN))}: "
        f"<code>{escape(shorten(error, DETAIL_SHOWN))}</code>\n"
        "The traceback is in the bot's log."
    )


def report_unhandled(user_id: int | None, error: str, trace: str) -> str:
    """An error no handler caught (handlers/errors.py), while handling an update from `user_id`:
    `error` is its repr, `trace` its traceback. Unlike the other reports it is not shortened to
    fit: one too long for HTML reaches the admins as shortened plain text (the Outbox's
    fallback), the start of the error first."""
    return (
        f"🐞 Unhandled error (user <code>{user_id}</code>): <code>{escape(error)}</code>\n"
        f"<pre>{escape(trace[-_TRACE_SHOWN:])}</pre>"
    )


def reports_held_back(count: int, window: float) -> str:
    return (
        f"⚠️ {count} more reports came in the last {format_duration(window)} and were held back "
        "to keep this chat readable. The bot's log has each of them."
    )
