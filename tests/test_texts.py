"""Trimming text to Telegram's limits, which count UTF-16 code units (an emoji takes two)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import texts
from bot.domain.links import LinkRefusal
from bot.domain.records import Task, TaskState
from storage.models import column_names


def utf16_units(text: str) -> int:
    """Telegram's count, done the long way round (and refusing half a surrogate pair)."""
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize(
    ("text", "length"),
    [("", 0), ("abc", 3), ("é", 1), ("€", 1), ("🎨", 2), ("a🎨b", 4), ("👩‍👩‍👧", 8), ("𝕏", 2)],
)
def test_telegram_length_counts_utf16_code_units(text: str, length: int) -> None:
    assert texts.telegram_length(text) == length == utf16_units(text)


@pytest.mark.parametrize(
    ("text", "limit", "shortened"),
    [
        ("short", 5, "short"),
        ("a longer text", 8, "a longe…"),
        ("cut at a space here", 10, "cut at a…"),  # no space left before the ellipsis
        ("🎨🎨🎨", 6, "🎨🎨🎨"),  # exactly the limit: untouched
        ("🎨🎨🎨", 5, "🎨🎨…"),
        ("🎨🎨🎨", 4, "🎨…"),  # 🎨 + half of one + … would be 4, but halves are not cut
        ("a🎨", 2, "a…"),
        ("abc", 1, "…"),
        ("abc", 0, ""),
    ],
)
def test_shorten_counts_as_telegram_and_never_splits_a_character(
    text: str, limit: int, shortened: str
) -> None:
    assert texts.shorten(text, limit) == shortened


@pytest.mark.parametrize(
    ("text", "limit", "keep_end", "shortened"),
    [
        ("abcdefghij", 6, 2, "abc…ij"),
        ("abcdefghij", 10, 2, "abcdefghij"),
        ("abcdef", 3, 10, "…ef"),  # the end never takes the ellipsis's place
        ("ab🎨🎨", 4, 3, "a…🎨"),  # 🎨🎨 would be 4 units: one is kept whole, none split
    ],
)
def test_shorten_can_keep_the_end(text: str, limit: int, keep_end: int, shortened: str) -> None:
    assert texts.shorten(text, limit, keep_end=keep_end) == shortened


@given(st.text(), st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=60))
def test_shortened_text_always_fits_and_is_valid_utf16(
    text: str, limit: int, keep_end: int
) -> None:
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")  # no halves
    shortened = texts.shorten(text, limit, keep_end=keep_end)
    assert utf16_units(shortened) <= limit  # would raise on half a surrogate pair
    if utf16_units(text) <= limit:
        assert shortened == text
    elif limit > 0:
        head, *_, end = shortened.split("…")
        assert text.startswith(head)
        assert text.endswith(end)
        assert end == "" or keep_end > 0
    else:
        assert shortened == ""


def test_a_caption_of_many_emoji_fits_telegrams_limit() -> None:
    now = time.time()
    fields: dict[str, object] = dict.fromkeys(column_names(Task))
    fields.update(
        id=123456,
        user_id=1,
        chat_id=1,
        draft_id=1,
        provider="kie",
        video_url="https://v.example.com/e.mp4",
        prompt="make it red <&> " + "🎨" * 800,
        state=TaskState.DELIVERING,
        attempts=0,
        created_at=now,
    )
    task = Task(**fields)  # type: ignore[arg-type]
    caption = texts.result_caption(task)
    rendered = caption.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert texts.telegram_length(rendered) <= texts.CAPTION_LIMIT
    assert rendered.startswith("Task #123456: make it red <&> 🎨")
    assert rendered.endswith("🎨…")


def test_an_unhandled_errors_report_shows_the_error_and_the_end_of_its_traceback() -> None:
    trace = "Traceback (most recent call last):\n" + "x" * 5000 + '\nRuntimeError: "disk" & fire\n'
    report = texts.report_unhandled(42, "RuntimeError('<disk> & fire')", trace)
    assert report == (
        "🐞 Unhandled error (user <code>42</code>): "
        "<code>RuntimeError(&#x27;&lt;disk&gt; &amp; fire&#x27;)</code>\n"
        f"<pre>{'x' * 2971}\nRuntimeError: &quot;disk&quot; &amp; fire\n</pre>"
    )
    assert texts.report_unhandled(None, "E()", "t") == (
        "🐞 Unhandled error (user <code>None</code>): <code>E()</code>\n<pre>t</pre>"
    )


@pytest.mark.parametrize(
    ("refusal", "sentence"),
    [
        (LinkRefusal.NOT_VALID, "That link is not a valid web address."),
        (LinkRefusal.NOT_WEB, "That link is not a web (http or https) address I can use."),
        (
            LinkRefusal.BAD_PORT,
            "That link's port number is not valid (ports go from 1 to 65535).",
        ),
        (LinkRefusal.BAD_REDIRECT, "That link redirects to an address that is not valid."),
        (
            LinkRefusal.TOO_MANY_REDIRECTS,
            "That link redirects more than 3 times; send the video's own address.",
        ),
        (LinkRefusal.NO_DNS_ENTRY, "The address x.test does not exist (it has no DNS entry)."),
        (
            LinkRefusal.PRIVATE_NETWORK,
            "That link points into a private or local network, which I don't fetch from.",
        ),
    ],
)
def test_each_refused_link_is_explained_in_the_words_netguard_used(
    refusal: LinkRefusal, sentence: str
) -> None:
    """The sentences moved from bot/net/netguard.py to the texts word for word."""
    assert texts.link_blocked(refusal, host="x.test", max_redirects=3) == sentence


def test_counts_agree_with_their_noun_and_credits_group_thousands() -> None:
    assert texts.button_broadcast_send(1) == "📣 Send to 1 user"
    assert texts.button_broadcast_send(2) == "📣 Send to 2 users"
    assert texts.detail_expired(1) == "gave up sending the result after 1 attempt: it has expired"
    assert texts.admin_credits("KIE.ai", 12345.5) == "Credits at KIE.ai: 12,345.5"
    assert texts.admin_credits("KIE.ai", 1000.0) == "Credits at KIE.ai: 1,000"
    assert texts.admin_credits("KIE.ai", 0.005) == "Credits at KIE.ai: 0.01"  # as `:,.2f` rounds
    assert texts.admin_credits("KIE.ai", None) == "Credits at KIE.ai: unknown"


def test_raw_values_reach_the_admins_through_their_labels() -> None:
    assert texts.admin_redelivered(3, "video") == (
        "📤 The result of task #3 was sent again (as a video)."
    )
    assert texts.admin_redeliver_failed(3, "chat_unreachable") == (
        "The result of task #3 could not be sent again (chat_unreachable)."
    )
    assert texts.failure_name("generation_failed") == "generation_failed"
    assert texts.failure_name("<not a failure>") == "<not a failure>"
    assert texts.report_task_failed(3, 42, "timed_out", "no answer") == (
        "❌ Task #3 (user <code>42</code>) failed: <b>timed_out</b>\n<code>no answer</code>"
    )
