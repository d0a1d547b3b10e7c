"""What the admins read when they act: the answers to their commands (/stats, /user, /ban, /task,
/maintenance, ...), the access requests they decide, and broadcasts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html import escape, unescape

from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent

from bot.domain.delivery import DeliveryResult
from bot.domain.records import Access, Instance, Task, TaskState, User
from bot.texts import i18n
from bot.texts.card import describe_mode
from bot.texts.formatting import (
    DETAIL_SHOWN,
    MESSAGE_LIMIT,
    NAME_SHOWN,
    PROMPT_SHOWN,
    REASON_SHOWN,
    TASKS_LISTED,
    format_duration,
    shorten,
    show_link,
    telegram_length,
)
from bot.texts.i18n import N_, gettext, ngettext
from bot.texts.money import MONEY_COMMANDS, MONEY_USAGE
from bot.texts.reports import failure_name
from bot.texts.tasks import state_label, task_line

__all__ = [
    "admin_access_decided",
    "admin_access_request",
    "admin_access_unchanged",
    "admin_banned",
    "admin_chart_caption",
    "admin_chart_day",
    "admin_chart_delivered",
    "admin_chart_failed",
    "admin_chart_median",
    "admin_chart_other",
    "admin_chart_p90",
    "admin_chart_tasks_axis",
    "admin_chart_time_axis",
    "admin_chart_title",
    "admin_commands",
    "admin_credits",
    "admin_credits_not_reported",
    "admin_credits_unavailable",
    "admin_limit_set",
    "admin_maintenance_off",
    "admin_maintenance_on",
    "admin_no_such_task",
    "admin_no_such_user",
    "admin_nothing_to_redeliver",
    "admin_redeliver_failed",
    "admin_redelivered",
    "admin_stats",
    "admin_task",
    "admin_unbanned",
    "admin_unnamed",
    "admin_usage",
    "admin_user",
    "admin_was_not_banned",
    "broadcast_cancelled",
    "broadcast_copy_preview",
    "broadcast_not_copied",
    "broadcast_preview",
    "broadcast_progress",
    "button_approve",
    "button_broadcast_cancel",
    "button_broadcast_send",
    "button_deny",
    "maintenance_default",
    "toast_broadcast_sending",
]

# A message quoted whole in another (a broadcast in its preview), with room for the other's lines.
_QUOTED_SHOWN = MESSAGE_LIMIT - 200


def _shorten_escaped(html: str, limit: int) -> str:
    """`shorten` for HTML that is escaped plain text (a maintenance message): cut as the text it
    shows, so that the cut never falls inside an `&amp;`."""
    return escape(shorten(unescape(html), limit))


_TAG = re.compile(r"(<[^>]*>)")
_TAG_NAME = re.compile(r"</?([A-Za-z][-A-Za-z0-9]*)")


def _shown(html: str) -> str:
    """The text HTML shows: its tags left out, its character references read."""
    return unescape(_TAG.sub("", html))


def _shorten_html(html: str, limit: int) -> str:
    """`shorten` for HTML made from Telegram's entities (a broadcast with the admin's bold,
    links, spoilers...: well-formed, its text escaped): cut as the text it shows, never inside a
    tag or an `&amp;`, and with the tags open at the cut closed after it."""
    shown = _shown(html)
    if telegram_length(shown) <= limit:
        return html
    keep = len(shorten(shown, limit)) - 1  # characters shown before the "…"
    kept: list[str] = []
    open_tags: list[str] = []
    for part in _TAG.split(html):
        name = _TAG_NAME.match(part)
        if name is not None:
            if part.startswith("</"):
                open_tags.pop()
            elif not part.endswith("/>"):
                open_tags.append(name[1])
            kept.append(part)
            continue
        text = unescape(part)
        if len(text) >= keep:
            kept.append(escape(text[:keep]) + "…")
            break
        kept.append(part)
        keep -= len(text)
    return "".join(kept) + "".join(f"</{tag}>" for tag in reversed(open_tags))


# --- access (allowlist mode) --------------------------------------------------------------

_ACCESS_STATES: dict[Access | None, str] = {
    # TRANSLATORS: where a user stands in allowlist mode, for the admins: "is already {state}"
    # and "Access (allowlist): {state}". "pending": asked, not yet decided.
    Access.PENDING: N_("pending"),
    Access.ALLOWED: N_("allowed"),
    Access.DENIED: N_("denied"),
    None: N_("not asked"),
}


def _access_state(access: Access | None) -> str:
    return gettext(_ACCESS_STATES[access])


def button_approve() -> str:
    return gettext("✅ Approve")


def button_deny() -> str:
    return gettext("✖ Deny")


# Who decided, in admin_access_decided, when Telegram does not say which admin it was.
def admin_unnamed() -> str:
    # TRANSLATORS: who decided an access request, in "🔑 {who}: allowed by {admin}.", when
    # Telegram does not say which admin it was.
    return gettext("an admin")


def _who(user: User) -> str:
    name = escape(shorten(user.first_name or "?", NAME_SHOWN))
    handle = f" @{escape(shorten(user.username, NAME_SHOWN))}" if user.username else ""
    return f"{name}{handle} (<code>{user.id}</code>)"


def admin_access_request(user: User) -> str:
    # TRANSLATORS: {who} is a user: their first name, @username and Telegram id.
    return gettext("🔑 {who} asks to use the bot.").format(who=_who(user))


def admin_access_unchanged(user: User) -> str:
    # TRANSLATORS: {who} is a user (name, @username, id); {state} is "pending", "allowed",
    # "denied" or "not asked".
    return gettext("🔑 {who} is already {state}: nothing changed.").format(
        who=_who(user), state=_access_state(user.access)
    )


def admin_access_decided(user: User, allowed: bool, by: str) -> str:
    fields = {"who": _who(user), "admin": escape(shorten(by, NAME_SHOWN))}
    if allowed:
        # TRANSLATORS: {who} is a user (name, @username, id); {admin} the admin's first name.
        return gettext("🔑 {who}: allowed by {admin}.").format(**fields)
    # TRANSLATORS: {who} is a user (name, @username, id); {admin} the admin's first name.
    return gettext("🔑 {who}: denied by {admin}.").format(**fields)


# --- commands for admins --------------------------------------------------------------------

# The admins' commands (not translated) and what each does, for their command menu.
_ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    # TRANSLATORS: what an admin command does, in the admins' command menu (at most 256
    # characters). Commands (/user), their arguments' examples and "default" stay as they are.
    ("stats", N_("Users, tasks, queue and credits")),
    ("user", N_("A user's profile: /user 12345 or /user @name")),
    ("ban", N_("Ban a user: /ban 12345 [reason]")),
    ("unban", N_("Lift a ban: /unban 12345")),
    ("limit", N_("A user's daily limit: /limit 12345 20 (or default)")),
    ("task", N_("Any task in full: /task 12")),
    ("redeliver", N_("Send a task's result again: /redeliver 12")),
    ("maintenance", N_("/maintenance on [message] or /maintenance off")),
    ("broadcast", N_("Message every user: /broadcast text, or /broadcast in reply to a message")),
    ("allow", N_("Let a user in (allowlist mode): /allow 12345")),
    ("deny", N_("Keep a user out (allowlist mode): /deny 12345")),
    *MONEY_COMMANDS,
)
# How to use each admin command that takes arguments, said when they are missing or wrong.
_ADMIN_USAGE: dict[str, str] = {
    # TRANSLATORS: how to use an admin command. Commands (/user), "on", "off" and "default"
    # are typed as they are: keep them; the words in brackets may be translated.
    "user": N_("Usage: /user 12345 or /user @username"),
    "ban": N_("Usage: /ban 12345 [reason]"),
    "unban": N_("Usage: /unban 12345"),
    "limit": N_("Usage: /limit 12345 20, or /limit 12345 default"),
    "task": N_("Usage: /task 12"),
    "redeliver": N_("Usage: /redeliver 12"),
    "maintenance": N_("Usage: /maintenance on [message shown to users], or /maintenance off"),
    "broadcast": N_(
        "Usage: /broadcast the text to send to every user, or /broadcast in reply to a message "
        "of yours (a text, photo or video, with its formatting and caption) to send every user "
        "a copy of it"
    ),
    "allow": N_("Usage: /allow 12345 or /allow @username"),
    "deny": N_("Usage: /deny 12345 or /deny @username"),
    **MONEY_USAGE,
}


def admin_commands(*, payments: bool = True) -> tuple[tuple[str, str], ...]:
    """The admins' commands and what each does, for their command menu: (name, description);
    without `payments` (PAYMENTS=off), not those about money."""
    money = {name for name, _ in MONEY_COMMANDS}
    return tuple(
        (name, gettext(description))
        for name, description in _ADMIN_COMMANDS
        if payments or name not in money
    )


def admin_usage(command: str) -> str:
    """How to use `command` (an admin command that takes arguments: every one but stats)."""
    return gettext(_ADMIN_USAGE[command])


def maintenance_default() -> str:
    return gettext(
        "The bot is down for maintenance and takes no new tasks right now. "
        "Please try again a little later."
    )


def admin_maintenance_off() -> str:
    return gettext("🟢 Maintenance is off: new tasks are taken again.")


def admin_maintenance_on(message: str) -> str:
    """`message` is HTML: escaped plain text (what users are told)."""
    # TRANSLATORS: {message} is what users are told while maintenance is on.
    return gettext(
        "🛠 Maintenance is on: new tasks are refused (tasks already running go on). "
        "Users are told:\n<i>{message}</i>"
    ).format(message=_shorten_escaped(message, _QUOTED_SHOWN))


def admin_no_such_user(who: str) -> str:
    # TRANSLATORS: {who} is what the admin typed: a Telegram id or an @username.
    return gettext("I don't know a user {who} (users appear once they have written to me).").format(
        who=escape(shorten(who, NAME_SHOWN))
    )


def admin_no_such_task(task_id: int) -> str:
    return gettext("There is no task #{id}.").format(id=task_id)


def admin_banned(user: User, reason: str | None) -> str:
    if reason:
        # TRANSLATORS: {who} is a user (name, @username, id); {reason} the admin's reason.
        return gettext(
            "🚫 {who} is banned ({reason}). Their running tasks still finish and are sent."
        ).format(who=_who(user), reason=escape(shorten(reason, REASON_SHOWN)))
    # TRANSLATORS: {who} is a user (name, @username, id).
    return gettext("🚫 {who} is banned. Their running tasks still finish and are sent.").format(
        who=_who(user)
    )


def admin_was_not_banned(user: User) -> str:
    # TRANSLATORS: {who} is a user (name, @username, id).
    return gettext("{who} was not banned.").format(who=_who(user))


def admin_unbanned(user: User) -> str:
    # TRANSLATORS: {who} is a user (name, @username, id).
    return gettext("✅ {who} is no longer banned.").format(who=_who(user))


def admin_limit_set(user: User, limit: int) -> str:
    # TRANSLATORS: {who} is a user (name, @username, id).
    return ngettext(
        "{who} may now start {count} task a day.", "{who} may now start {count} tasks a day.", limit
    ).format(who=_who(user), count=limit)


def _percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def _success_rate(all_time: bool, done: int, ended: int) -> str:
    fields = {"percent": format_percent(done / ended, locale=i18n.locale()), "count": ended}
    if all_time:
        # TRANSLATORS: in /stats: of the tasks that ended (delivered, failed, unknown or not
        # sendable) ever, the share delivered; {percent} is a percentage in the language's
        # way ("87%", "87 %").
        return ngettext(
            "Success rate (all): {percent} of {count} ended",
            "Success rate (all): {percent} of {count} ended",
            ended,
        ).format(**fields)
    # TRANSLATORS: in /stats: of the tasks that ended (delivered, failed, unknown or not
    # sendable) in the last 7 days, the share delivered; {percent} is a percentage in the
    # language's way ("87%", "87 %").
    return ngettext(
        "Success rate (7 d): {percent} of {count} ended",
        "Success rate (7 d): {percent} of {count} ended",
        ended,
    ).format(**fields)


def admin_stats(
    *,
    users: tuple[int, int, int],
    by_state: list[dict[TaskState, int]],
    processing_times: list[float],
    queued: int,
    at_provider: int,
    max_at_provider: int,
    credits: str,
    instances: list[Instance] | None = None,
    poller: str | None = None,
    now: float = 0.0,
) -> str:
    """`instances`: those alive, when several may share the database; `poller` the one
    polling Telegram."""
    lines = [
        gettext("<b>Statistics</b>"),
        # TRANSLATORS: in /stats: users ever seen, those active in the last 24 hours, and in
        # the last 7 days.
        gettext("Users: {all} in all · {day} active in 24 h · {week} in 7 d").format(
            all=users[0], day=users[1], week=users[2]
        ),
        # TRANSLATORS: in /stats, above a line for each task state: "✅ Done: 3 / 12 / 40".
        gettext("Tasks (24 h / 7 d / all):"),
    ]
    for state in TaskState:
        counts = [period.get(state, 0) for period in by_state]
        if counts[2]:
            lines.append(f"  {state_label(state)}: {counts[0]} / {counts[1]} / {counts[2]}")
    if not any(by_state[2].values()):
        # TRANSLATORS: in /stats, under "Tasks (24 h / 7 d / all):" when there are none.
        lines.append("  " + gettext("none yet"))
    for all_time, period in ((False, by_state[1]), (True, by_state[2])):
        done = period.get(TaskState.DELIVERED, 0)
        ended = done + sum(
            period.get(s, 0) for s in (TaskState.FAILED, TaskState.UNKNOWN, TaskState.UNDELIVERABLE)
        )
        if ended:
            lines.append(_success_rate(all_time, done, ended))
    if processing_times:
        lines.append(
            # TRANSLATORS: in /stats: how long the video service took over the last 7 days;
            # {median} and {within} are durations such as "3 min 20 sec".
            gettext("Processing time (7 d): median {median} · 90 % within {within}").format(
                median=format_duration(_percentile(processing_times, 0.5)),
                within=format_duration(_percentile(processing_times, 0.9)),
            )
        )
    lines.append(
        # TRANSLATORS: in /stats: tasks waiting in the bot's queue, tasks at the video service,
        # and how many the bot lets be there at once.
        gettext("Queue: {queued} waiting · {at_provider} at the provider (at most {most})").format(
            queued=queued, at_provider=at_provider, most=max_at_provider
        )
    )
    lines.append(credits)
    if instances is not None:
        lines += _instance_lines(instances, poller, now)
    return "\n".join(lines)


# /stats' chart (bot/services/stats_chart.py): the picture's few words, plain text drawn on it.


def admin_chart_title() -> str:
    # TRANSLATORS: the title of the picture /stats sends: the tasks that ended on each of the
    # last 14 days (UTC), and how long the video service took.
    return gettext("Tasks ended per day, last 14 days (UTC)")


def admin_chart_delivered() -> str:
    # TRANSLATORS: in /stats' picture, the legend of the bars of tasks delivered.
    return gettext("Delivered")


def admin_chart_failed() -> str:
    # TRANSLATORS: in /stats' picture, the legend of the bars of tasks that failed.
    return gettext("Failed")


def admin_chart_other() -> str:
    # TRANSLATORS: in /stats' picture, the legend of the bars of tasks that ended otherwise:
    # outcome unknown, not sendable, or cancelled by their user.
    return gettext("Other endings")


def admin_chart_median() -> str:
    # TRANSLATORS: in /stats' picture, the legend of the line of the median processing time
    # of the day's delivered tasks.
    return gettext("Median time")


def admin_chart_p90() -> str:
    # TRANSLATORS: in /stats' picture, the legend of the line under which 90 % of the day's
    # processing times fall.
    return gettext("90 % within")


def admin_chart_tasks_axis() -> str:
    # TRANSLATORS: in /stats' picture, the left axis: how many tasks ended that day.
    return gettext("Tasks")


def admin_chart_time_axis() -> str:
    # TRANSLATORS: in /stats' picture, the right axis: processing time in minutes.
    return gettext("Processing time, min")


def admin_chart_day(day: date) -> str:
    """A day under a bar of /stats' picture, short, in the language's way ("Dec 7", "7 дек.")."""
    return format_skeleton("MMMd", day, locale=i18n.locale())


def admin_chart_caption() -> str:
    # TRANSLATORS: the caption of /stats' picture when the figures are too long to be its
    # caption; they follow in the next message.
    return gettext("<b>Statistics</b>: the last 14 days in a picture; the figures follow.")


MAX_INSTANCES_SHOWN = 20


def _instance_lines(instances: list[Instance], poller: str | None, now: float) -> list[str]:
    # TRANSLATORS: in /stats: bot processes sharing the database, then a line for each.
    lines = [gettext("Instances running: {count}").format(count=len(instances))]
    for instance in instances[:MAX_INSTANCES_SHOWN]:
        mode = gettext("webhook") if instance.mode == "webhook" else gettext("long polling")
        line = ngettext(
            # TRANSLATORS: in /stats, one instance: its name, how it takes updates ("webhook",
            # "long polling"), the unfinished tasks it is working on, when it was last seen.
            "{name} ({mode}): {count} task held · seen {ago} ago",
            "{name} ({mode}): {count} tasks held · seen {ago} ago",
            instance.tasks_held,
        ).format(
            name=escape(shorten(instance.id, 60)),
            mode=mode,
            count=instance.tasks_held,
            ago=format_duration(max(0.0, now - instance.seen_at)),
        )
        if instance.id == poller:
            # TRANSLATORS: in /stats, after the instance that polls Telegram for updates.
            line += " · " + gettext("polls Telegram")
        lines.append("  " + line)
    if len(instances) > MAX_INSTANCES_SHOWN:
        # TRANSLATORS: in /stats, after the first instances listed.
        lines.append(
            "  " + gettext("… and {count} more").format(count=len(instances) - MAX_INSTANCES_SHOWN)
        )
    return lines


def admin_credits(provider: str, balance: float | None) -> str:
    if balance is None:
        # TRANSLATORS: in /stats; {provider} is the video service's name.
        return gettext("Credits at {provider}: unknown").format(provider=escape(provider))
    # Decimal(balance): rounded as the float it is, to at most two decimals.
    shown = format_decimal(Decimal(balance), format="#,##0.##", locale=i18n.locale())
    # TRANSLATORS: in /stats; {provider} is the video service's name, {balance} the credits
    # the bot's account has left there.
    return gettext("Credits at {provider}: {balance}").format(
        provider=escape(provider), balance=shown
    )


def admin_credits_not_reported(provider: str) -> str:
    # TRANSLATORS: in /stats; {provider} is the video service's name.
    return gettext("Credits: {provider} does not report them.").format(provider=escape(provider))


def admin_credits_unavailable(provider: str, detail: str) -> str:
    # TRANSLATORS: in /stats; {provider} is the video service's name, {detail} the error,
    # technical and in English.
    return gettext("Credits at {provider}: could not be read ({detail})").format(
        provider=escape(provider), detail=escape(shorten(detail, REASON_SHOWN))
    )


def admin_user(
    user: User, *, now: float, daily_limit: int, own_limit: bool, active: int, recent: list[Task]
) -> str:
    lines = [
        f"<b>{_who(user)}</b>",
        # TRANSLATORS: in /user; {first} and {last} are durations such as "3 days 4 hr".
        gettext("First seen {first} ago · last seen {last} ago").format(
            first=format_duration(now - user.first_seen_at),
            last=format_duration(now - user.last_seen_at),
        ),
    ]
    if user.access:
        # TRANSLATORS: in /user; {state} is "pending", "allowed" or "denied".
        access = gettext("Access (allowlist): {state}")
        lines.append(access.format(state=_access_state(user.access)))
    if user.banned_at is not None:
        banned = format_duration(now - user.banned_at)
        if user.ban_reason:
            # TRANSLATORS: in /user; {duration} is a duration such as "3 days 4 hr", {reason}
            # the admin's reason for the ban.
            lines.append(
                gettext("🚫 Banned {duration} ago: {reason}").format(
                    duration=banned, reason=escape(shorten(user.ban_reason, REASON_SHOWN))
                )
            )
        else:
            # TRANSLATORS: in /user; {duration} is a duration such as "3 days 4 hr".
            lines.append(gettext("🚫 Banned {duration} ago").format(duration=banned))
    if user.blocked_bot_at is not None:
        lines.append(gettext("Has blocked the bot."))
    if own_limit:
        # TRANSLATORS: in /user: {limit} is the user's own number of tasks a day (set with
        # /limit); {active} their tasks not finished yet.
        limits = gettext("Daily limit: {limit} (own) · unfinished tasks: {active}")
    else:
        # TRANSLATORS: in /user: {limit} is the number of tasks a day everyone may start;
        # {active} the user's tasks not finished yet.
        limits = gettext("Daily limit: {limit} (default) · unfinished tasks: {active}")
    lines.append(limits.format(limit=daily_limit, active=active))
    lines.extend(task_line(task, now) for task in recent[:TASKS_LISTED])
    return "\n".join(lines)


_DELIVERY_RESULTS: dict[DeliveryResult, str] = {
    # TRANSLATORS: how a result was sent, for the admins: "(as a {how})" in /redeliver and
    # "Delivered: 3 min ago as {how}" in /task.
    DeliveryResult.VIDEO: N_("video"),
    DeliveryResult.DOCUMENT: N_("document"),
    DeliveryResult.LINK: N_("link"),
    # TRANSLATORS: why a result could not be sent again, for the admins, in "(...)"; in
    # English the code names: translate them or keep them.
    DeliveryResult.CHAT_UNREACHABLE: N_("chat_unreachable"),
    DeliveryResult.RETRY: N_("retry"),
    DeliveryResult.RESULT_GONE: N_("result_gone"),
    DeliveryResult.NO_LINK: N_("no_link"),
}


def _delivery_result(value: str) -> str:
    """A delivery's result (a DeliveryResult's value) for the admins; else `value` as it is."""
    try:
        return gettext(_DELIVERY_RESULTS[DeliveryResult(value)])
    except ValueError:
        return value


def admin_task(task: Task, now: float) -> str:
    def ago(moment: float | None) -> str:
        if not moment:
            return "—"
        # TRANSLATORS: in /task: when something happened; {duration} such as "3 min 20 sec".
        return gettext("{duration} ago").format(duration=format_duration(now - moment))

    if task.delivered_at:
        # TRANSLATORS: in /task: {when} is "3 min ago"; {how} is "video", "document" or "link".
        delivered = gettext("Delivered: {when} as {how}").format(
            when=ago(task.delivered_at), how=escape(_delivery_result(str(task.delivered_as)))
        )
    else:
        delivered = gettext("Delivered: {when}").format(when="—")
    lines = [
        gettext("<b>Task #{id}</b>").format(id=task.id),
        # TRANSLATORS: in /task; {state} is the task's state ("✅ Done").
        gettext("State: {state}").format(state=state_label(task.state)),
        # TRANSLATORS: in /task; {user} is the user's Telegram id.
        gettext("User: <code>{user}</code>").format(user=task.user_id),
        # TRANSLATORS: in /task; {provider} is the video service's name, {job} the task's id
        # there.
        gettext("Provider: {provider} · job <code>{job}</code>").format(
            provider=escape(task.provider),
            job=escape(shorten(task.provider_task_id or "—", NAME_SHOWN)),
        ),
        gettext("Video: {video}").format(video=show_link(task.video_url)),
        gettext("Prompt: <i>{prompt}</i>").format(
            prompt=escape(shorten(task.prompt, PROMPT_SHOWN))
        ),
        # TRANSLATORS: in /task; {strength} is how strongly the video is edited (its mode).
        gettext("Strength: {strength}").format(
            strength=describe_mode(task.mode) if task.mode else "—"
        ),
        gettext("First frame: {link}").format(
            link=show_link(task.first_frame_url) if task.first_frame_url else "—"
        ),
        # TRANSLATORS: in /task: when the task was made; {when} is "3 min ago".
        gettext("Created: {when}").format(when=ago(task.created_at)),
        # TRANSLATORS: in /task: when the task was sent to the video service; {when} "3 min ago".
        gettext("Submitted: {when}").format(when=ago(task.submitted_at)),
        # TRANSLATORS: in /task: when the task ended; {when} is "3 min ago".
        gettext("Finished: {when}").format(when=ago(task.finished_at)),
        delivered,
        gettext("Result: {link}").format(
            link=show_link(task.result_url, href=True) if task.result_url else "—"
        ),
        # TRANSLATORS: in /task; {failure} is the failure's short name ("generation_failed").
        gettext("Failure: {failure}").format(
            failure=escape(failure_name(task.failure) if task.failure else "—")
        ),
        # TRANSLATORS: in /task; {detail} is the failure's technical detail.
        gettext("Detail: <code>{detail}</code>").format(
            detail=escape(shorten(task.error_detail or "—", DETAIL_SHOWN))
        ),
        # TRANSLATORS: in /task: how many times in a row checking or sending the task failed.
        gettext("Failed attempts in a row: {count}").format(count=task.attempts),
    ]
    return "\n".join(lines)


def admin_nothing_to_redeliver(task_id: int) -> str:
    return gettext("Task #{id} has no result to send.").format(id=task_id)


def admin_redelivered(task_id: int, how: str) -> str:
    # TRANSLATORS: {how} is "video", "document" or "link".
    return gettext("📤 The result of task #{id} was sent again (as a {how}).").format(
        id=task_id, how=escape(_delivery_result(how))
    )


def admin_redeliver_failed(task_id: int, why: str) -> str:
    # TRANSLATORS: {why} is why, as a code name: "chat_unreachable", "retry", "result_gone" or
    # "no_link".
    return gettext("The result of task #{id} could not be sent again ({why}).").format(
        id=task_id, why=escape(_delivery_result(why))
    )


# --- broadcasts -----------------------------------------------------------------------------


def button_broadcast_cancel() -> str:
    return gettext("✖ Cancel")


def broadcast_cancelled() -> str:
    return gettext("Broadcast cancelled; nothing was sent.")


def toast_broadcast_sending() -> str:
    return gettext("Sending…")


def button_broadcast_send(audience: int) -> str:
    # TRANSLATORS: a button's label (keep it short): send the broadcast to {count} users.
    return ngettext("📣 Send to {count} user", "📣 Send to {count} users", audience).format(
        count=audience
    )


def broadcast_preview(text: str, audience: int) -> str:
    """`text` is the broadcast's HTML (the admin's text, their formatting kept as tags). Near
    Telegram's limit only its start fits in the preview, with the preview's own lines; the
    broadcast itself is sent whole."""
    if telegram_length(_shown(text)) > _QUOTED_SHOWN:
        # TRANSLATORS: above a broadcast's text, before the admin sends it; the text is too
        # long to be shown whole here.
        head = ngettext(
            "<b>Broadcast to {count} user</b> (not banned, not blocking the bot) "
            "(shortened here, sent in full):",
            "<b>Broadcast to {count} users</b> (not banned, not blocking the bot) "
            "(shortened here, sent in full):",
            audience,
        )
    else:
        # TRANSLATORS: above a broadcast's text, before the admin sends it.
        head = ngettext(
            "<b>Broadcast to {count} user</b> (not banned, not blocking the bot):",
            "<b>Broadcast to {count} users</b> (not banned, not blocking the bot):",
            audience,
        )
    quoted = _shorten_html(text, _QUOTED_SHOWN)
    return f"{head.format(count=audience)}\n\n{quoted}\n\n{_send_it()}"


def _send_it() -> str:
    # TRANSLATORS: below a broadcast's text, above the Send and Cancel buttons.
    return gettext("Send it?")


def broadcast_copy_preview(audience: int) -> str:
    """Under the copy of the admin's message the bot has just shown them (as users will see it),
    above the Send and Cancel buttons."""
    # TRANSLATORS: a reply to the copy of the admin's message that the bot has just shown them,
    # as every user will get it; each user gets a copy made from the admin's own message.
    head = ngettext(
        "<b>Broadcast the message above to {count} user</b> (not banned, not blocking the bot). "
        "Each user gets a copy of your own message: keep it until the broadcast is over.",
        "<b>Broadcast the message above to {count} users</b> (not banned, not blocking the bot). "
        "Each user gets a copy of your own message: keep it until the broadcast is over.",
        audience,
    )
    return f"{head.format(count=audience)}\n\n{_send_it()}"


def broadcast_not_copied(reason: str) -> str:
    """`reason` is Telegram's answer to copyMessage (English)."""
    # TRANSLATORS: the admin replied /broadcast to a message Telegram does not let bots copy;
    # {reason} is Telegram's own answer, in English. Commands (/broadcast) stay as they are.
    return gettext(
        "That message can't be broadcast: Telegram won't copy it ({reason}). Reply /broadcast "
        "to another message, or write /broadcast and the text."
    ).format(reason=escape(shorten(reason, REASON_SHOWN)))


def broadcast_progress(counts: dict[str, int], total: int, done: bool) -> str:
    handled = counts["sent"] + counts["blocked"] + counts["failed"]
    if done:
        head = gettext("📣 <b>Broadcast finished</b>")
    else:
        # TRANSLATORS: a broadcast under way: {handled} users done out of {total}.
        head = gettext("📣 Broadcasting… {handled} of {total}").format(handled=handled, total=total)
    # TRANSLATORS: how a broadcast went: users it was sent to, users who have blocked the
    # bot, and sends that failed.
    tally = gettext("Sent: {sent} · blocked the bot: {blocked} · failed: {failed}").format(
        sent=counts["sent"], blocked=counts["blocked"], failed=counts["failed"]
    )
    return f"{head}\n{tally}"
