"""The confirmation card: what it says and its buttons, the questions that lead to it, and what
pressing its buttons answers (the limits a Submit may meet among them)."""

from __future__ import annotations

from html import escape

from bot.domain import modes
from bot.texts.checks import caption_not_a_prompt
from bot.texts.formatting import PROMPT_SHOWN, TASKS_LISTED, format_duration, shorten, show_link
from bot.texts.i18n import N_, gettext, ngettext

__all__ = [
    "active_limit_reached",
    "ask_first_frame",
    "ask_for_prompt",
    "button_add_first_frame",
    "button_cancel",
    "button_remove_first_frame",
    "button_submit",
    "card_cancelled",
    "card_replaced",
    "chosen",
    "confirmation_card",
    "daily_limit_reached",
    "describe_mode",
    "draft_replaced_notice",
    "mode_family",
    "not_enough_credits",
    "prompt_wanted",
    "toast_already_submitted",
    "toast_cancelled",
    "toast_card_gone",
    "toast_first_frame_removed",
    "toast_not_now",
    "toast_submitted",
    "toast_waiting_for_first_frame",
    "translation_failed",
    "translation_limit_reached",
    "translation_too_long",
    "uploaded_image",
    "uploaded_video",
]

# A translated prompt and the user's words, both on one card: each a little less than a whole
# prompt, so that the two fit one message (all but the longest emoji prompts show whole).
TRANSLATED_PROMPT_SHOWN = 1200


def button_submit() -> str:
    # TRANSLATORS: the card's button that starts the edit; other sentences call it "Submit". A
    # button's label: at most 64 bytes in UTF-8, and short (it shares a row with Cancel).
    return gettext("✅ Submit")


def button_cancel() -> str:
    # TRANSLATORS: the button that drops a request (on the card, beside Submit); other sentences
    # call it "Cancel". A button's label: at most 64 bytes in UTF-8, and short.
    return gettext("✖ Cancel")


def button_add_first_frame() -> str:
    # TRANSLATORS: a button's label (at most 64 bytes in UTF-8): it asks for an image to guide
    # the edit as the video's first frame.
    return gettext("🖼 Add first frame")


def button_remove_first_frame() -> str:
    # TRANSLATORS: a button's label (at most 64 bytes in UTF-8): it drops that image again.
    return gettext("🖼 Remove first frame")


def chosen() -> str:
    # TRANSLATORS: put before the label of the chosen strength's buttons ("✓ Flex", "✓ 2"): a
    # mark, usually kept as it is.
    return gettext("✓ ")


def prompt_wanted() -> str:
    return gettext(
        "Got the video. Now send the prompt: in English, say how the video should change, "
        "for example “make it look like a watercolor painting”."
    )


# How the card and the task's details show an uploaded video (it has no link to show).
def uploaded_video() -> str:
    return gettext("the video you sent")


# How the card shows a first-frame image sent as a photo or a file (no link to show either).
def uploaded_image() -> str:
    return gettext("the image you sent")


# What each family of strengths (bot.domain.modes) does to the video, as the card says it.
_MODE_EFFECTS = {
    # TRANSLATORS: what the strength "Adhere" does to the video, as in "Adhere 1 (subtle)".
    "adhere": N_("subtle"),
    # TRANSLATORS: what the strength "Flex" does to the video, as in "Flex 2 (stylistic)".
    "flex": N_("stylistic"),
    # TRANSLATORS: what the strength "Reimagine" does, as in "Reimagine 3 (transformative)".
    "reimagine": N_("transformative"),
}


def mode_family(family: str) -> str:
    """A family of strengths as its button names it: `"flex"` -> `"Flex"` (the provider's names
    of its modes, which are not translated)."""
    return family.capitalize()


def describe_mode(mode: str) -> str:
    """`"flex_2"` -> `"Flex 2 (stylistic)"`."""
    family, level = modes.split(mode)
    # TRANSLATORS: a strength on the card, as "Flex 2 (stylistic)": {family} is its name as its
    # button says it (Adhere, Flex, Reimagine), {level} 1, 2 or 3, {effect} what it does.
    return gettext("{family} {level} ({effect})").format(
        family=mode_family(family), level=level, effect=gettext(_MODE_EFFECTS[family])
    )


def confirmation_card(
    video_url: str,
    prompt: str,
    mode: str | None,
    first_frame_url: str | None,
    *,
    original_prompt: str | None = None,
    note: str | None = None,
    replaced: bool = False,
) -> str:
    """The card before Submit; `original_prompt` is the user's words when `prompt` is their
    translation, `note` one of bot.texts' sentences (preflight_unchecked()), `replaced` says that
    it replaces an older card."""
    lines = [
        # TRANSLATORS: the heading of the card shown before a request is submitted.
        gettext("<b>Ready to start</b>"),
        # TRANSLATORS: {video} is the video's link, or "the video you sent".
        gettext("Video: {video}").format(video=show_link(video_url)),
    ]
    if original_prompt is None:
        # TRANSLATORS: {prompt} is the user's prompt, as they wrote it.
        shown = gettext("Prompt: <i>{prompt}</i>").format(
            prompt=escape(shorten(prompt, PROMPT_SHOWN))
        )
        lines.append(shown)
    else:
        lines += [
            # TRANSLATORS: {prompt} is the English translation of the user's prompt, which is
            # what the video service gets.
            gettext("Prompt, in English as it will be sent: <i>{prompt}</i>").format(
                prompt=escape(shorten(prompt, TRANSLATED_PROMPT_SHOWN))
            ),
            # TRANSLATORS: {prompt} is the user's prompt in their own words, before translation.
            gettext("Your words: <i>{prompt}</i>").format(
                prompt=escape(shorten(original_prompt, TRANSLATED_PROMPT_SHOWN))
            ),
        ]
    if mode:
        # TRANSLATORS: {mode} is a strength, as "Flex 2 (stylistic)".
        lines.append(gettext("Strength: {mode}").format(mode=describe_mode(mode)))
    if first_frame_url:
        # TRANSLATORS: {link} is the link to the image the user gave for the first frame, or
        # "the image you sent".
        lines.append(gettext("First frame: {link}").format(link=show_link(first_frame_url)))
    lines.append("")
    lines.append(
        # TRANSLATORS: "Submit" and "Cancel" are the card's buttons (✅ Submit, ✖ Cancel).
        gettext(
            "Press Submit to start the edit (it uses credits and takes a few minutes), "
            "or Cancel. To change the prompt, just send a new one."
        )
    )
    if mode:
        lines.append(
            # TRANSLATORS: Adhere, Flex and Reimagine are the names of the strengths on their
            # buttons, which are not translated: keep them as they are.
            gettext(
                "Adhere keeps close to your video, Flex allows a new style, Reimagine transforms "
                "it; 1–3 sets how far."
            )
        )
    return _with_remarks("\n".join(lines), note, replaced)


