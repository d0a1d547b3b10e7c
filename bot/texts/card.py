"""The confirmation card: what it says and its buttons, the questions that lead to it, and what
pressing its buttons answers (the limits a Submit may meet among them)."""

from __future__ import annotations

from html import escape

from bot.domain import modes
from bot.texts.checks import caption_not_a_prompt
from bot.texts.formatting import PROMPT_SHOWN, TASKS_LISTED, format_duration, shorten, show_link

__all__ = [
    "ASK_FIRST_FRAME",
    "ASK_FOR_PROMPT",
    "BUTTON_ADD_FIRST_FRAME",
    "BUTTON_CANCEL",
    "BUTTON_REMOVE_FIRST_FRAME",
    "BUTTON_SUBMIT",
    "CARD_CANCELLED",
    "CARD_REPLACED",
    "CHOSEN",
    "DRAFT_REPLACED_NOTICE",
    "TOAST_CANCELLED",
    "TOAST_CARD_GONE",
    "TOAST_FIRST_FRAME_REMOVED",
    "TOAST_NOT_NOW",
    "TOAST_SUBMITTED",
    "TOAST_WAITING_FOR_FIRST_FRAME",
    "UPLOADED_VIDEO",
    "active_limit_reached",
    "ask_for_prompt",
    "confirmation_card",
    "daily_limit_reached",
    "describe_mode",
    "mode_family",
    "toast_already_submitted",
]

BUTTON_SUBMIT = "✅ Submit"
BUTTON_CANCEL = "✖ Cancel"
BUTTON_ADD_FIRST_FRAME = "🖼 Add first frame"
BUTTON_REMOVE_FIRST_FRAME = "🖼 Remove first frame"
CHOSEN = "✓ "  # before the label of the strength chosen on the card

ASK_FOR_PROMPT = (
    "Got the link. Now send the prompt: in English, say how the video should change, "
    "for example “make it look like a watercolor painting”."
)
# How the card and the task's details show an uploaded video (it has no link to show).
UPLOADED_VIDEO = "the video you sent"


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
    """The card before Submit; `note` is one of bot.texts' sentences (PREFLIGHT_UNCHECKED),
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
