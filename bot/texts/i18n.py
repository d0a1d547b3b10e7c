"""The language a text is said in: gettext catalogs, read with Babel, one per language.

Each text builder asks `gettext`/`ngettext` for its words; which language they come in is the
`language` in force (a context variable), set by whoever knows the reader: the update's user
(bot.updates), the task's owner (the tracker), each admin for a report. English is the source
language and the fallback for any text a catalog lacks.

The catalogs are the `.po` files under bot/locales/<language>/LC_MESSAGES/messages.po, read and
compiled in memory at first use: nothing compiled is committed, and adding a language is adding
its file (`python3 manage.py i18n add <code>`).
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib import resources
from io import BytesIO

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "N_",
    "SOURCE_LANGUAGE",
    "available_languages",
    "gettext",
    "language",
    "language_for",
    "language_name",
    "locale",
    "ngettext",
    "source_language_for",
    "speak",
    "speaking",
]

SOURCE_LANGUAGE = "en"
DOMAIN = "messages"

_language: ContextVar[str] = ContextVar("language", default=SOURCE_LANGUAGE)


@cache
def available_languages() -> tuple[str, ...]:
    """English, then every language with a catalog, by code."""
    root = resources.files("bot") / "locales"
    if not root.is_dir():
        return (SOURCE_LANGUAGE,)
    found = sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and (entry / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
    )
    return (SOURCE_LANGUAGE, *(code for code in found if code != SOURCE_LANGUAGE))


@cache
def _translations(code: str) -> stdlib_gettext.NullTranslations:
    if code == SOURCE_LANGUAGE or code not in available_languages():
        return stdlib_gettext.NullTranslations()
    po = resources.files("bot") / "locales" / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=code, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: English until reviewed
    compiled.seek(0)
    return stdlib_gettext.GNUTranslations(compiled)


def language() -> str:
    """The language texts are said in now."""
    return _language.get()


def locale() -> Locale:
    """The Babel locale of the language in force: for numbers, units and lists."""
    return _locale(language())


@cache
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def language_for(telegram_code: str | None) -> str:
    """The language to speak to someone whose Telegram is set to `telegram_code` (an IETF tag
    such as "ru" or "pt-br"): it, or its base language, if there is a catalog; else English."""
    if not telegram_code:
        return SOURCE_LANGUAGE
    tag = telegram_code.strip().lower().replace("_", "-")
    for code in (tag, tag.split("-")[0]):
        if code in available_languages():
            return code
    return SOURCE_LANGUAGE


def language_name(code: str) -> str:
    """The language's name in itself ("English", "Русский"), for the /language buttons."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def speak(code: str) -> None:
    """Say the texts in `code` from now on in this task (an update's own task, which ends with
    it: bot.updates runs each update in one)."""
    _language.set(code if code in available_languages() else SOURCE_LANGUAGE)


@contextmanager
def speaking(code: str) -> Iterator[None]:
    """Say the texts built inside in `code` (a code from available_languages)."""
    token = _language.set(code if code in available_languages() else SOURCE_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark a sentence kept in a table for the catalog; `gettext` it where it is said."""
    return message


async def source_language_for(user_id: int) -> str:
    """A `language_of` that speaks English to everyone (where no user's language is known)."""
    return SOURCE_LANGUAGE


def gettext(message: str) -> str:
    return _translations(language()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form for `count` by the language's plural rules (Russian has three)."""
    return _translations(language()).ngettext(singular, plural, count)
