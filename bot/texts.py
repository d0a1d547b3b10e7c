"""Every sentence the bot says, in one place. Messages are HTML; user text is escaped here."""

from __future__ import annotations

from html import escape, unescape
from urllib.parse import quote

from bot.domain import modes
from bot.domain.capabilities import Capabilities
from bot.domain.failures import Failure
from bot.domain.records import Task, TaskState, User

# Telegram's limits, counted as telegram_length() counts (UTF-16 code units), after the HTML
# markup is parsed away: a caption, a message, and the text of a callback query's answer (toast).
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
TOAST_LIMIT = 200
# Reports to the admins are kept a little below MESSAGE_LIMIT.
SAFE_MESSAGE_LENGTH = 4000
# The Bot API documents no limit for a button's label: this one is the bot's own (the bytes
# Telegram allows a button's callback data), so that a label fits a phone's button.
BUTTON_LABEL_BYTES = 64

# How much of a value the bot does not choose itself a message shows, in UTF-16 code units.
# These budgets are what makes every message fit its limit whatever it is given (names, links,
# prompts and provider answers of any length): tests/test_text_limits.py checks every builder
# below with the longest inputs. Only the display is shortened; what is stored and what is sent
# to the provider stays whole.
NAME_SHOWN = 64  # a name or username (Telegram allows 64 characters in a first name)
LINK_SHOWN = 300  # a link: a longer one is shown as its start and its end
PROMPT_SHOWN = 1600  # a whole prompt: the providers' 800 characters, even all emoji
REASON_SHOWN = 300  # a sentence from elsewhere: a provider's message, a ban reason, an error
DETAIL_SHOWN = 1000  # the technical detail of a task's failure, for the admins
TASKS_LISTED = 25  # tasks listed in one message
# Longest link given in full as the target of a shortened one (<a href>). The href does not
# count towards MESSAGE_LIMIT, but towards Telegram's undocumented limit on the total size of a
# message's entities (about 9,500); 2,048 is also the longest link the bot takes from users.
HREF_LIMIT = 2048

BUTTON_SUBMIT = "✅ Submit"
BUTTON_CANCEL = "✖ Cancel"
BUTTON_ADD_FIRST_FRAME = "🖼 Add first frame"
BUTTON_REMOVE_FIRST_FRAME = "🖼 Remove first frame"
CHOSEN = "✓ "

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "What this bot does"),
    ("help", "How to use it, and the limits"),
    ("tasks", "Your recent tasks"),
    ("status", "One task in detail: /status 12"),
)


def format_duration(seconds: float) -> str:
    """`42 s`, `3 min 20 s`, `2 h 05 min`, `3 d 4 h`."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def telegram_length(text: str) -> int:
    """The length of `text` as Telegram counts it for its limits: in UTF-16 code units, in which
    a character beyond the Basic Multilingual Plane (most emoji) takes two."""
    return len(text) + sum(1 for c in text if c > "\uffff")


def shorten(text: str, limit: int, *, keep_end: int = 0) -> str:
    """Cut `text` to at most `limit` UTF-16 code units (as Telegram counts), marking the cut with
    an ellipsis: at the end, or before the last `keep_end` units, which are kept (a link's file
    name). Cuts fall between characters, so never inside a surrogate pair.

    The one place where the bot trims text to fit Telegram's limits."""
    if telegram_length(text) <= limit:
        return text
    if limit < 1:
        return ""
    end = _start_within(text[::-1], min(keep_end, limit - 1))[::-1]
    return _start_within(text, limit - 1 - telegram_length(end)).rstrip() + "…" + end


