"""What a user reads outside a request: /start and /help, the command menu, the answers to
messages the bot has no use for, the gate's refusals, and the apology when something breaks."""

from __future__ import annotations

from html import escape

from bot.domain.capabilities import Capabilities
from bot.texts.checks import video_formats
from bot.texts.formatting import NAME_SHOWN, shorten

__all__ = [
    "ACCESS_ASKED",
    "ACCESS_DENIED",
    "ACCESS_GRANTED",
    "ACCESS_WAITING",
    "BANNED",
    "COMMANDS",
    "GROUPS_NOT_SUPPORTED",
    "SANDBOX_NOTICE",
    "UNEXPECTED_ERROR",
    "UNKNOWN_COMMAND",
    "UNSUPPORTED_MESSAGE",
    "help_text",
    "welcome",
]

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "What this bot does"),
    ("help", "How to use it, and the limits"),
    ("tasks", "Your recent tasks"),
    ("status", "One task in detail: /status 12"),
)


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
        f"• A public http(s) link to a video: {video_formats(capabilities)}, at most "
        f"{capabilities.max_duration_seconds:g} s long and {capabilities.max_size_mb} MB.\n"
        f"• A prompt in English, at most {capabilities.max_prompt_chars} characters.\n\n"
        "<b>Commands</b>\n"
        + "\n".join(f"/{name} – {escape(description)}" for name, description in COMMANDS)
    )


UNKNOWN_COMMAND = "I don't know that command. /help lists the ones I have."
GROUPS_NOT_SUPPORTED = "I work in private chats only: please write to me directly."
UNSUPPORTED_MESSAGE = (
    "I can't use that kind of message. Send a public link to a video, with a prompt in English."
)

UNEXPECTED_ERROR = (
    "Sorry, something went wrong on my side. The operator has been told. "
    "Please try again in a moment."
)


# The gate's refusals (handlers/gate.py); ACCESS_GRANTED comes with an admin's decision.
BANNED = "Sorry, you can't use this bot."
ACCESS_ASKED = (
    "This bot is private. I've asked its operators to let you in, and I'll tell you here when "
    "they have decided."
)
ACCESS_WAITING = "Your request to use this bot is waiting for the operators' decision."
ACCESS_DENIED = "Sorry, the operators of this bot have not given you access."
ACCESS_GRANTED = "You can use this bot now. Send /start to see how."
