"""A task's life as its user sees it: the status card, the result (or a link to it), why it
failed, and /tasks and /status."""

from __future__ import annotations

from html import escape

from bot.domain.failures import Failure
from bot.domain.records import Task, TaskState
from bot.texts.card import uploaded_video
from bot.texts.formatting import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    REASON_SHOWN,
    TASKS_LISTED,
    format_duration,
    shorten,
    show_link,
    telegram_length,
)
from bot.texts.i18n import gettext

__all__ = [
    "RESULT_LINK_SHOWN",
    "elapsed",
    "failure_reason",
    "no_tasks",
    "result_as_link",
    "result_caption",
    "result_too_slow",
    "state_label",
    "status_card",
    "status_usage",
    "task_detail",
    "task_failed",
    "task_found_after_all",
    "task_line",
    "task_list",
    "task_not_found",
    "too_big_to_upload",
    "video_not_taken",
]

# --- a task's status card -------------------------------------------------------------------

_STATE_LABELS: dict[TaskState, str] = {
    TaskState.QUEUED: "⏳ Waiting to start",
    TaskState.SUBMITTING: "⏳ Starting",
    TaskState.PROCESSING: "⚙️ Processing",
    TaskState.SUCCEEDED: "📤 Sending the video",
    TaskState.DELIVERING: "📤 Sending the video",
    TaskState.DELIVERED: "✅ Done",
    TaskState.FAILED: "❌ Failed",
    TaskState.UNKNOWN: "❔ Outcome unknown",
    TaskState.UNDELIVERABLE: "⚠️ Done, but could not be sent",
}


def state_label(state: TaskState) -> str:
    return _STATE_LABELS[state]


def elapsed(task: Task, now: float) -> float:
    end = task.finished_at if task.finished_at and not task.state.is_active else now
    return end - task.started_at


def status_card(task: Task, now: float, queue_position: int | None = None) -> str:
    lines = [
        f"<b>Task #{task.id}</b> · {state_label(task.state)}",
        f"Prompt: <i>{escape(shorten(task.prompt, 300))}</i>",
    ]
    if queue_position is not None:
        lines.append(
            f"Place in the queue: {queue_position}. It starts as soon as the video service "
            "has room; nothing is spent until then."
        )
    if task.state.is_active:
        lines.append(f"Elapsed: {format_duration(elapsed(task, now))}")
        if task.state == TaskState.PROCESSING:
            lines.append("This usually takes 2–20 minutes. I'll send the video here.")
    elif task.state == TaskState.DELIVERED:
        lines.append(f"Took {format_duration(elapsed(task, now))}.")
    elif task.failure:
        lines.append(failure_reason(Failure(task.failure), None))
    return "\n".join(lines)


# --- results --------------------------------------------------------------------------------


def result_caption(task: Task) -> str:
    head = f"Task #{task.id}: "
    # Telegram counts the caption without its markup: the escaped `&lt;` counts as `<`.
    return head + escape(shorten(task.prompt, CAPTION_LIMIT - telegram_length(head)))


def video_not_taken() -> str:
    return gettext("Telegram would not take the video file")


def result_too_slow() -> str:
    return gettext("The video service did not send me the video in good time")


def too_big_to_upload(size_mb: float | None, limit_mb: int) -> str:
    size = f"is {size_mb:.0f} MB" if size_mb is not None else "is larger than that"
    return f"The video {size}, more than the {limit_mb} MB Telegram lets me upload"


# A result's link is what its message is for: shown in full (Telegram makes it a link) unless
# it could not fit, which no provider's link comes near.
RESULT_LINK_SHOWN = MESSAGE_LIMIT - 600


def result_as_link(task: Task, reason: str, retention_hours: float) -> str:
    """`reason` is one of this module's sentences (video_not_taken(), result_too_slow(),
    too_big_to_upload)."""
    return (
        f"Task #{task.id} is done. {reason}, so here is a link instead: "
        f"{show_link(task.result_url or '', RESULT_LINK_SHOWN)}\n"
        f"It stays available for about {format_duration(retention_hours * 3600)}: "
        "download it before then."
    )


# --- failures -------------------------------------------------------------------------------

