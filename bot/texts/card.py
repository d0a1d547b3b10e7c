"""The confirmation card: what it says and its buttons, the questions that lead to it, and what
pressing its buttons answers (the limits a Submit may meet among them)."""

from __future__ import annotations

from html import escape

from bot.domain import modes
from bot.texts.checks import caption_not_a_prompt
from bot.texts.formatting import PROMPT_SHOWN, TASKS_LISTED, format_duration, shorten, show_link
from bot.texts.i18n import gettext

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
    "prompt_wanted",
    "toast_already_submitted",
    "toast_cancelled",
    "toast_card_gone",
    "toast_first_frame_removed",
    "toast_not_now",
    "toast_submitted",
    "toast_waiting_for_first_frame",
    "uploaded_video",
]


def button_submit() -> str:
    return gettext("✅ Submit")


def button_cancel() -> str:
    return gettext("✖ Cancel")


def button_add_first_frame() -> str:
    return gettext("🖼 Add first frame")


def button_remove_first_frame() -> str:
    return gettext("🖼 Remove first frame")


def chosen() -> str:
    return gettext("✓ ")


def prompt_wanted() -> str:
    return gettext(
        "Got the link. Now send the prompt: in English, say how the video should change, "
        "for example “make it look like a watercolor painting”."
    )


# How the card and the task's details show an uploaded video (it has no link to show).
def uploaded_video() -> str:
    return gettext("the video you sent")


# What each family of strengths (bot.domain.modes) does to the video, as the card says it.
_MODE_EFFECTS = {"adhere": "subtle", "flex": "stylistic", "reimagine": "transformative"}


def mode_family(family: str) -> str:
    """A family of strengths as its button names it: `"flex"` -> `"Flex"`."""
    return family.capitalize()


def describe_mode(mode: str) -> str:
    """`"flex_2"` -> `"Flex 2 (stylistic)"`."""
    family, level = modes.split(mode)
    return f"{mode_family(family)} {level} ({_MODE_EFFECTS[family]})"


def confirmation_card(
    video_url: str,
    prompt: str,
    mode: str | None,
    first_frame_url: str | None,
    *,
    note: str | None = None,
    replaced: bool = False,
) -> str:
    """The card before Submit; `note` is one of bot.texts' sentences (preflight_unchecked()),
    `replaced` says that it replaces an older card."""
    lines = [
        "<b>Ready to start</b>",
        f"Video: {show_link(video_url)}",
        f"Prompt: <i>{escape(shorten(prompt, PROMPT_SHOWN))}</i>",
    ]
    if mode:
        lines.append(f"Strength: {describe_mode(mode)}")
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
        "Send a link to an image for the first frame: your video's first frame as it should look "
        "after the edit. It guides the whole edit. (Send a new prompt instead to keep the card "
        "without one.)"
    )


def toast_first_frame_removed() -> str:
    return gettext("First frame removed.")


def toast_waiting_for_first_frame() -> str:
    return gettext("Send the image link.")


def draft_replaced_notice() -> str:
    return gettext("This replaces your previous request, which will not be submitted.")


def card_replaced() -> str:
    return gettext("This request was replaced by a newer one and will not be submitted.")


def card_cancelled() -> str:
    return gettext("Cancelled. Nothing was sent to the provider.")


def toast_submitted() -> str:
    return gettext("Submitted.")


def toast_cancelled() -> str:
    return gettext("Cancelled.")


def toast_card_gone() -> str:
    return gettext("This request is no longer open.")


def toast_not_now() -> str:
    return gettext("Not submitted now: see the message below.")


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
