"""Reading a user's message: the video link, the prompt, and what is wrong with either."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot import texts

MAX_URL_LENGTH = 2048
# Share of a prompt's letters that must be Latin for it to pass as English.
MIN_LATIN_SHARE = 0.8

# Anything that looks like a link: `scheme://...`, or a scheme that needs no slashes.
# A link ends at whitespace or at a control character (NUL and the like are never part of an
# address, and PostgreSQL cannot store NUL in text: a fuzzed link with one failed its insert).
_LINK_CHAR = r"[^\s\x00-\x1f\x7f]"
_LINK_LIKE = re.compile(
    rf"(?<![\w@])(?:[a-z][a-z0-9+.\-]*://{_LINK_CHAR}*"
    rf"|(?:javascript|data|mailto|file|vbscript):{_LINK_CHAR}+)",
    re.IGNORECASE,
)
_TRAILING_PUNCTUATION = ".,;:!?'\"»”’>"
_HOST = re.compile(r"^(?:[\w\-]+\.)*[\w\-]+\.?$")


@dataclass(frozen=True, slots=True)
class ParsedText:
    """A text message split into its link and the rest (the prompt)."""

    url: str | None  # a usable http(s) link, or None
    link_problem: str | None  # why the link found is not usable (a sentence for the user)
    prompt: str  # the text without the link, whitespace folded; may be empty


def parse_text(text: str) -> ParsedText:
    matches = list(_LINK_LIKE.finditer(text))
    if not matches:
        return ParsedText(None, None, _fold(text))
    first = matches[0]
    link = _trim(first.group(0))
    # The prompt is what is left without the link and the punctuation stuck to its end.
    rest = text[: first.start()] + " " + text[first.end() :]
    if len(matches) > 1:
        return ParsedText(None, texts.more_than_one_link(), _fold(rest))
    return ParsedText(*_check_link(link), prompt=_fold(rest))


def _check_link(link: str) -> tuple[str | None, str | None]:
    scheme = link.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        return None, texts.not_http()
    if len(link) > MAX_URL_LENGTH:
        return None, texts.link_too_long()
    try:
        parts = urlsplit(link)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        return None, texts.link_without_host()
    if not host or not (_HOST.match(host) or _is_ipv6_literal(parts.netloc)):
        return None, texts.link_without_host()
    try:
        port = parts.port  # ValueError unless ASCII digits, at most 65535
    except ValueError:
        return None, texts.link_bad_port()
    if port == 0:
        return None, texts.link_bad_port()
    return link, None


def _is_ipv6_literal(netloc: str) -> bool:
    host = netloc.rpartition("@")[2]
    return host.startswith("[") and "]" in host


def _trim(link: str) -> str:
    """Drop punctuation that ends a sentence rather than the link: `(see https://x.io/a.mp4).`"""
    while link and link[-1] in _TRAILING_PUNCTUATION + ")":
        if link[-1] == ")" and link.count("(") >= link.count(")"):
            break
        link = link[:-1]
    return link


def _fold(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def prompt_problem(prompt: str, max_chars: int) -> str | None:
    """Why the prompt cannot be sent as it is, or None when it can."""
    problem = prompt_form_problem(prompt, max_chars)
    if problem is None and not looks_english(prompt):
        return texts.prompt_not_english()
    return problem


def prompt_form_problem(prompt: str, max_chars: int) -> str | None:
    """Why the prompt cannot be used in any language (empty, too long, no words), or None."""
    if not prompt:
        return texts.prompt_empty()
    if len(prompt) > max_chars:
        return texts.prompt_too_long(len(prompt), max_chars)
    if not any(c.isalpha() for c in prompt):
        return texts.prompt_no_words()
    return None


def looks_english(prompt: str) -> bool:
    """Whether the prompt's letters are (mostly) Latin: other scripts are not English. A
    language written in Latin letters passes: telling those apart needs a language model."""
    letters = [c for c in prompt if c.isalpha()]
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    return bool(letters) and latin / len(letters) >= MIN_LATIN_SHARE