def translation_failed() -> str:
    return gettext(
        "I could not put your prompt into English just now: the translator did not answer. "
        "Please write the prompt in English, or send it again in a minute."
    )


def translation_too_long(limit: int) -> str:
    # TRANSLATORS: {limit} is the most characters the video service takes in a prompt (in
    # English).
    return gettext(
        "In English your prompt would be longer than the {limit} characters the video service "
        "takes. Please shorten it."
    ).format(limit=limit)


def translation_limit_reached() -> str:
    return gettext(
        "You have had many prompts translated in the last hour. Please write this one in "
        "English, or send it again a little later."
    )


def ask_for_prompt(
    *, problem: str | None = None, note: str | None = None, replaced: bool = False
) -> str:
    """Ask for the prompt of a link, or of an uploaded video whose caption could not be it
    (`problem`, one of bot.texts.checks' sentences); `note` and `replaced` as on the card."""
    text = f"{caption_not_a_prompt(problem)}\n{prompt_wanted()}" if problem else prompt_wanted()
    return _with_remarks(text, note, replaced)


def _with_remarks(text: str, note: str | None, replaced: bool) -> str:
    for remark in (note, draft_replaced_notice() if replaced else None):
        if remark:
            text = f"{text}\n\n<i>{remark}</i>"
    return text


def ask_first_frame() -> str:
    return gettext(
        "Send an image for the first frame (a photo, an image file, or a link to one): your "
        "video's first frame as it should look after the edit. It guides the whole edit. (To "
        "keep the card without a first frame, send a new prompt instead.)"
    )


def toast_first_frame_removed() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters).
    return gettext("First frame removed.")


def toast_waiting_for_first_frame() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters), after the
    # button that adds a first frame: the user should now send an image, or a link to one.
    return gettext("Send the image, or its link.")


def draft_replaced_notice() -> str:
    return gettext("This replaces your previous request, which will not be submitted.")


def card_replaced() -> str:
    return gettext("This request was replaced by a newer one and will not be submitted.")


def card_cancelled() -> str:
    return gettext("Cancelled. Nothing was sent to the provider.")


def toast_submitted() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters).
    return gettext("Submitted.")


def toast_cancelled() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters).
    return gettext("Cancelled.")


def toast_card_gone() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters).
    return gettext("This request is no longer open.")


def toast_not_now() -> str:
    # TRANSLATORS: a toast (a short notice over the chat, at most 200 characters), when Submit
    # meets a limit: the message below says which.
    return gettext("Not submitted now: see the message below.")


def toast_already_submitted(task_id: int) -> str:
    # TRANSLATORS: a toast (at most 200 characters); {task_id} is the task's number.
    return gettext("Already submitted as task #{task_id}.").format(task_id=task_id)


def active_limit_reached(limit: int, active_ids: list[int]) -> str:
    shown = [f"#{i}" for i in active_ids[:TASKS_LISTED]]
    running = ", ".join(shown + (["…"] if len(active_ids) > TASKS_LISTED else []))
    # TRANSLATORS: {tasks} lists the unfinished tasks' numbers ("#12, #13"); {limit} is how many
    # unfinished tasks a user may have at a time.
    return ngettext(
        "You already have {count} unfinished task ({tasks}); the limit is {limit} at a time. "
        "Submit this one when one of them is done — this request stays here until then.",
        "You already have {count} unfinished tasks ({tasks}); the limit is {limit} at a time. "
        "Submit this one when one of them is done — this request stays here until then.",
        len(active_ids),
    ).format(count=len(active_ids), tasks=running, limit=limit)


def not_enough_credits(balance: int) -> str:
    # TRANSLATORS: {count} is the user's balance of credits (bought with Telegram Stars).
    return ngettext(
        "You have {count} credit, not enough for this task. Buy credits with /buy; this "
        "request stays here until then.",
        "You have {count} credits, not enough for this task. Buy credits with /buy; this "
        "request stays here until then.",
        balance,
    ).format(count=balance)


def daily_limit_reached(limit: int, seconds_to_reset: float) -> str:
    # TRANSLATORS: {count} is the daily limit of tasks; {duration} the time left until 00:00 UTC
    # ("3 hr 20 min").
    return ngettext(
        "You have started {count} task today, the daily limit. You can start new ones after "
        "00:00 UTC, in {duration}. This request stays here until then.",
        "You have started {count} tasks today, the daily limit. You can start new ones after "
        "00:00 UTC, in {duration}. This request stays here until then.",
        limit,
    ).format(count=limit, duration=format_duration(seconds_to_reset))
