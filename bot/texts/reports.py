"""Reports to the admins, sent unasked when something needs their eye: a task that failed or
whose outcome is unknown, status checks that keep failing, the bot's own errors."""

from __future__ import annotations

from html import escape

from bot.domain.failures import Failure
from bot.domain.payments import FoundCharge, FoundPrice
from bot.domain.records import Task
from bot.texts.formatting import (
    DETAIL_SHOWN,
    NAME_SHOWN,
    format_duration,
    shorten,
    show_link,
)
from bot.texts.i18n import N_, gettext, ngettext

__all__ = [
    "detail_expired",
    "detail_no_public_link",
    "detail_not_downloaded",
    "detail_stopped_while_submitting",
    "detail_unexpected",
    "detail_unexpected_submit",
    "failure_name",
    "report_checks_behind",
    "report_checks_on_time",
    "report_found_after_all",
    "report_outcome_unknown",
    "report_status_checks_failing",
    "report_task_failed",
    "report_unhandled",
    "reports_held_back",
    "unexpected_in_callback",
    "unexpected_in_delivery",
    "unexpected_in_status_check",
    "unexpected_in_task",
]

# How much of an unhandled error's traceback its report shows: the end, in characters.
_TRACE_SHOWN = 3000

# A failure's short name, for the admins (in reports and /task); in English, its code.
_FAILURE_NAMES: dict[Failure, str] = {
    # TRANSLATORS: the short name of why a task failed, shown to the admins in reports and in
    # /task. In English it is the failure's code name: translate it or keep it.
    Failure.INSUFFICIENT_CREDITS: N_("insufficient_credits"),
    Failure.PROVIDER_AUTH: N_("provider_auth"),
    Failure.MAINTENANCE: N_("maintenance"),
    Failure.RATE_LIMITED: N_("rate_limited"),
    Failure.VIDEO_UNREACHABLE: N_("video_unreachable"),
    Failure.INVALID_REQUEST: N_("invalid_request"),
    Failure.FEATURE_DISABLED: N_("feature_disabled"),
    Failure.GENERATION_FAILED: N_("generation_failed"),
    Failure.PROVIDER_ERROR: N_("provider_error"),
    Failure.UNREACHABLE: N_("unreachable"),
    Failure.NOT_FOUND: N_("not_found"),
    Failure.TIMED_OUT: N_("timed_out"),
    Failure.OUTCOME_UNKNOWN: N_("outcome_unknown"),
    Failure.RESULT_UNAVAILABLE: N_("result_unavailable"),
    Failure.CANNOT_SEND: N_("cannot_send"),
}


def failure_name(failure: str) -> str:
    """The short name of a failure (a Failure's value, as a task stores it) for the admins;
    a value that is no Failure is given back as it is. Plain text: escape it."""
    try:
        return gettext(_FAILURE_NAMES[Failure(failure)])
    except ValueError:
        return failure


def report_status_checks_failing(task_id: int, attempts: int, detail: str) -> str:
    # TRANSLATORS: a report to the admins; {error} is the last error, technical and in English.
    return ngettext(
        "⚠️ Task #{id}: {count} status check in a row failed. Last error: <code>{error}</code>",
        "⚠️ Task #{id}: {count} status checks in a row failed. Last error: <code>{error}</code>",
        attempts,
    ).format(id=task_id, count=attempts, error=escape(shorten(detail, DETAIL_SHOWN)))


