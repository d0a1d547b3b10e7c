"""What every text is built with: Telegram's limits, how much of a value is shown, durations,
lengths as Telegram counts them, and shortening. No sentences here (a duration's units aside,
which are Babel's, in the language in force)."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit

from bot.texts import i18n

__all__ = [
    "BUTTON_LABEL_BYTES",
    "CAPTION_LIMIT",
    "DETAIL_SHOWN",
    "HREF_LIMIT",
    "LINK_SHOWN",
    "MESSAGE_LIMIT",
    "NAME_SHOWN",
    "PROMPT_SHOWN",
    "REASON_SHOWN",
    "SAFE_MESSAGE_LENGTH",
    "TASKS_LISTED",
    "TOAST_LIMIT",
    "format_duration",
    "format_number",
    "shorten",
    "show_link",
    "telegram_length",
]

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
# of bot.texts with the longest inputs. Only the display is shortened; what is stored and what
# is sent to the provider stays whole.
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


def format_number(value: float, *, decimals: int = 0) -> str:
    """A number the language's way, with up to `decimals` decimals: 12.5 -> "12.5", "12,5"."""
    pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=i18n.locale())


def format_duration(seconds: float) -> str:
    """The largest two units, in the language in force (Babel's short units): in English
    `42 sec`, `3 min 20 sec`, `2 hr 5 min`, `3 days 4 hr`; a second unit of zero is left out
    (`3 min`). Seconds under a minute, minutes under an hour, hours under 48 h, days beyond."""
    total = max(0, round(seconds))
    if total < 60:
        return _in_units((total, "second"))
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return _in_units((minutes, "minute"), (secs, "second"))
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _in_units((hours, "hour"), (minutes, "minute"))
    days, hours = divmod(hours, 24)
    return _in_units((days, "day"), (hours, "hour"))


def _in_units(largest: tuple[int, str], *smaller: tuple[int, str]) -> str:
    """`(3, "minute"), (20, "second")` -> `3 min 20 sec` (a smaller unit of zero left out),
    joined as the language joins units."""
    where = i18n.locale()
    parts = [
        format_unit(value, f"duration-{unit}", length="short", locale=where)
        for value, unit in (largest, *(part for part in smaller if part[0]))
    ]
    return format_list(parts, style="unit-narrow", locale=where)


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