def _start_within(text: str, units: int) -> str:
    """The longest start of `text` that takes at most `units` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if char > "\uffff" else 1
        if used > units:
            return text[:index]
    return text


# A message quoted whole in another (a broadcast in its preview), with room for the other's lines.
_QUOTED_SHOWN = MESSAGE_LIMIT - 200


def _shorten_escaped(html: str, limit: int) -> str:
    """`shorten` for HTML that is escaped plain text (a broadcast, a maintenance message): cut as
    the text it shows, so that the cut never falls inside an `&amp;`."""
    return escape(shorten(unescape(html), limit))


def show_link(url: str, limit: int = LINK_SHOWN, *, href: bool = False) -> str:
    """HTML showing a link (or a host name) in at most `limit` UTF-16 code units of text.

    Characters that are not printable (bidi controls such as U+202E, zero-width ones) are shown
    percent-encoded: raw, they can make a link look like another (U+202E shows `…/gpj.exe` as
    `…/exe.jpg`). Percent-encoded is how they travel in a request anyway, so the link shown is
    still the same address.

    A longer link is shown as its start (scheme, host, the path's beginning) and its end (the
    file name) around an ellipsis. That is not an address, so it is set in <code>, where Telegram
    makes no link of it (one would open the part before the ellipsis); with `href`, for a link
    the reader must be able to open (a result), it is a link to the whole address instead, up to
    HREF_LIMIT."""
    shown = "".join(c if c.isprintable() else quote(c, safe="") for c in url)
    short = shorten(shown, limit, keep_end=limit // 3)
    if short == shown:
        return escape(shown)
    if href and telegram_length(shown) <= HREF_LIMIT:
        return f'<a href="{escape(shown)}">{escape(short)}</a>'
    return f"<code>{escape(short)}</code>"


def _formats(capabilities: Capabilities) -> str:
    names = [f.upper() for f in capabilities.formats]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


# --- /start and /help -----------------------------------------------------------------------


SANDBOX_NOTICE = (
    "⚠️ <b>Sandbox mode</b>: this bot is being tried out. It edits videos on its own machine "
    "with simple effects that words in your prompt pick (black and white, warm, cool, vintage, "
    "brighten, darken, contrast, blur, sharpen, slow motion, speed up), not with the AI model.\n\n"
)


def welcome(first_name: str, capabilities: Capabilities) -> str:
    return (
        f"Hi {escape(shorten(first_name, NAME_SHOWN))}! I edit short videos with AI "
        f"(Luma Modify Video via {escape(capabilities.display_name)}).\n\n"
        + (SANDBOX_NOTICE if capabilities.offline else "")
        + "Send me a link to a video and, in the same message or the next one, say in English how "
        "it should change, for example:\n"
        "<code>https://example.com/clip.mp4 make it look like a watercolor painting</code>\n\n"
        "I show you what I will send; nothing is spent until you press Submit. The edit takes "
        "a few minutes, and I send the new video here when it is ready.\n\n"
        + help_text(capabilities)
    )


def help_text(capabilities: Capabilities) -> str:
    return (
        "<b>What I need</b>\n"
        f"• A public http(s) link to a video: {_formats(capabilities)}, at most "
        f"{capabilities.max_duration_seconds:g} s long and {capabilities.max_size_mb} MB.\n"
        f"• A prompt in English, at most {capabilities.max_prompt_chars} characters.\n\n"
        "<b>Commands</b>\n"
        + "\n".join(f"/{name} – {escape(description)}" for name, description in COMMANDS)
    )


# --- composing a request --------------------------------------------------------------------

NO_LINK = (
    "I need a link to the video. Send a public link that starts with https:// (or http://), "
    "with your prompt in the same message or the next one."
)
NOT_HTTP = (
    "Only http:// and https:// links work: the provider fetches the video from the web. "
    "Please send a web link to the video."
)
LINK_WITHOUT_HOST = (
    "That link looks broken: I can't find a host name in it. "
    "Send the full address, like https://example.com/clip.mp4."
)
MORE_THAN_ONE_LINK = "Please send one video link at a time, with its prompt."
LINK_BAD_PORT = (
    "That link has a port number that cannot be right (the number after the host's colon must "
    "be from 1 to 65535). Please check the link, or send it without the port."
)
LINK_TOO_LONG = "That link is too long (over 2,000 characters). Please send a shorter link."
ASK_FOR_PROMPT = (
    "Got the link. Now send the prompt: in English, say how the video should change, "
    "for example “make it look like a watercolor painting”."
)
PROMPT_EMPTY = "The prompt is empty. In English, say how the video should change."
PROMPT_NO_WORDS = (
    "The prompt needs words: in English, say how the video should change, "
    "for example “turn day into night”."
)
PROMPT_NOT_ENGLISH = (
    "The provider understands only English prompts. Please write the prompt in English."
)
UNSUPPORTED_MESSAGE = (
    "I can't use that kind of message. Send a public link to a video, with a prompt in English."
)
UPLOADS_NEED_WEBHOOK = (
    "I can't take video files in this setup: the video service needs a public link to fetch "
    "the video from, and this bot has no public address. Please upload the video somewhere "
    "public and send me the link."
)
UPLOAD_STORAGE_FULL = (
    "The bot's storage for uploaded videos is full right now. Please send a link to the video "
    "instead, or try again later."
)
UPLOADED_VIDEO = "the video you sent"
UPLOAD_GONE = (
    "The video you sent for this request has been deleted since (uploads are kept for a day): "
    "please send it again."
)
UPLOAD_NOT_A_VIDEO_FILE = "That file is not a video. Please send an MP4 or MOV video, or a link."


# Why a file could not be had from Telegram (said inside upload_failed).
UPLOAD_REASON_REFUSED = "Telegram would not give it"
UPLOAD_REASON_LARGER = "the file is larger than Telegram said"
UPLOAD_REASON_SLOW = "it took too long"
UPLOAD_REASON_NETWORK = "the connection to Telegram failed"


def upload_failed(reason: str) -> str:
    return (
        f"I couldn't get the file from Telegram ({escape(shorten(reason, REASON_SHOWN))}). "
        "Please send it again."
    )


def upload_too_big_for_telegram(size_mb: float, limit_mb: int) -> str:
    return (
        f"This file is {size_mb:.0f} MB; Telegram lets bots download at most {limit_mb} MB. "
        "Please send a link to the video instead."
    )


def caption_not_a_prompt(problem: str) -> str:
    return f"I've got the video, but its caption can't be the prompt: {problem}"


UNKNOWN_COMMAND = "I don't know that command. /help lists the ones I have."
GROUPS_NOT_SUPPORTED = "I work in private chats only: please write to me directly."


PREFLIGHT_UNCHECKED = (
    "I couldn't check this video in advance (its server would not let me look). If the video "
    "service can't use it, the task fails without a result."
)
UPLOAD_NOT_A_VIDEO = "I can't read a video in that file: please send an MP4 or MOV video."
UPLOAD_TOO_SLOW_TO_READ = (
    "I couldn't read that video quickly enough to check it. Please try again in a minute, or "
    "send it as an MP4 or MOV video."
)


def link_unreachable(host: str) -> str:
    return f"I couldn't reach {show_link(host)}. Check that the link is right and public."


def link_not_found(status: int) -> str:
    return (
        f"That link answered {status} (not found): there is no video at that address any more, "
        "or it is not public."
    )


def link_not_public(status: int) -> str:
    return (
        f"That link answered {status}: it needs a login or permission, and the video service "
        "can only fetch public links."
    )


def link_refused(status: int) -> str:
    return f"That link answered {status} instead of the video. Please check it."


def not_a_video(content_type: str) -> str:
    return (
        f"That link leads to {escape(shorten(content_type, REASON_SHOWN))}, not to a video "
        "file: send a link to the video itself, such as one ending in .mp4."
    )


def format_not_taken(found: str, capabilities: Capabilities) -> str:
    return (
        f"This video is a {escape(shorten(found.upper(), NAME_SHOWN))} file; "
        f"{escape(capabilities.display_name)} takes "
        f"{_formats(capabilities)}."
    )


def video_too_big(size_mb: float, limit_mb: int) -> str:
    return f"This video is {size_mb:.0f} MB; the limit is {limit_mb} MB."


def video_too_long(seconds: float, limit: float) -> str:
    return f"This video is {seconds:.1f} s long; the limit is {limit:g} s."


def prompt_too_long(length: int, limit: int) -> str:
    return f"Your prompt has {length} characters; the limit is {limit}. Please shorten it."


def confirmation_card(
    video_url: str,
    prompt: str,
    mode: str | None,
    first_frame_url: str | None,
    *,
    note: str | None = None,
    replaced: bool = False,
) -> str:
    """The card before Submit; `note` is one of this module's sentences (PREFLIGHT_UNCHECKED),
    `replaced` says that it replaces an older card."""
    lines = [
        "<b>Ready to start</b>",
        f"Video: {show_link(video_url)}",
        f"Prompt: <i>{escape(shorten(prompt, PROMPT_SHOWN))}</i>",
    ]
    if mode:
        lines.append(f"Strength: {modes.describe(mode)}")
    if first_frame_url:
        lines.append(f"First frame: {show_link(first_frame_url)}")
    lines.append(
        "\nPress Submit to start the edit (it uses credits and takes a few minutes), "
        "or Cancel. To change the prompt, just send a new one."
    )
    if mode:
        lines.append(
            "Adhere keeps close to your video, Flex allows a new style, Reimagine transforms it; "
            "1–3 sets how far."
        )
    return _with_remarks("\n".join(lines), note, replaced)


def ask_for_prompt(
    *, problem: str | None = None, note: str | None = None, replaced: bool = False
) -> str:
    """Ask for the prompt of a link, or of an uploaded video whose caption could not be it
    (`problem`, one of this module's sentences); `note` and `replaced` as on the card."""
    text = f"{caption_not_a_prompt(problem)}\n{ASK_FOR_PROMPT}" if problem else ASK_FOR_PROMPT
    return _with_remarks(text, note, replaced)


def _with_remarks(text: str, note: str | None, replaced: bool) -> str:
    for remark in (note, DRAFT_REPLACED_NOTICE if replaced else None):
        if remark:
            text = f"{text}\n\n<i>{remark}</i>"
    return text


ASK_FIRST_FRAME = (
    "Send a link to an image for the first frame: your video's first frame as it should look "
    "after the edit. It guides the whole edit. (Send a new prompt instead to keep the card "
    "without one.)"
)
TOAST_FIRST_FRAME_REMOVED = "First frame removed."
TOAST_WAITING_FOR_FIRST_FRAME = "Send the image link."


DRAFT_REPLACED_NOTICE = "This replaces your previous request, which will not be submitted."
CARD_REPLACED = "This request was replaced by a newer one and will not be submitted."
CARD_CANCELLED = "Cancelled. Nothing was sent to the provider."

TOAST_SUBMITTED = "Submitted."
TOAST_CANCELLED = "Cancelled."
TOAST_CARD_GONE = "This request is no longer open."
TOAST_NOT_NOW = "Not submitted now: see the message below."


def toast_already_submitted(task_id: int) -> str:
    return f"Already submitted as task #{task_id}."


def active_limit_reached(limit: int, active_ids: list[int]) -> str:
    shown = [f"#{i}" for i in active_ids[:TASKS_LISTED]]
    running = ", ".join(shown + (["…"] if len(active_ids) > TASKS_LISTED else []))
    tasks_word = "task" if limit == 1 else "tasks"
    return (
        f"You already have {len(active_ids)} unfinished {tasks_word} ({running}); "
        f"the limit is {limit} at a time. Submit this one when one of them is done — "
        "this request stays here until then."
    )


def daily_limit_reached(limit: int, seconds_to_reset: float) -> str:
    return (
        f"You have started {limit} tasks today, the daily limit. You can start new ones after "
        f"00:00 UTC, in {format_duration(seconds_to_reset)}. This request stays here until then."
    )


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


UPLOAD_FAILED = "Telegram would not take the video file"
RESULT_TOO_SLOW = "The video service did not send me the video in good time"


def too_big_to_upload(size_mb: float | None, limit_mb: int) -> str:
    size = f"is {size_mb:.0f} MB" if size_mb is not None else "is larger than that"
    return f"The video {size}, more than the {limit_mb} MB Telegram lets me upload"


# A result's link is what its message is for: shown in full (Telegram makes it a link) unless
# it could not fit, which no provider's link comes near.
RESULT_LINK_SHOWN = MESSAGE_LIMIT - 600


def result_as_link(task: Task, reason: str, retention_hours: float) -> str:
    """`reason` is one of this module's sentences (UPLOAD_FAILED, RESULT_TOO_SLOW,
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

NO_TASKS = "You have no tasks yet. Send a video link and a prompt to start one."
STATUS_USAGE = "Which task? Send its number, like /status 12 (see /tasks)."


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
        f"Video: {UPLOADED_VIDEO if task.media_token else show_link(task.video_url)}",
        f"Started {format_duration(now - task.created_at)} ago.",
    ]
    if task.state == TaskState.DELIVERED and task.delivered_as == "link" and task.result_url:
        lines.append(f"Result: {show_link(task.result_url, href=True)}")
    return "\n".join(lines)


# --- errors ---------------------------------------------------------------------------------

UNEXPECTED_ERROR = (
    "Sorry, something went wrong on my side. The operator has been told. "
    "Please try again in a moment."
)


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


# --- access ---------------------------------------------------------------------------------

BANNED = "Sorry, you can't use this bot."
ACCESS_ASKED = (
    "This bot is private. I've asked its operators to let you in, and I'll tell you here when "
    "they have decided."
)
ACCESS_WAITING = "Your request to use this bot is waiting for the operators' decision."
ACCESS_DENIED = "Sorry, the operators of this bot have not given you access."
ACCESS_GRANTED = "You can use this bot now. Send /start to see how."
BUTTON_APPROVE = "✅ Approve"
BUTTON_DENY = "✖ Deny"


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
MAINTENANCE_DEFAULT = (
    "The bot is down for maintenance and takes no new tasks right now. "
    "Please try again a little later."
)
ADMIN_MAINTENANCE_OFF = "🟢 Maintenance is off: new tasks are taken again."


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
        ("Strength", modes.describe(task.mode) if task.mode else "—"),
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

BUTTON_BROADCAST_CANCEL = "✖ Cancel"
BROADCAST_CANCELLED = "Broadcast cancelled; nothing was sent."


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
