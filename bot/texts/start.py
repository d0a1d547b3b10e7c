"""What a user reads outside a request: /start and /help, the command menu, the answers to
messages the bot has no use for, the gate's refusals, and the apology when something breaks."""

from __future__ import annotations

from html import escape

from bot.domain.capabilities import Capabilities
from bot.texts.checks import video_formats
from bot.texts.formatting import NAME_SHOWN, format_number, shorten
from bot.texts.i18n import N_, gettext, ngettext

__all__ = [
    "access_asked",
    "access_denied",
    "access_granted",
    "access_waiting",
    "banned",
    "bot_description",
    "bot_short_description",
    "commands",
    "database_unavailable",
    "groups_not_supported",
    "help_text",
    "sandbox_notice",
    "unexpected_error",
    "unknown_command",
    "unsupported_message",
    "welcome",
]

# Everyone's commands, by name (names are not translated), with what each does.
_COMMANDS: tuple[tuple[str, str], ...] = (
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters).
    ("start", N_("What this bot does")),
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters).
    ("help", N_("How to use it, and the limits")),
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters).
    ("tasks", N_("Your recent tasks")),
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters);
    # "/status 12" is the command as typed: keep it.
    ("status", N_("One task in detail: /status 12")),
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters).
    ("language", N_("Choose the language I speak")),
)


# With PAYMENTS=stars, also these (Telegram requires /paysupport of a bot that takes payments).
_PAYMENT_COMMANDS: tuple[tuple[str, str], ...] = (
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters).
    ("buy", N_("Buy credits with Telegram Stars")),
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters).
    ("paysupport", N_("Help with a payment")),
    # TRANSLATORS: a command's description in Telegram's command menu (at most 256 characters).
    ("terms", N_("Terms of payment")),
)


def commands(*, payments: bool = False) -> tuple[tuple[str, str], ...]:
    """Everyone's command menu and /help's list: each command's name, and what it does in the
    language in force; `payments`: PAYMENTS=stars."""
    listed = (*_COMMANDS, *_PAYMENT_COMMANDS) if payments else _COMMANDS
    return tuple((name, gettext(description)) for name, description in listed)


def bot_description(capabilities: Capabilities) -> str:
    """Telegram's "What can this bot do?": what it does, and its limits."""
    # TRANSLATORS: the bot's description, shown in an empty chat before /start (at most 512
    # characters with the next sentence). "Luma Modify Video" is the AI model's name: keep it.
    what = gettext(
        "I edit short videos with AI (Luma Modify Video). Send me a video or a link to one, "
        "and say in a few words how it should change: “make it look like a watercolor "
        "painting”. I send the new video back here when it is ready, usually within minutes."
    )
    # TRANSLATORS: {seconds} is the longest video in seconds ("s" its unit), {megabytes} the
    # largest in megabytes.
    limits = gettext("Videos up to {seconds} s and {megabytes} MB; prompts in English.").format(
        seconds=format_number(capabilities.max_duration_seconds, decimals=1),
        megabytes=capabilities.max_size_mb,
    )
    return f"{what} {limits}"


def bot_short_description() -> str:
    # TRANSLATORS: the bot's short description, on its profile and in shared links (at most 120
    # characters).
    return gettext("AI video editing: send a video and say how it should change.")


def sandbox_notice() -> str:
    return gettext(
        "⚠️ <b>Sandbox mode</b>: this bot is being tried out. It edits videos on its own "
        "machine with simple effects that words in your prompt pick (black and white, warm, "
        "cool, vintage, brighten, darken, contrast, blur, sharpen, slow motion, speed up), not "
        "with the AI model.\n\n"
    )


def welcome(first_name: str, capabilities: Capabilities) -> str:
    # TRANSLATORS: {name} is the user's first name; {provider} the service that edits the videos
    # (e.g. "KIE.ai"). "Luma Modify Video" is the AI model's name: keep it.
    greeting = gettext(
        "Hi {name}! I edit short videos with AI (Luma Modify Video via {provider})."
    ).format(
        name=escape(shorten(first_name, NAME_SHOWN)),
        provider=escape(capabilities.display_name),
    )
    # TRANSLATORS: the example prompt stays in English (the AI model understands English only);
    # "Submit" is the name of the card's button (✅ Submit).
    how = gettext(
        "Send me a link to a video and, in the same message or the next one, say in English how "
        "it should change, for example:\n"
        "<code>https://example.com/clip.mp4 make it look like a watercolor painting</code>\n\n"
        "I show you what I will send; nothing is spent until you press Submit. The edit takes "
        "a few minutes, and I send the new video here when it is ready."
    )
    sandbox = sandbox_notice() if capabilities.offline else ""
    more = gettext("/help says which videos I take, the limits, and my commands.")
    return f"{greeting}\n\n{sandbox}{how}\n\n{more}"


def help_text(capabilities: Capabilities, *, payments: bool = False) -> str:
    # TRANSLATORS: a heading of /help, before what a request needs.
    needs = gettext("<b>What I need</b>")
    # TRANSLATORS: {formats} lists the video formats (e.g. "MP4, MOV or WEBM"); {seconds} is
    # the longest video in seconds ("s" its unit), {megabytes} the largest in megabytes.
    link = gettext(
        "• A public http(s) link to a video: {formats}, at most {seconds} s long and "
        "{megabytes} MB."
    ).format(
        formats=video_formats(capabilities),
        seconds=format_number(capabilities.max_duration_seconds, decimals=1),
        megabytes=capabilities.max_size_mb,
    )
    prompt = ngettext(
        "• A prompt in English, at most {count} character.",
        "• A prompt in English, at most {count} characters.",
        capabilities.max_prompt_chars,
    ).format(count=capabilities.max_prompt_chars)
    # TRANSLATORS: a heading of /help, before the list of commands.
    heading = gettext("<b>Commands</b>")
    listed = "\n".join(
        f"/{name} – {escape(description)}" for name, description in commands(payments=payments)
    )
    return f"{needs}\n{link}\n{prompt}\n\n{heading}\n{listed}"


def unknown_command() -> str:
    return gettext("I don't know that command. /help lists the ones I have.")


def groups_not_supported() -> str:
    return gettext("I work in private chats only: please write to me directly.")


def unsupported_message() -> str:
    return gettext(
        "I can't use that kind of message. Send a public link to a video, with a prompt in English."
    )


def database_unavailable() -> str:
    return gettext(
        "Sorry, I cannot reach my database right now, so nothing was done. "
        "Please try again in a minute."
    )


def unexpected_error() -> str:
    return gettext(
        "Sorry, something went wrong on my side. The operator has been told. "
        "Please try again in a moment."
    )


# The gate's refusals (handlers/gate.py); access_granted() comes with an admin's decision.
def banned() -> str:
    return gettext("Sorry, you can't use this bot.")


def access_asked() -> str:
    return gettext(
        "This bot is private. I've asked its operators to let you in, and I'll tell you here when "
        "they have decided."
    )


def access_waiting() -> str:
    return gettext("Your request to use this bot is waiting for the operators' decision.")


def access_denied() -> str:
    return gettext("Sorry, the operators of this bot have not given you access.")


def access_granted() -> str:
    return gettext("You can use this bot now. Send /start to see how.")
