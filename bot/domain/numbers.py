"""Numbers and ids that come as text (typed by a person, or in another program's header or JSON).

`str.isdigit()` is no test for them: it says yes to "²" and "١٢", which `int()` then refuses or
reads as 12; and `int()` reads twenty digits that overflow SQLite's 64-bit integers, or thousands
of digits slowly. Everything here takes ASCII digits only, in a stated range, and answers None
for anything else.
"""

from __future__ import annotations

import re

# The Bot API: user ids "have at most 52 significant bits".
TELEGRAM_ID_MAX = 2**52 - 1
SIZE_MAX = 2**63 - 1  # a byte count in a header past this is no size (and no slow int())
_DIGITS = re.compile(r"[0-9]{1,19}")
_USERNAME = re.compile(r"@?(?P<name>[A-Za-z][A-Za-z0-9_]{0,31})")


def ascii_int(text: str, *, high: int, low: int = 0) -> int | None:
    """The whole number `text` writes in ASCII digits (spaces around allowed), if in low..high."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def telegram_user_id(text: str) -> int | None:
    """A Telegram user id written in digits, or None."""
    return ascii_int(text, low=1, high=TELEGRAM_ID_MAX)


def user_ref(text: str) -> int | str | None:
    """What an admin wrote to name a user: an id (int), a username without its @ (str), or None
    when it can be neither (then no such user exists)."""
    text = text.strip()
    if text[:1].isdigit():  # "²" too: digits of any kind are never a username
        return telegram_user_id(text)
    match = _USERNAME.fullmatch(text)
    return match["name"] if match else None
