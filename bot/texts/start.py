"""What a user reads outside a request: /start and /help, the command menu, the answers to
messages the bot has no use for, the gate's refusals, and the apology when something breaks."""

from __future__ import annotations

from html import escape

from bot.domain.capabilities import Capabilities
from bot.texts.checks import video_formats
from bot.texts.formatting import NAME_SHOWN, shorten
from bot.texts.i18n import gettext

__all__ = [
    "COMMANDS",
    "access_asked",
    "access_denied",
    "access_granted",
    "access_waiting",
    "banned",
    "groups_not_supported",
    "help_text",
    "sandbox_notice",
    "unexpected_error",
    "unknown_command",
    "unsupported_message",
    "welcome",
]

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "What this bot does"),
    ("help", "How to use it, and the limits"),
    ("tasks", "Your recent tasks"),
    ("status", "One task in detail: /status 12"),
)


def sandbox_notice() -> str:
    return gettext(
        "⚠️ <b>Sandbox mode</b>: this bot is being tried out. It edits videos on its own "
        "machine with simple effects that words in your prompt pick (black and white, warm, "
        "cool, vintage, brighten, darken, contrast, blur, sharpen, slow motion, speed up), not "
        "with the AI model.\n\n"
    )


def welcome(first_name: str, capabilities: Capabilities) -> str:
    return (
        f"Hi {escape(shorten(first_name, NAME_SHOWN))}! I edit short videos with AI "
        f"(Luma Modify Video via {escape(capabilities.display_name)}).\n\n"
        + (sandbox_notice() if capabilities.offline else "")
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
        f"• A public http(s) link to a video: {video_formats(capabilities)}, at most "
        f"{capabilities.max_duration_seconds:g} s long and {capabilities.max_size_mb} MB.\n"
        f"• A prompt in English, at most {capabilities.max_prompt_chars} characters.\n\n"
        "<b>Commands</b>\n"
        + "\n".join(f"/{name} – {escape(description)}" for name, description in COMMANDS)
    )


def unknown_command() -> str:
    return gettext("I don't know that command. /help lists the ones I have.")


def groups_not_supported() -> str:
    return gettext("I work in private chats only: please write to me directly.")


def unsupported_message() -> str:
    return gettext(
        "I can't use that kind of message. Send a public link to a video, with a prompt in English."
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
