"""Reading links and prompts out of user messages."""

from __future__ import annotations

import pytest

from bot import texts
from bot.parsing import parse_text, prompt_problem


@pytest.mark.parametrize(
    ("text", "url", "prompt"),
    [
        ("https://example.com/a.mp4 make it red", "https://example.com/a.mp4", "make it red"),
        ("make it red https://example.com/a.mp4", "https://example.com/a.mp4", "make it red"),
        ("make it red: https://example.com/a.mp4.", "https://example.com/a.mp4", "make it red:"),
        ("see (https://x.io/a_(b).mp4)", "https://x.io/a_(b).mp4", "see ("),
        ("HTTP://EXAMPLE.COM/V.MP4 p", "HTTP://EXAMPLE.COM/V.MP4", "p"),
        ("http://[2001:db8::1]:8080/v.mp4 p", "http://[2001:db8::1]:8080/v.mp4", "p"),
        ("https://example.com/v.mp4", "https://example.com/v.mp4", ""),
        ("https://example.com:65535/v.mp4 p", "https://example.com:65535/v.mp4", "p"),
        ("  make\n it   red  ", None, "make it red"),
        ("Note: make it red", None, "Note: make it red"),
        ("https://example.com/v.mp4\x00x red", "https://example.com/v.mp4", "x red"),
        ("https://example.com/v.mp4\x1b[0m red", "https://example.com/v.mp4", "[0m red"),
    ],
)
def test_link_and_prompt_are_split(text: str, url: str | None, prompt: str) -> None:
    parsed = parse_text(text)
    assert parsed.link_problem is None
    assert parsed.url == url
    assert parsed.prompt == prompt


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ftp://example.com/a.mp4 red", texts.not_http()),
        ("file:///etc/passwd red", texts.not_http()),
        ("javascript:alert(1) red", texts.not_http()),
        ("http:// red", texts.link_without_host()),
        ("https:///video.mp4 red", texts.link_without_host()),
        ("https://exa<mple.com/v.mp4 red", texts.link_without_host()),
        ("https://example.com:99999/v.mp4 red", texts.link_bad_port()),
        ("https://example.com:0/v.mp4 red", texts.link_bad_port()),
        ("https://example.com:-1/v.mp4 red", texts.link_bad_port()),
        ("https://example.com:8o/v.mp4 red", texts.link_bad_port()),
        ("https://example.com:٨٠/v.mp4 red", texts.link_bad_port()),
        ("https://[::1:8080/v.mp4 red", texts.link_without_host()),
        ("https://example.com/" + "a" * 2100 + " red", texts.link_too_long()),
        ("https://a.com/1.mp4 https://b.com/2.mp4 red", texts.more_than_one_link()),
    ],
)
def test_unusable_links_are_explained(text: str, problem: str) -> None:
    parsed = parse_text(text)
    assert parsed.url is None
    assert parsed.link_problem == problem


@pytest.mark.parametrize(
    ("prompt", "problem"),
    [
        ("", texts.prompt_empty()),
        ("a" * 801, texts.prompt_too_long(801, 800)),
        ("!!! ???", texts.prompt_no_words()),
        ("сделай как акварель", texts.prompt_not_english()),
        ("水彩画のようにして", texts.prompt_not_english()),
        ("make it look like a watercolor painting", None),
        ("a" * 800, None),
        ("café au lait colours, warm", None),
        ("make it look like Tokyo at night (東京)", None),
    ],
)
def test_prompt_checks(prompt: str, problem: str | None) -> None:
    assert prompt_problem(prompt, 800) == problem


def test_a_link_with_bidi_controls_is_taken_as_sent() -> None:
    """Not refused: a bidi control (U+202E reverses what follows it) is no harm in the address
    itself, which is stored and sent to the provider as the user wrote it. Only showing it raw
    would be (it can make a link look like another): every message shows such characters
    percent-encoded (bot.texts.show_link; tests/test_text_limits.py)."""
    link = "https://example.com/clip\u202egpj.mp4"
    parsed = parse_text(f"{link} make it red")
    assert (parsed.url, parsed.link_problem, parsed.prompt) == (link, None, "make it red")
    assert "\u202e" not in texts.confirmation_card(link, parsed.prompt, None, link)
