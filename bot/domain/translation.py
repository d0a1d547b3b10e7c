"""The prompt translator's port: the providers take English prompts only, so an operator may
configure a translator (bot/providers/translator.py) that puts a user's prompt into English."""

from __future__ import annotations

from typing import Protocol


class TranslationError(Exception):
    """No usable translation: the translator was down, too slow, refused, or answered nothing
    that reads as English. The message is for the log (it never holds the key)."""


class TranslationTooLongError(TranslationError):
    """The English would be longer than the translator was let write."""


class Translator(Protocol):
    async def to_english(self, text: str) -> str:
        """`text` in English; raises TranslationError. Only the text is sent, nothing about
        who wrote it."""
        ...

    async def aclose(self) -> None: ...
