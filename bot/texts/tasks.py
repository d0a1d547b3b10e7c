"""A task's life as its user sees it: the status card, the result (or a link to it), why it
failed, and /tasks and /status."""

from __future__ import annotations

from html import escape

from bot.domain.delivery import Estimate
from bot.domain.failures import Failure
from bot.domain.payments import ChargeState, TaskCharge
from bot.domain.records import Task, TaskState
from bot.texts.card import uploaded_video
from bot.texts.formatting import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    REASON_SHOWN,
    TASKS_LISTED,
    format_duration,
    format_number,
    shorten,
    show_link,
    telegram_length,
)
from bot.texts.i18n import N_, gettext, ngettext

__all__ = [
    "RESULT_LINK_SHOWN",
    "button_cancel_task",
    "button_edit_result",
    "button_new_prompt_same_video",
    "button_try_again",
    "elapsed",
    "failure_reason",
    "no_tasks",
    "price_line",
    "result_as_link",
    "result_caption",
    "result_too_slow",
    "standing",
    "state_label",
    "status_card",
    "status_usage",
    "task_detail",
    "task_failed",
    "task_found_after_all",
    "task_line",
    "task_list",
    "task_not_found",
    "toast_result_expired",
    "toast_task_cancelled",
    "toast_too_late_to_cancel",
    "toast_video_gone",
    "too_big_to_upload",
    "video_not_taken",
]

# --- a task's status card -------------------------------------------------------------------

_STATE_LABELS: dict[TaskState, str] = {
    # TRANSLATORS: a task's state, shown on its card, in /tasks, and to the admins.
    TaskState.QUEUED: N_("⏳ Waiting to start"),
    TaskState.SUBMITTING: N_("⏳ Starting"),
    TaskState.PROCESSING: N_("⚙️ Processing"),
    TaskState.SUCCEEDED: N_("📤 Sending the video"),
    TaskState.DELIVERING: N_("📤 Sending the video"),
    TaskState.DELIVERED: N_("✅ Done"),
    TaskState.FAILED: N_("❌ Failed"),
    TaskState.UNKNOWN: N_("❔ Outcome unknown"),
    TaskState.UNDELIVERABLE: N_("⚠️ Done, but could not be sent"),
    TaskState.CANCELLED: N_("✖ Cancelled"),
}


def state_label(state: TaskState) -> str:
    return gettext(_STATE_LABELS[state])


def elapsed(task: Task, now: float) -> float:
    end = task.finished_at if task.finished_at and not task.state.is_active else now
    return end - task.started_at


ESTIMATE_FLOOR = 60.0  # seconds: the least an estimate says


def _time_left(task: Task, now: float, typical: float | None) -> str:
    """What a processing task's card says of the time it takes."""
    if typical is None:  # too few tasks yet to say
        return gettext("This usually takes 2–20 minutes. I'll send the video here.")
    left = typical - (now - (task.submitted_at or task.created_at))
    if left <= 0:
        return gettext(
            "This one takes longer than most. I'll send the video here as soon as it is ready."
        )
    # TRANSLATORS: {typical} is how long tasks take at the video service lately ("4 min"), and
    # {left} the time left for this one ("1 min 30 sec").
    return gettext(
        "Tasks take about {typical} lately: about {left} left. I'll send the video here."
    ).format(typical=_about(typical), left=_about(left))


def _about(seconds: float) -> str:
    """An estimate, said no finer than a minute ("about 1 min", never "about 3 sec")."""
    return format_duration(max(ESTIMATE_FLOOR, round(seconds / 60) * 60))


