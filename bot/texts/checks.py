"""What is wrong with a link, an uploaded file or a prompt: each refusal is one sentence for the
user, said before anything is spent (bot.parsing, bot.services.preflight, the uploads)."""

from __future__ import annotations

from html import escape

from bot.domain.capabilities import Capabilities
from bot.domain.links import LinkRefusal
from bot.texts.formatting import NAME_SHOWN, REASON_SHOWN, shorten, show_link
from bot.texts.i18n import gettext

__all__ = [
    "caption_not_a_prompt",
    "format_not_taken",
    "link_bad_port",
    "link_blocked",
    "link_not_found",
    "link_not_public",
    "link_refused",
    "link_too_long",
    "link_unreachable",
    "link_without_host",
    "more_than_one_link",
    "no_link",
    "not_a_video",
    "not_http",
    "preflight_unchecked",
    "prompt_empty",
    "prompt_no_words",
    "prompt_not_english",
    "prompt_too_long",
    "upload_failed",
    "upload_gone",
    "upload_not_a_video",
    "upload_not_a_video_file",
    "upload_reason_larger",
    "upload_reason_network",
    "upload_reason_refused",
    "upload_reason_slow",
    "upload_storage_full",
    "upload_too_big_for_telegram",
    "upload_too_slow_to_read",
    "uploads_need_webhook",
    "video_formats",
    "video_too_big",
    "video_too_long",
]


def video_formats(capabilities: Capabilities) -> str:
    """The containers the provider takes, as a list for a sentence: `MP4, MOV or WEBM`."""
    names = [f.upper() for f in capabilities.formats]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


# --- a link and a prompt ------------------------------------------------------------------


def no_link() -> str:
    return gettext(
        "I need a link to the video. Send a public link that starts with https:// (or http://), "
        "with your prompt in the same message or the next one."
    )


def not_http() -> str:
    return gettext(
        "Only http:// and https:// links work: the provider fetches the video from the web. "
        "Please send a web link to the video."
    )


def link_without_host() -> str:
    return gettext(
        "That link looks broken: I can't find a host name in it. "
        "Send the full address, like https://example.com/clip.mp4."
    )


def more_than_one_link() -> str:
    return gettext("Please send one video link at a time, with its prompt.")


def link_bad_port() -> str:
    return gettext(
        "That link has a port number that cannot be right (the number after the host's colon must "
        "be from 1 to 65535). Please check the link, or send it without the port."
    )


def link_too_long() -> str:
    return gettext("That link is too long (over 2,000 characters). Please send a shorter link.")


def prompt_empty() -> str:
    return gettext("The prompt is empty. In English, say how the video should change.")


def prompt_no_words() -> str:
    return gettext(
        "The prompt needs words: in English, say how the video should change, "
        "for example “turn day into night”."
    )


def prompt_not_english() -> str:
    return gettext(
        "The provider understands only English prompts. Please write the prompt in English."
    )


# --- a video sent as a file ---------------------------------------------------------------


def uploads_need_webhook() -> str:
    return gettext(
        "I can't take video files in this setup: the video service needs a public link to fetch "
        "the video from, and this bot has no public address. Please upload the video somewhere "
        "public and send me the link."
    )


def upload_storage_full() -> str:
    return gettext(
        "The bot's storage for uploaded videos is full right now. Please send a link to the video "
        "instead, or try again later."
    )


def upload_gone() -> str:
    return gettext(
        "The video you sent for this request has been deleted since (uploads are kept for a day): "
        "please send it again."
    )


def upload_not_a_video_file() -> str:
    return gettext("That file is not a video. Please send an MP4 or MOV video, or a link.")


# Why a file could not be had from Telegram (said inside upload_failed).
def upload_reason_refused() -> str:
    return gettext("Telegram would not give it")


def upload_reason_larger() -> str:
    return gettext("the file is larger than Telegram said")


def upload_reason_slow() -> str:
    return gettext("it took too long")


def upload_reason_network() -> str:
    return gettext("the connection to Telegram failed")


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


# --- what the video at a link (or an uploaded file) turned out to be ----------------------


def preflight_unchecked() -> str:
    return gettext(
        "I couldn't check this video in advance (its server would not let me look). If the video "
        "service can't use it, the task fails without a result."
    )


def upload_not_a_video() -> str:
    return gettext("I can't read a video in that file: please send an MP4 or MOV video.")


def upload_too_slow_to_read() -> str:
    return gettext(
        "I couldn't read that video quickly enough to check it. Please try again in a minute, or "
        "send it as an MP4 or MOV video."
    )


_LINK_REFUSALS = {
    LinkRefusal.NOT_VALID: "That link is not a valid web address.",
    LinkRefusal.NOT_WEB: "That link is not a web (http or https) address I can use.",
    LinkRefusal.BAD_PORT: "That link's port number is not valid (ports go from 1 to 65535).",
    LinkRefusal.BAD_REDIRECT: "That link redirects to an address that is not valid.",
    LinkRefusal.PRIVATE_NETWORK: (
        "That link points into a private or local network, which I don't fetch from."
    ),
}


def link_blocked(refusal: LinkRefusal, host: str = "", max_redirects: int = 0) -> str:
    """Why a link cannot be fetched safely (bot.net.netguard's BlockedLinkError)."""
    if refusal == LinkRefusal.NO_DNS_ENTRY:
        return f"The address {show_link(host)} does not exist (it has no DNS entry)."
    if refusal == LinkRefusal.TOO_MANY_REDIRECTS:
        return f"That link redirects more than {max_redirects} times; send the video's own address."
    return _LINK_REFUSALS[refusal]


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
        f"{video_formats(capabilities)}."
    )


def video_too_big(size_mb: float, limit_mb: int) -> str:
    return f"This video is {size_mb:.0f} MB; the limit is {limit_mb} MB."


def video_too_long(seconds: float, limit: float) -> str:
    return f"This video is {seconds:.1f} s long; the limit is {limit:g} s."


def prompt_too_long(length: int, limit: int) -> str:
    return f"Your prompt has {length} characters; the limit is {limit}. Please shorten it."
