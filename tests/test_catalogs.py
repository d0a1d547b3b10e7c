"""The catalogs: every sentence of bot/texts translated in every shipped language, with the same
placeholders, and every catalog compiling. A catalog added under bot/locales is checked too."""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from bot.texts import i18n

TEXTS = Path(__file__).resolve().parent.parent / "bot" / "texts"
KEYWORDS = {"gettext": None, "ngettext": (1, 2), "N_": None}
TRANSLATED = [code for code in i18n.available_languages() if code != i18n.SOURCE_LANGUAGE]


def source_messages() -> set[str | tuple[str, str]]:
    """Every msgid the code asks for, as pybabel extracts it (manage.py i18n)."""
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(TEXTS), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def catalog(code: str) -> Catalog:
    po = resources.files("bot") / "locales" / code / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        return read_po(source, locale=code)


def placeholders(text: str) -> set[str]:
    """The names of the fields `str.format` fills in the text (any spelling: a look-alike
    letter from another alphabet is a different name); ValueError when it cannot be formatted."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def texts_of(value: object) -> tuple[str, ...]:
    """A catalog entry's id or string: one text, or one per plural form."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(str(v or "") for v in value)
    return ("",)


def test_the_extraction_finds_the_sentences() -> None:
    messages = source_messages()
    assert len(messages) > 150
    assert any(isinstance(m, tuple) for m in messages), "no plural forms found"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_sentence_is_translated(code: str) -> None:
    shipped = catalog(code)
    missing = []
    for message in source_messages():
        msgid = message[0] if isinstance(message, tuple) else message
        entry = shipped.get(msgid)
        if entry is None or entry.fuzzy or not all(texts_of(entry.string)):
            missing.append(msgid[:60])
    assert missing == [], f"{code}: {len(missing)} sentences without a translation"


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_the_placeholders(code: str) -> None:
    """Each translation, and each of its plural forms, names the fields of its English and can
    be formatted with them (the English singular may leave out the count: "one task")."""
    wrong = []
    for entry in catalog(code):
        if not entry.id:
            continue
        ids, strings = texts_of(entry.id), texts_of(entry.string)
        wanted = placeholders(ids[-1]) | placeholders(ids[0])
        values = dict.fromkeys(wanted, "1")
        for form in strings:
            try:
                fields = placeholders(form)
                form.format(**values)
            except (ValueError, KeyError, IndexError) as exc:
                wrong.append((ids[0][:50], form[:50], repr(exc)))
                continue
            if fields - wanted or (len(ids) == 1 and fields != wanted):
                wrong.append((ids[0][:50], form[:50], "placeholders differ"))
    assert wrong == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_plural_forms_follow_the_language(code: str) -> None:
    shipped = catalog(code)
    assert shipped.num_plurals == get_plural(code).num_plurals  # Russian: 3 (1, 2-4, 5+)
    for entry in shipped:
        if isinstance(entry.id, tuple):
            assert len(texts_of(entry.string)) == shipped.num_plurals, entry.id[0]


@pytest.mark.parametrize("code", TRANSLATED)
def test_a_catalog_is_used_for_its_language(code: str) -> None:
    with i18n.speaking(code):
        assert i18n.language() == code
    assert i18n.language() == i18n.SOURCE_LANGUAGE
    assert i18n.language_for(f"{code}-XX") == code
    assert i18n.language_for("xx") == i18n.SOURCE_LANGUAGE