def status_card(
    task: Task,
    now: float,
    queue_position: int | None = None,
    estimate: Estimate | None = None,
    price: TaskCharge | None = None,
) -> str:
    """The task's card; `estimate`: how long tasks take at the provider lately; `price`: what
    its price in credits has become (PAYMENTS=stars)."""
    typical = estimate.typical if estimate else None
    lines = [
        # TRANSLATORS: the first line of a task's card; {state} is its state ("⚙️ Processing").
        gettext("<b>Task #{id}</b> · {state}").format(id=task.id, state=state_label(task.state)),
        # TRANSLATORS: {prompt} is the user's prompt (what to change in the video).
        gettext("Prompt: <i>{prompt}</i>").format(prompt=escape(shorten(task.prompt, 300))),
    ]
    if queue_position is not None:
        lines.append(
            # TRANSLATORS: {position} is the task's place in the bot's queue: 1, 2, ...
            gettext(
                "Place in the queue: {position}. It starts as soon as the video service has "
                "room; nothing is spent until then."
            ).format(position=queue_position)
        )
        if estimate is not None and estimate.start_in is not None:
            # TRANSLATORS: {duration} is a time such as "5 min".
            starts = gettext("It should start in about {duration}.")
            lines.append(starts.format(duration=_about(estimate.start_in)))
    if task.state.is_active:
        # TRANSLATORS: {duration} is how long the task has been going, such as "3 min 20 sec".
        so_far = gettext("Elapsed: {duration}")
        lines.append(so_far.format(duration=format_duration(elapsed(task, now))))
        if task.state == TaskState.PROCESSING:
            lines.append(_time_left(task, now, typical))
            lines.append(gettext("It is at the video service now and can no longer be stopped."))
    elif task.state == TaskState.DELIVERED:
        # TRANSLATORS: {duration} is how long the task took, such as "3 min 20 sec".
        took = gettext("Took {duration}.")
        lines.append(took.format(duration=format_duration(elapsed(task, now))))
    elif task.state == TaskState.CANCELLED:
        lines.append(
            gettext("Cancelled before it started: nothing was spent, and it does not count today.")
        )
    elif task.failure:
        lines.append(failure_reason(Failure(task.failure), None))
    if price is not None:
        lines.append(price_line(price))
    return "\n".join(lines)


def price_line(price: TaskCharge) -> str:
    """A task's price on its card, and where it stands."""
    if price.state == ChargeState.SPENT:
        # TRANSLATORS: {count} is the task's price in credits (bought with Telegram Stars).
        return ngettext(
            "Price: {count} credit, spent.", "Price: {count} credits, spent.", price.credits
        ).format(count=price.credits)
    if price.state == ChargeState.RETURNED:
        # TRANSLATORS: {count} is the task's price in credits (bought with Telegram Stars).
        return ngettext(
            "Price: {count} credit, returned to your balance.",
            "Price: {count} credits, returned to your balance.",
            price.credits,
        ).format(count=price.credits)
    # TRANSLATORS: {count} is the task's price in credits (bought with Telegram Stars).
    return ngettext(
        "Price: {count} credit, held: spent when the video service takes the task, returned "
        "if it does not.",
        "Price: {count} credits, held: spent when the video service takes the task, returned "
        "if it does not.",
        price.credits,
    ).format(count=price.credits)


def button_cancel_task() -> str:
    # TRANSLATORS: a button (at most 64 bytes) on the card of a task still waiting to start.
    return gettext("✖ Cancel")


def toast_task_cancelled() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters).
    return gettext("Cancelled. Nothing was spent.")


def toast_too_late_to_cancel() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters).
    return gettext("It has already gone to the video service and can no longer be stopped.")


def button_new_prompt_same_video() -> str:
    # TRANSLATORS: a button (at most 64 bytes) under a finished video: edit the same original
    # video again, with a new prompt.
    return gettext("🔁 New prompt, same video")


def button_edit_result() -> str:
    # TRANSLATORS: a button (at most 64 bytes) under a finished video: edit the finished video
    # itself further.
    return gettext("✏️ Edit this result")


def button_try_again() -> str:
    # TRANSLATORS: a button (at most 64 bytes) under a failure: the same request again.
    return gettext("🔁 Try again")


def toast_result_expired() -> str:
    # TRANSLATORS: a toast (at most 200 characters).
    return gettext("The video service no longer keeps this result, so it can't be edited further.")


def toast_video_gone() -> str:
    # TRANSLATORS: a toast (at most 200 characters).
    return gettext("That video is no longer kept. Please send it again.")


def standing(today: int, daily_limit: int | None, active: int, max_active: int | None) -> str:
    """A user against their limits: "Today: 3 of 10 · running: 1 of 2" ("" with no limits)."""
    parts = []
    if daily_limit is not None:
        # TRANSLATORS: tasks started today (UTC) of the daily limit, as "Today: 3 of 10".
        parts.append(gettext("Today: {count} of {limit}").format(count=today, limit=daily_limit))
    if max_active is not None:
        # TRANSLATORS: unfinished tasks of how many may be at once, as "running: 1 of 2".
        parts.append(gettext("running: {count} of {limit}").format(count=active, limit=max_active))
    return " · ".join(parts)