_FAILURE_REASONS: dict[Failure, str] = {
    Failure.INSUFFICIENT_CREDITS: (
        "The bot's account at the video service has run out of credits. The operator has been "
        "told; please try again later."
    ),
    Failure.PROVIDER_AUTH: (
        "The bot's access to the video service was refused (a configuration problem). "
        "The operator has been told; please try again later."
    ),
    Failure.MAINTENANCE: "The video service is down for maintenance. Please try again later.",
    Failure.RATE_LIMITED: "The video service is busy right now. Please try again in a minute.",
    Failure.VIDEO_UNREACHABLE: (
        "The video service could not download your video. Check that the link is public "
        "and points straight at the video file."
    ),
    Failure.INVALID_REQUEST: "The video service did not accept this video or prompt.",
    Failure.FEATURE_DISABLED: (
        "The video service has switched this feature off for now. Please try again later."
    ),
    Failure.GENERATION_FAILED: "The video service could not make this edit.",
    Failure.PROVIDER_ERROR: "The video service had an internal error.",
    Failure.UNREACHABLE: "I could not reach the video service. Please try again later.",
    Failure.NOT_FOUND: "The video service no longer knows this task (it may have expired).",
    Failure.TIMED_OUT: "The edit took too long, so I stopped waiting for it.",
    Failure.OUTCOME_UNKNOWN: (
        "The connection to the video service broke while the task was being sent, so I can't "
        "tell whether it started. To avoid charging you twice I did not send it again. "
        "The operator has been told."
    ),
    Failure.RESULT_UNAVAILABLE: "The edit finished, but its video could not be downloaded.",
    Failure.CANNOT_SEND: (
        "The edit finished, but Telegram would not take the video, and this bot has no "
        "download link to offer instead."
    ),
}


# Failures about the user's own video or prompt, where the provider's words help them.
_PROVIDER_WORDS_SHOWN = frozenset(
    {Failure.INVALID_REQUEST, Failure.VIDEO_UNREACHABLE, Failure.GENERATION_FAILED}
)


def failure_reason(failure: Failure, provider_message: str | None) -> str:
    reason = _FAILURE_REASONS[failure]
    if provider_message and failure in _PROVIDER_WORDS_SHOWN:
        reason += f" It said: “{escape(shorten(provider_message, REASON_SHOWN))}”."
    return reason


def task_failed(task_id: int, failure: Failure, provider_message: str | None) -> str:
    if failure == Failure.OUTCOME_UNKNOWN:
        return f"Task #{task_id}: {failure_reason(failure, None)}"
    return (
        f"Task #{task_id} failed: {failure_reason(failure, provider_message)} "
        "No video will come for it."
    )


def task_found_after_all(task_id: int) -> str:
    return (
        f"Good news about task #{task_id}: it did reach the video service after all. "
        "I'm following it now and will send the video here when it is ready."
    )


# --- /tasks and /status ---------------------------------------------------------------------


def no_tasks() -> str:
    return gettext("You have no tasks yet. Send a video link and a prompt to start one.")


def status_usage() -> str:
    return gettext("Which task? Send its number, like /status 12 (see /tasks).")


def task_not_found(task_id: int) -> str:
    return f"Task #{task_id} was not found among your tasks. See /tasks for your tasks."


def task_line(task: Task, now: float) -> str:
    return (
        f"#{task.id} · {state_label(task.state)} · {format_duration(now - task.created_at)} ago · "
        f"<i>{escape(shorten(task.prompt, 40))}</i>"
    )


def task_list(tasks: list[Task], now: float) -> str:
    """The first TASKS_LISTED of `tasks`."""
    lines = ["<b>Your recent tasks</b>", *(task_line(task, now) for task in tasks[:TASKS_LISTED])]
    lines.append("\nDetails: /status N")
    return "\n".join(lines)


def task_detail(task: Task, now: float) -> str:
    lines = [
        status_card(task, now),
        f"Video: {uploaded_video() if task.media_token else show_link(task.video_url)}",
        f"Started {format_duration(now - task.created_at)} ago.",
    ]
    if task.state == TaskState.DELIVERED and task.delivered_as == "link" and task.result_url:
        lines.append(f"Result: {show_link(task.result_url, href=True)}")
    return "\n".join(lines)