def report_checks_behind(
    late: float, worst: float, interval: float, at_provider: int, callbacks: bool
) -> str:
    """The tracker has not kept the check interval for minutes (bot.services.tasks.
    punctuality): how late, and what the operator can change. `callbacks`: webhook mode, where
    the checks are the safety net for callbacks that did not come."""
    # TRANSLATORS: a report to the admins. {late} and {worst} are durations ("2 min 5 s"),
    # {interval} too.
    head = ngettext(
        "⚠️ Status checks are falling behind: each comes {late} later than planned (at worst "
        "{worst}), with {count} task at the provider and a check planned every {interval}.",
        "⚠️ Status checks are falling behind: each comes {late} later than planned (at worst "
        "{worst}), with {count} tasks at the provider and a check planned every {interval}.",
        at_provider,
    ).format(
        late=format_duration(late),
        worst=format_duration(worst),
        count=at_provider,
        interval=format_duration(interval),
    )
    if callbacks:
        # TRANSLATORS: TRACKER_CONCURRENCY and SAFETY_POLL_INTERVAL_SECONDS are settings' names:
        # keep them as they are.
        advice = gettext(
            "These are the safety checks of tasks whose callback has not come; every task is "
            "still checked, the longest waiting first. To catch up: raise TRACKER_CONCURRENCY "
            "(checks made at once) or SAFETY_POLL_INTERVAL_SECONDS."
        )
    else:
        # TRANSLATORS: TRACKER_CONCURRENCY, POLL_INTERVAL_SECONDS, MAX_CONCURRENT_TASKS and
        # PUBLIC_URL are settings' names: keep them as they are.
        advice = gettext(
            "Results are found that much later; every task is still checked, the longest "
            "waiting first. To catch up: raise TRACKER_CONCURRENCY (checks made at once) or "
            "POLL_INTERVAL_SECONDS, lower MAX_CONCURRENT_TASKS, or set PUBLIC_URL so that the "
            "provider calls back and checks are rarely needed."
        )
    return f"{head}\n{advice}"


def report_checks_on_time() -> str:
    # TRANSLATORS: a report to the admins, after "Status checks are falling behind".
    return gettext("✅ Status checks are on time again.")


def report_found_after_all(
    task_id: int, provider: str, job_id: str, price: FoundCharge | None = None
) -> str:
    """`price`: what became of the task's price (PAYMENTS=stars), said when an admin had
    returned it."""
    # TRANSLATORS: a report to the admins; {provider} is the video service's name, {job} the
    # task's id there.
    head = gettext(
        "✅ Task #{id} did reach {provider} after all (job <code>{job}</code>); "
        "it is tracked again."
    ).format(
        id=task_id,
        provider=escape(shorten(provider, NAME_SHOWN)),
        job=escape(shorten(job_id, NAME_SHOWN)),
    )
    if price is None or price.state is FoundPrice.CHARGED:
        return head
    if price.state is FoundPrice.TAKEN_AGAIN:
        # TRANSLATORS: after "Task #5 did reach ... after all"; {count} is the task's price in
        # credits, {balance} the user's balance in credits after.
        more = ngettext(
            "Its price, {count} credit, had been returned by an admin: it was taken from the "
            "user's balance again (now {balance}).",
            "Its price, {count} credits, had been returned by an admin: they were taken from "
            "the user's balance again (now {balance}).",
            price.credits,
        )
    else:
        # TRANSLATORS: after "Task #5 did reach ... after all"; {count} is the task's price in
        # credits, {balance} the user's balance in credits.
        more = ngettext(
            "Its price, {count} credit, had been returned by an admin, and the user's balance "
            "({balance}) is short of it: this task is free.",
            "Its price, {count} credits, had been returned by an admin, and the user's balance "
            "({balance}) is short of them: this task is free.",
            price.credits,
        )
    return head + " " + more.format(count=price.credits, balance=price.balance)


def report_task_failed(task_id: int, user_id: int, failure: str, detail: str) -> str:
    # TRANSLATORS: a report to the admins; {user} is the user's Telegram id, {failure} the
    # failure's short name ("generation_failed"), {detail} its technical detail.
    return gettext(
        "❌ Task #{id} (user <code>{user}</code>) failed: <b>{failure}</b>\n<code>{detail}</code>"
    ).format(
        id=task_id,
        user=user_id,
        failure=escape(shorten(failure_name(failure), NAME_SHOWN)),
        detail=escape(shorten(detail, DETAIL_SHOWN)),
    )


def report_outcome_unknown(task: Task, provider: str, detail: str) -> str:
    # TRANSLATORS: a report to the admins; {user} is the user's Telegram id, {provider} the
    # video service's name, {detail} the error's technical detail, {video} the video's link.
    return gettext(
        "❔ Task #{id} (user <code>{user}</code>): the submit request got no answer, so it may "
        "or may not be running at {provider}. It was not resent.\n<code>{detail}</code>\n"
        "Video: {video}"
    ).format(
        id=task.id,
        user=task.user_id,
        provider=escape(shorten(provider, NAME_SHOWN)),
        detail=escape(shorten(detail, DETAIL_SHOWN)),
        video=show_link(task.video_url),
    )