# --- results --------------------------------------------------------------------------------


def result_caption(task: Task) -> str:
    # TRANSLATORS: the caption of the finished video; {prompt} is the user's prompt, shortened
    # to fit Telegram's 1024 characters for a caption.
    caption = gettext("Task #{id}: {prompt}")
    # Telegram counts the caption without its markup: the escaped `&lt;` counts as `<`.
    room = CAPTION_LIMIT - telegram_length(caption.format(id=task.id, prompt=""))
    return caption.format(id=task.id, prompt=escape(shorten(task.prompt, room)))


# The reasons a result is sent as a link (result_as_link's `reason`): each a whole sentence.
def video_not_taken() -> str:
    # TRANSLATORS: why a finished video is sent as a link rather than as a video.
    return gettext("Telegram would not take the video file.")


def result_too_slow() -> str:
    # TRANSLATORS: why a finished video is sent as a link rather than as a video.
    return gettext("The video service did not send me the video in good time.")


def too_big_to_upload(size_mb: float | None, limit_mb: int) -> str:
    if size_mb is None:
        # TRANSLATORS: why a finished video is sent as a link rather than as a video. {limit} is
        # the most megabytes Telegram lets the bot upload (50).
        return gettext("The video is more than the {limit} MB Telegram lets me upload.").format(
            limit=limit_mb
        )
    # TRANSLATORS: why a finished video is sent as a link rather than as a video. {size} is the
    # video's size and {limit} the most Telegram lets the bot upload, in megabytes.
    return gettext(
        "The video is {size} MB, more than the {limit} MB Telegram lets me upload."
    ).format(size=format_number(size_mb), limit=limit_mb)


# A result's link is what its message is for: shown in full (Telegram makes it a link) unless
# it could not fit, which no provider's link comes near.
RESULT_LINK_SHOWN = MESSAGE_LIMIT - 600


def result_as_link(task: Task, reason: str, retention_hours: float) -> str:
    """`reason` is one of this module's sentences (video_not_taken(), result_too_slow(),
    too_big_to_upload)."""
    # TRANSLATORS: {reason} is why the video itself is not sent, a sentence such as "Telegram
    # would not take the video file." or "The video is 80 MB, more than the 50 MB Telegram lets
    # me upload."; {link} is the video's link; {duration} how long the link works ("2 days").
    return gettext(
        "Task #{id} is done. {reason} Here is a link to the video instead: {link}\n"
        "It stays available for about {duration}: download it before then."
    ).format(
        id=task.id,
        reason=reason,
        link=show_link(task.result_url or "", RESULT_LINK_SHOWN),
        duration=format_duration(retention_hours * 3600),
    )


# --- failures -------------------------------------------------------------------------------

_FAILURE_REASONS: dict[Failure, str] = {
    # TRANSLATORS: why a task failed, told to its user (each a sentence or two).
    Failure.INSUFFICIENT_CREDITS: N_(
        "The bot's account at the video service has run out of credits. The operator has been "
        "told; please try again later."
    ),
    Failure.PROVIDER_AUTH: N_(
        "The bot's access to the video service was refused (a configuration problem). "
        "The operator has been told; please try again later."
    ),
    Failure.MAINTENANCE: N_("The video service is down for maintenance. Please try again later."),
    Failure.RATE_LIMITED: N_("The video service is busy right now. Please try again in a minute."),
    Failure.VIDEO_UNREACHABLE: N_(
        "The video service could not download your video. Check that the link is public "
        "and points straight at the video file."
    ),
    Failure.INVALID_REQUEST: N_("The video service did not accept this video or prompt."),
    Failure.FEATURE_DISABLED: N_(
        "The video service has switched this feature off for now. Please try again later."
    ),
    Failure.GENERATION_FAILED: N_("The video service could not make this edit."),
    Failure.PROVIDER_ERROR: N_("The video service had an internal error."),
    Failure.UNREACHABLE: N_("I could not reach the video service. Please try again later."),
    Failure.NOT_FOUND: N_("The video service no longer knows this task (it may have expired)."),
    Failure.TIMED_OUT: N_("The edit took too long, so I stopped waiting for it."),
    Failure.OUTCOME_UNKNOWN: N_(
        "The connection to the video service broke while the task was being sent, so I can't "
        "tell whether it started. To avoid charging you twice I did not send it again. "
        "The operator has been told."
    ),
    Failure.RESULT_UNAVAILABLE: N_("The edit finished, but its video could not be downloaded."),
    Failure.CANNOT_SEND: N_(
        "The edit finished, but Telegram would not take the video, and this bot has no "
        "download link to offer instead."
    ),
}


