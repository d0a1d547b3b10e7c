"""What a message looks like in Telegram: HTML markup parsed into plain text and entities as
Telegram stores them (refusing the markup Telegram refuses), lengths in UTF-16 code units as
Telegram counts them, and the entities Telegram adds to a user's plain text."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.telegram.protocol import _ApiError, _bad


def _u16(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram adds to a user's plain text: bot commands and links."""
    entities: list[dict[str, Any]] = []
    for kind, pattern in (("bot_command", _COMMAND_RE), ("url", _URL_RE)):
        for m in pattern.finditer(text):
            entities.append(
                {"type": kind, "offset": _u16(text[: m.start()]), "length": _u16(m.group(0))}
            )
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[A-Za-z][-A-Za-z0-9]*")
_ATTR_RE = re.compile(
    r"([A-Za-z_][-A-Za-z0-9_]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?"
)
_REF_RE = re.compile(r"&(#[xX][0-9A-Fa-f]{1,8}|#[0-9]{1,10}|[A-Za-z]{1,10});")


def _render(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) as Telegram stores the message; raises _ApiError on bad HTML.

    Only HTML is parsed; Markdown texts are kept as sent.
    """
    if parse_mode is not None and parse_mode.lower() == "html":
        return _parse_html(text)
    return text, list(entities or [])


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    return _HtmlParser(text).parse()


class _HtmlParser:
    """One pass over a text in Telegram's HTML: the plain text out, and an entity a closed tag."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.offset = 0  # UTF-16 position in the output
        self.stack: list[tuple[str, dict[str, str], int]] = []  # open tags: name, attrs, start
        self.entities: list[dict[str, Any]] = []

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        text = self.text
        i = 0
        while i < len(text):
            char = text[i]
            if char == "<":
                i = self._tag(i)
                continue
            if char == "&":
                end = self._reference(i)
                if end is not None:
                    i = end
                    continue
            self._emit(char)
            i += 1
        if self.stack:
            raise self._fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1][0]}"'
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _emit(self, plain: str) -> None:
        self.out.append(plain)
        self.offset += _u16(plain)

    def _reference(self, i: int) -> int | None:
        """Emit the character reference at `i` and return where it ends; None if there is none."""
        ref = _REF_RE.match(self.text, i)
        decoded = _decode_ref(ref.group(1)) if ref else None
        if ref is None or decoded is None:
            return None
        self._emit(decoded)
        return ref.end()

    def _tag(self, i: int) -> int:
        """Take the tag that starts at `i`; return where it ends."""
        end = self.text.find(">", i)
        if end < 0:
            raise self._fail("Unclosed start tag", i)
        inner = self.text[i + 1 : end]
        if inner.startswith("/"):
            self._end_tag(inner[1:].strip().lower(), i)
        else:
            self._start_tag(inner, i)
        return end + 1

    def _start_tag(self, inner: str, at: int) -> None:
        m = _TAG_NAME_RE.match(inner)
        name = m.group(0).lower() if m else ""
        if m is None or name not in _HTML_TAGS:
            raise self._fail(f'Unsupported start tag "{name or inner[:10]}"', at)
        attrs = {
            a.lower(): _unescape(v1 or v2 or v3)
            for a, v1, v2, v3 in _ATTR_RE.findall(inner[m.end() :])
        }
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise self._fail('Tag "span" must have class "tg-spoiler"', at)
        self.stack.append((name, attrs, self.offset))

    def _end_tag(self, name: str, at: int) -> None:
        if not self.stack:
            raise self._fail(f'Unexpected end tag "{name}"', at)
        open_name, attrs, start = self.stack.pop()
        if name != open_name:
            raise self._fail(f'Unmatched end tag, expected "</{open_name}>", found "</{name}>"', at)
        entity = _html_entity(open_name, attrs, start, self.offset - start, self.stack)
        if entity is not None:
            self.entities.append(entity)

    def _fail(self, message: str, at: int | None = None) -> _ApiError:
        where = f" at byte offset {len(self.text[:at].encode())}" if at is not None else ""
        return _bad(f"can't parse entities: {message}{where}")


def _unescape(value: str) -> str:
    return _REF_RE.sub(lambda m: _decode_ref(m.group(1)) or m.group(0), value)


def _decode_ref(ref: str) -> str | None:
    if ref.startswith("#"):
        number = int(ref[2:], 16) if ref[1:2] in ("x", "X") else int(ref[1:])
        return chr(number) if 0 < number <= 0x10FFFF else None
    return _NAMED_REFS.get(ref)


def _html_entity(
    name: str,
    attrs: dict[str, str],
    start: int,
    length: int,
    stack: list[tuple[str, dict[str, str], int]],
) -> dict[str, Any] | None:
    if name == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][1]["language"] = language.removeprefix("language-")
        return None  # <pre><code class="language-x"> is one pre entity
    if length <= 0:
        return None
    kind = _HTML_TAGS[name]
    if name == "blockquote" and "expandable" in attrs:
        kind = "expandable_blockquote"
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
    if kind == "text_link":
        if not attrs.get("href"):
            return None
        entity["url"] = attrs["href"]
    elif kind == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity
