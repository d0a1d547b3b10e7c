"""What the admins read when they act: the answers to their commands (/stats, /user, /ban, /task,
/maintenance, ...), the access requests they decide, and broadcasts."""

from __future__ import annotations

from html import escape, unescape

from bot.domain.records import Task, TaskState, User
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
from bot.texts.i18n import gettext
from bot.texts.tasks import state_label, task_line

__all__ = [
    "ADMIN_COMMANDS",
    "ADMIN_LIMIT_USAGE",
    "ADMIN_USAGE",
    "admin_access_decided",
    "admin_access_request",
    "admin_access_unchanged",
    "admin_banned",
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
    "admin_user",
    "admin_was_not_banned",
    "broadcast_cancelled",
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
    """`shorten` for HTML that is escaped plain text (a broadcast, a maintenance message): cut as
    the text it shows, so that the cut never falls inside an `&amp;`."""
    return escape(shorten(unescape(html), limit))


# --- access (allowlist mode) --------------------------------------------------------------


def button_approve() -> str:
    return gettext("✅ Approve")


def button_deny() -> str:
    return gettext("✖ Deny")


# Who decided, in admin_access_decided, when Telegram does not say which admin it was.
def admin_unnamed() -> str:
    return gettext("an admin")


def _who(user: User) -> str:
    name = escape(shorten(user.first_name or "?", NAME_SHOWN))
    handle = f" @{escape(shorten(user.username, NAME_SHOWN))}" if user.username else ""
    return f"{name}{handle} (<code>{user.id}</code>)"


def admin_access_request(user: User) -> str:
    return f"🔑 {_who(user)} asks to use the bot."


def admin_access_unchanged(user: User) -> str:
    state = user.access or "not asked"
    return f"🔑 {_who(user)} is already {state}: nothing changed."


def admin_access_decided(user: User, allowed: bool, by: str) -> str:
    verdict = "allowed" if allowed else "denied"
    return f"🔑 {_who(user)}: {verdict} by {escape(shorten(by, NAME_SHOWN))}."


# --- commands for admins --------------------------------------------------------------------

ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("stats", "Users, tasks, queue and credits"),
    ("user", "A user's profile: /user 12345 or /user @name"),
    ("ban", "Ban a user: /ban 12345 [reason]"),
    ("unban", "Lift a ban: /unban 12345"),
    ("limit", "A user's daily limit: /limit 12345 20 (or default)"),
    ("task", "Any task in full: /task 12"),
    ("redeliver", "Send a task's result again: /redeliver 12"),
    ("maintenance", "/maintenance on [message] or /maintenance off"),
    ("broadcast", "Message every user: /broadcast text"),
    ("allow", "Let a user in (allowlist mode): /allow 12345"),
    ("deny", "Keep a user out (allowlist mode): /deny 12345"),
)
ADMIN_USAGE: dict[str, str] = {
    "user": "Usage: /user 12345 or /user @username",
    "ban": "Usage: /ban 12345 [reason]",
    "unban": "Usage: /unban 12345",
    "limit": "Usage: /limit 12345 20, or /limit 12345 default",
    "task": "Usage: /task 12",
    "redeliver": "Usage: /redeliver 12",
    "maintenance": "Usage: /maintenance on [message shown to users], or /maintenance off",
    "broadcast": "Usage: /broadcast the text to send to every user",
    "allow": "Usage: /allow 12345 or /allow @username",
    "deny": "Usage: /deny 12345 or /deny @username",
}
ADMIN_LIMIT_USAGE = ADMIN_USAGE["limit"]


def maintenance_default() -> str:
    return gettext(
        "The bot is down for maintenance and takes no new tasks right now. "
        "Please try again a little later."
    )


def admin_maintenance_off() -> str:
    return gettext("🟢 Maintenance is off: new tasks are taken again.")


def admin_maintenance_on(message: str) -> str:
    """`message` is HTML: escaped plain text (what users are told)."""
    return (
        "🛠 Maintenance is on: new tasks are refused (tasks already running go on). "
        f"Users are told:\n<i>{_shorten_escaped(message, _QUOTED_SHOWN)}</i>"
    )


def admin_no_such_user(who: str) -> str:
    return (
        f"I don't know a user {escape(shorten(who, NAME_SHOWN))} "
        "(users appear once they have written to me)."
    )


def admin_no_such_task(task_id: int) -> str:
    return f"There is no task #{task_id}."


def admin_banned(user: User, reason: str | None) -> str:
    because = f" ({escape(shorten(reason, REASON_SHOWN))})" if reason else ""
    return f"🚫 {_who(user)} is banned{because}. Their running tasks still finish and are sent."


def admin_was_not_banned(user: User) -> str:
    return f"{_who(user)} was not banned."


def admin_unbanned(user: User) -> str:
    return f"✅ {_who(user)} is no longer banned."


def admin_limit_set(user: User, limit: int) -> str:
    return f"{_who(user)} may now start {limit} tasks a day."


