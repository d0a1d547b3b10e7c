"""What is wrong with a link, an uploaded file or a prompt: each refusal is one sentence for the
user, said before anything is spent (bot.parsing, bot.services.preflight, the uploads)."""

from __future__ import annotations

from html import escape

from bot.domain.capabilities import Capabilities
from bot.domain.links import LinkRefusal
from bot.texts.formatting import NAME_SHOWN, REASON_SHOWN, format_number, shorten, show_link
from bot.texts.i18n import N_, gettext, ngettext

__all__ = [
    "caption_not_a_prompt",
    "first_frame_files_not_taken",
    "first_frame_not_an_image",
    "first_frame_not_hosted",
    "first_frame_storage_full",
    "first_frame_too_big",
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
    "upload_not_hosted",
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
    *names, last = [f.upper() for f in capabilities.formats]
    if not names:
        return last
    # TRANSLATORS: the end of a list of video formats: {formats} is the others, separated by
    # commas ("MP4, MOV"), {last} the last one ("WEBM").
    return gettext("{formats} or {last}").format(formats=", ".join(names), last=last)


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
    # TRANSLATORS: PUBLIC_URL and KIE_UPLOAD_URL are settings' names: keep them.
    return gettext(
        "I can't take video files in this setup: please send me a public link to the video "
        "instead. (For the bot's operator: set PUBLIC_URL, or KIE_UPLOAD_URL with KIE.ai or "
        "Apikley, to take files.)"
    )


def upload_not_hosted() -> str:
    return gettext(
        "I couldn't pass your video on to the video service just now: its file storage did not "
        "take it. Nothing was charged. Please send it again in a minute, or send a link to it."
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
    # TRANSLATORS: {reason} is one of the reasons above ("it took too long").
    return gettext(
        "I couldn't get the file from Telegram ({reason}). Please send it again."
    ).format(reason=escape(shorten(reason, REASON_SHOWN)))


def upload_too_big_for_telegram(size_mb: float, limit_mb: int) -> str:
    # TRANSLATORS: {size} and {limit} are numbers of megabytes.
    return gettext(
        "This file is {size} MB; Telegram lets bots download at most {limit} MB. "
        "Please send a link to the video instead."
    ).format(size=format_number(size_mb), limit=limit_mb)


def caption_not_a_prompt(problem: str) -> str:
    # TRANSLATORS: {problem} is a sentence saying what is wrong with the prompt ("The prompt is
    # empty. …").
    return gettext("I've got the video, but its caption can't be the prompt: {problem}").format(
        problem=problem
    )


# --- a first-frame image sent as a photo or a file --------------------------------------


def first_frame_files_not_taken() -> str:
    # TRANSLATORS: PUBLIC_URL is a setting's name: keep it.
    return gettext(
        "I can't take image files in this setup, so please send a public link to the image "
        "instead (for the bot's operator: set PUBLIC_URL to take files)."
    )


def first_frame_not_an_image() -> str:
    return gettext(
        "That file is not an image I can use for the first frame: please send a JPEG, PNG or "
        "WebP image, as a photo or a file, or a link to one."
    )


def first_frame_too_big(size_mb: float, limit_mb: int) -> str:
    # TRANSLATORS: {size} and {limit} are numbers of megabytes.
    return gettext(
        "This image is {size} MB, and a first frame can be at most {limit} MB: please send a "
        "smaller one, or a link to it."
    ).format(size=format_number(size_mb), limit=limit_mb)


def first_frame_storage_full() -> str:
    return gettext(
        "The bot's storage for uploaded files is full right now, so please send a link to the "
        "image instead, or try again later."
    )


def first_frame_not_hosted() -> str:
    return gettext(
        "I couldn't pass your image on to the video service just now (its file storage did not "
        "take it), so please send it again in a minute, or send a link to it."
    )


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
    LinkRefusal.NOT_VALID: N_("That link is not a valid web address."),
    LinkRefusal.NOT_WEB: N_("That link is not a web (http or https) address I can use."),
    LinkRefusal.BAD_PORT: N_("That link's port number is not valid (ports go from 1 to 65535)."),
    LinkRefusal.BAD_REDIRECT: N_("That link redirects to an address that is not valid."),
    LinkRefusal.PRIVATE_NETWORK: N_(
        "That link points into a private or local network, which I don't fetch from."
    ),
}


def link_blocked(refusal: LinkRefusal, host: str = "", max_redirects: int = 0) -> str:
    """Why a link cannot be fetched safely (bot.net.netguard's BlockedLinkError)."""
    if refusal == LinkRefusal.NO_DNS_ENTRY:
        # TRANSLATORS: {host} is a host name, such as example.com.
        return gettext("The address {host} does not exist (it has no DNS entry).").format(
            host=show_link(host)
        )
    if refusal == LinkRefusal.TOO_MANY_REDIRECTS:
        return ngettext(
            "That link redirects more than {count} time; send the video's own address.",
            "That link redirects more than {count} times; send the video's own address.",
            max_redirects,
        ).format(count=max_redirects)
    return gettext(_LINK_REFUSALS[refusal])


def link_unreachable(host: str) -> str:
    # TRANSLATORS: {host} is a host name, such as example.com.
    return gettext("I couldn't reach {host}. Check that the link is right and public.").format(
        host=show_link(host)
    )


def link_not_found(status: int) -> str:
    # TRANSLATORS: {status} is the HTTP status code the link answered with (404).
    return gettext(
        "That link answered {status} (not found): there is no video at that address any more, "
        "or it is not public."
    ).format(status=status)


def link_not_public(status: int) -> str:
    # TRANSLATORS: {status} is the HTTP status code the link answered with (401 or 403).
    return gettext(
        "That link answered {status}: it needs a login or permission, and the video service "
        "can only fetch public links."
    ).format(status=status)


def link_refused(status: int) -> str:
    # TRANSLATORS: {status} is the HTTP status code the link answered with (such as 500).
    return gettext("That link answered {status} instead of the video. Please check it.").format(
        status=status
    )


def not_a_video(content_type: str) -> str:
    # TRANSLATORS: {content_type} is the type of file the server says it sends (text/html).
    return gettext(
        "That link leads to {content_type}, not to a video file: send a link to the video "
        "itself, such as one ending in .mp4."
    ).format(content_type=escape(shorten(content_type, REASON_SHOWN)))


def format_not_taken(found: str, capabilities: Capabilities) -> str:
    # TRANSLATORS: {format} is the video's format (AVI); {provider} the service that edits the
    # videos (KIE.ai); {formats} lists the formats it takes ("MP4, MOV or WEBM").
    return gettext("This video is a {format} file; {provider} takes {formats}.").format(
        format=escape(shorten(found.upper(), NAME_SHOWN)),
        provider=escape(capabilities.display_name),
        formats=video_formats(capabilities),
    )


def video_too_big(size_mb: float, limit_mb: int) -> str:
    # TRANSLATORS: {size} and {limit} are numbers of megabytes.
    return gettext("This video is {size} MB; the limit is {limit} MB.").format(
        size=format_number(size_mb), limit=limit_mb
    )


def video_too_long(seconds: float, limit: float) -> str:
    # TRANSLATORS: {seconds} and {limit} are numbers of seconds ("s" their unit).
    return gettext("This video is {seconds} s long; the limit is {limit} s.").format(
        seconds=format_number(seconds, decimals=1), limit=format_number(limit, decimals=1)
    )


def prompt_too_long(length: int, limit: int) -> str:
    # TRANSLATORS: {limit} is the most characters a prompt may have.
    return ngettext(
        "Your prompt has {count} character; the limit is {limit}. Please shorten it.",
        "Your prompt has {count} characters; the limit is {limit}. Please shorten it.",
        length,
    ).format(count=length, limit=limit)