# Failures about the user's own video or prompt, where the provider's words help them.
_PROVIDER_WORDS_SHOWN = frozenset(
    {Failure.INVALID_REQUEST, Failure.VIDEO_UNREACHABLE, Failure.GENERATION_FAILED}
)


def failure_reason(failure: Failure, provider_message: str | None) -> str:
    reason = gettext(_FAILURE_REASONS[failure])
    if provider_message and failure in _PROVIDER_WORDS_SHOWN:
        # TRANSLATORS: {reason} is why the task failed ("The video service could not make this
        # edit."); {message} is what the video service said about it, in its own words.
        return gettext("{reason} It said: “{message}”.").format(
            reason=reason, message=escape(shorten(provider_message, REASON_SHOWN))
        )
    return reason


def task_failed(task_id: int, failure: Failure, provider_message: str | None) -> str:
    if failure == Failure.OUTCOME_UNKNOWN:
        # TRANSLATORS: {reason} says the task may or may not have reached the video service.
        return gettext("Task #{id}: {reason}").format(
            id=task_id, reason=failure_reason(failure, None)
        )
    # TRANSLATORS: {reason} is why the task failed, one or two sentences.
    return gettext("Task #{id} failed: {reason} No video will come for it.").format(
        id=task_id, reason=failure_reason(failure, provider_message)
    )


def task_found_after_all(task_id: int) -> str:
    return gettext(
        "Good news about task #{id}: it did reach the video service after all. "
        "I'm following it now and will send the video here when it is ready."
    ).format(id=task_id)


# --- /tasks and /status ---------------------------------------------------------------------


def no_tasks() -> str:
    return gettext("You have no tasks yet. Send a video link and a prompt to start one.")


def status_usage() -> str:
    return gettext("Which task? Send its number, like /status 12 (see /tasks).")


def task_not_found(task_id: int) -> str:
    return gettext("Task #{id} was not found among your tasks. See /tasks for your tasks.").format(
        id=task_id
    )


def task_line(task: Task, now: float) -> str:
    # TRANSLATORS: a task in a list: its number, its state ("✅ Done"), how long ago it was
    # made ({duration}, such as "3 min 20 sec") and the start of its prompt.
    return gettext("#{id} · {state} · {duration} ago · <i>{prompt}</i>").format(
        id=task.id,
        state=state_label(task.state),
        duration=format_duration(now - task.created_at),
        prompt=escape(shorten(task.prompt, 40)),
    )


def task_list(tasks: list[Task], now: float) -> str:
    """The first TASKS_LISTED of `tasks`."""
    lines = [
        gettext("<b>Your recent tasks</b>"),
        *(task_line(task, now) for task in tasks[:TASKS_LISTED]),
    ]
    # TRANSLATORS: the end of /tasks: N stands for a task's number (/status 12).
    lines.append("\n" + gettext("Details: /status N"))
    return "\n".join(lines)


def task_detail(task: Task, now: float) -> str:
    # TRANSLATORS: {video} is the video's link, or "the video you sent" for a file sent in
    # the chat.
    video = gettext("Video: {video}").format(
        video=uploaded_video() if task.media_token else show_link(task.video_url)
    )
    lines = [
        status_card(task, now),
        video,
        # TRANSLATORS: {duration} is how long ago the task was made, such as "3 min 20 sec".
        gettext("Started {duration} ago.").format(duration=format_duration(now - task.created_at)),
    ]
    if task.state == TaskState.DELIVERED and task.delivered_as == "link" and task.result_url:
        # TRANSLATORS: {link} is the link to the finished video.
        lines.append(gettext("Result: {link}").format(link=show_link(task.result_url, href=True)))
    return "\n".join(lines)