def _percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def admin_stats(
    *,
    users: tuple[int, int, int],
    by_state: list[dict[TaskState, int]],
    processing_times: list[float],
    queued: int,
    at_provider: int,
    max_at_provider: int,
    credits: str,
) -> str:
    lines = [
        "<b>Statistics</b>",
        f"Users: {users[0]} in all · {users[1]} active in 24 h · {users[2]} in 7 d",
        "Tasks (24 h / 7 d / all):",
    ]
    for state in TaskState:
        counts = [period.get(state, 0) for period in by_state]
        if counts[2]:
            lines.append(f"  {state_label(state)}: {counts[0]} / {counts[1]} / {counts[2]}")
    if not any(by_state[2].values()):
        lines.append("  none yet")
    for label, period in (("7 d", by_state[1]), ("all", by_state[2])):
        done = period.get(TaskState.DELIVERED, 0)
        ended = done + sum(
            period.get(s, 0) for s in (TaskState.FAILED, TaskState.UNKNOWN, TaskState.UNDELIVERABLE)
        )
        if ended:
            lines.append(f"Success rate ({label}): {100 * done / ended:.0f} % of {ended} ended")
    if processing_times:
        lines.append(
            f"Processing time (7 d): median {format_duration(_percentile(processing_times, 0.5))}"
            f" · 90 % within {format_duration(_percentile(processing_times, 0.9))}"
        )
    lines.append(
        f"Queue: {queued} waiting · {at_provider} at the provider (at most {max_at_provider})"
    )
    lines.append(credits)
    return "\n".join(lines)


def admin_credits(provider: str, balance: float | None) -> str:
    shown = f"{balance:,.2f}".rstrip("0").rstrip(".") if balance is not None else "unknown"
    return f"Credits at {escape(provider)}: {shown}"


def admin_credits_not_reported(provider: str) -> str:
    return f"Credits: {escape(provider)} does not report them."


def admin_credits_unavailable(provider: str, detail: str) -> str:
    return (
        f"Credits at {escape(provider)}: could not be read "
        f"({escape(shorten(detail, REASON_SHOWN))})"
    )


def admin_user(
    user: User, *, now: float, daily_limit: int, own_limit: bool, active: int, recent: list[Task]
) -> str:
    lines = [
        f"<b>{_who(user)}</b>",
        f"First seen {format_duration(now - user.first_seen_at)} ago · "
        f"last seen {format_duration(now - user.last_seen_at)} ago",
    ]
    if user.access:
        lines.append(f"Access (allowlist): {user.access}")
    if user.banned_at is not None:
        reason = f": {escape(shorten(user.ban_reason, REASON_SHOWN))}" if user.ban_reason else ""
        lines.append(f"🚫 Banned {format_duration(now - user.banned_at)} ago{reason}")
    if user.blocked_bot_at is not None:
        lines.append("Has blocked the bot.")
    lines.append(
        f"Daily limit: {daily_limit} ({'own' if own_limit else 'default'}) · "
        f"unfinished tasks: {active}"
    )
    lines.extend(task_line(task, now) for task in recent[:TASKS_LISTED])
    return "\n".join(lines)


def admin_task(task: Task, now: float) -> str:
    def when(moment: float | None) -> str:
        return f"{format_duration(now - moment)} ago" if moment else "—"

    fields = [
        ("State", state_label(task.state)),
        ("User", f"<code>{task.user_id}</code>"),
        (
            "Provider",
            f"{escape(task.provider)} · job "
            f"<code>{escape(shorten(task.provider_task_id or '—', NAME_SHOWN))}</code>",
        ),
        ("Video", show_link(task.video_url)),
        ("Prompt", f"<i>{escape(shorten(task.prompt, PROMPT_SHOWN))}</i>"),
        ("Strength", describe_mode(task.mode) if task.mode else "—"),
        ("First frame", show_link(task.first_frame_url) if task.first_frame_url else "—"),
        ("Created", when(task.created_at)),
        ("Submitted", when(task.submitted_at)),
        ("Finished", when(task.finished_at)),
        (
            "Delivered",
            f"{when(task.delivered_at)} as {task.delivered_as}" if task.delivered_at else "—",
        ),
        ("Result", show_link(task.result_url, href=True) if task.result_url else "—"),
        ("Failure", escape(task.failure or "—")),
        ("Detail", f"<code>{escape(shorten(task.error_detail or '—', DETAIL_SHOWN))}</code>"),
        ("Failed attempts in a row", str(task.attempts)),
    ]
    return f"<b>Task #{task.id}</b>\n" + "\n".join(f"{name}: {value}" for name, value in fields)


def admin_nothing_to_redeliver(task_id: int) -> str:
    return f"Task #{task_id} has no result to send."


def admin_redelivered(task_id: int, how: str) -> str:
    return f"📤 The result of task #{task_id} was sent again (as a {how})."


def admin_redeliver_failed(task_id: int, why: str) -> str:
    return f"The result of task #{task_id} could not be sent again ({escape(why)})."


# --- broadcasts -----------------------------------------------------------------------------


def button_broadcast_cancel() -> str:
    return gettext("✖ Cancel")


def broadcast_cancelled() -> str:
    return gettext("Broadcast cancelled; nothing was sent.")


def toast_broadcast_sending() -> str:
    return gettext("Sending…")


def button_broadcast_send(audience: int) -> str:
    return f"📣 Send to {audience} users"


def broadcast_preview(text: str, audience: int) -> str:
    """`text` is the broadcast's HTML (escaped plain text). Near Telegram's limit only its start
    fits in the preview, with the preview's own lines; the broadcast itself is sent whole."""
    cut = telegram_length(unescape(text)) > _QUOTED_SHOWN
    return (
        f"<b>Broadcast to {audience} users</b> (not banned, not blocking the bot)"
        f"{' (shortened here, sent in full)' if cut else ''}:\n\n"
        f"{_shorten_escaped(text, _QUOTED_SHOWN)}\n\nSend it?"
    )


def broadcast_progress(counts: dict[str, int], total: int, done: bool) -> str:
    handled = counts["sent"] + counts["blocked"] + counts["failed"]
    head = "📣 <b>Broadcast finished</b>" if done else f"📣 Broadcasting… {handled} of {total}"
    return (
        f"{head}\nSent: {counts['sent']} · blocked the bot: {counts['blocked']} · "
        f"failed: {counts['failed']}"
    )