# The technical details stored with a task (its error_detail) are kept in English, like the
# providers' own details beside them: they are stored once and shown to every admin, and a
# stored text cannot follow each reader's language. They are not in the catalog.
def detail_stopped_while_submitting() -> str:
    return "the bot stopped while this task was being submitted"


def detail_no_public_link(result_url: str | None) -> str:
    return f"the result {result_url} could not be uploaded and has no public link"


def detail_not_downloaded(result_url: str | None) -> str:
    return f"the result file {result_url} could not be downloaded"


def detail_expired(attempts: int) -> str:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return f"gave up sending the result after {tries}: it has expired"


def detail_unexpected(error: str) -> str:
    return f"unexpected: {error}"


def detail_unexpected_submit(error: str) -> str:
    return f"unexpected error while submitting: {error}"


# Unexpected errors while handling a task, for the admins: `error` is the error as Python
# names it (its repr). The traceback is in the log.
# TRANSLATORS: a report to the admins; {id} is the task's number; {error} is the error, as
# Python names it. The same for the next three.
_UNEXPECTED_IN_STATUS_CHECK = N_(
    "🐞 Unexpected error in the status check of task #{id}: <code>{error}</code>\n"
    "The traceback is in the bot's log."
)
_UNEXPECTED_IN_DELIVERY = N_(
    "🐞 Unexpected error in the delivery of task #{id}: <code>{error}</code>\n"
    "The traceback is in the bot's log."
)
_UNEXPECTED_IN_CALLBACK = N_(
    "🐞 Unexpected error in the callback of task #{id}: <code>{error}</code>\n"
    "The traceback is in the bot's log."
)
_UNEXPECTED_IN_TASK = N_(
    "🐞 Unexpected error in task #{id}: <code>{error}</code>\nThe traceback is in the bot's log."
)


def unexpected_in_status_check(task_id: int, error: str) -> str:
    return _unexpected(_UNEXPECTED_IN_STATUS_CHECK, task_id, error)


def unexpected_in_delivery(task_id: int, error: str) -> str:
    return _unexpected(_UNEXPECTED_IN_DELIVERY, task_id, error)


def unexpected_in_callback(task_id: int, error: str) -> str:
    return _unexpected(_UNEXPECTED_IN_CALLBACK, task_id, error)


def unexpected_in_task(task_id: int, error: str) -> str:
    return _unexpected(_UNEXPECTED_IN_TASK, task_id, error)


def _unexpected(sentence: str, task_id: int, error: str) -> str:
    return gettext(sentence).format(id=task_id, error=escape(shorten(error, DETAIL_SHOWN)))


def report_unhandled(user_id: int | None, error: str, trace: str) -> str:
    """An error no handler caught (handlers/errors.py), while handling an update from `user_id`:
    `error` is its repr, `trace` its traceback. Unlike the other reports it is not shortened to
    fit: one too long for HTML reaches the admins as shortened plain text (the Outbox's
    fallback), the start of the error first."""
    # TRANSLATORS: a report to the admins, followed by the error's traceback; {user} is the
    # Telegram id of the user whose message was being handled ("None": no user), {error} the
    # error, as Python names it.
    head = gettext("🐞 Unhandled error (user <code>{user}</code>): <code>{error}</code>").format(
        user=user_id, error=escape(error)
    )
    return f"{head}\n<pre>{escape(trace[-_TRACE_SHOWN:])}</pre>"


def reports_held_back(count: int, window: float) -> str:
    # TRANSLATORS: a report to the admins; {duration} is a time such as "10 min".
    return ngettext(
        "⚠️ {count} more report came in the last {duration} and was held back to keep this "
        "chat readable. The bot's log has it.",
        "⚠️ {count} more reports came in the last {duration} and were held back to keep this "
        "chat readable. The bot's log has each of them.",
        count,
    ).format(count=count, duration=format_duration(window))
