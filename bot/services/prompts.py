"""A user's text as a prompt the provider can take: in English as written, or put into English by
the operator's translator (bot.domain.translation), within each user's hourly share of
translations (they cost the operator money, and their result shows on the card before any
Submit). A text translated lately is not asked again."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from bot import texts
from bot.domain.translation import TranslationError, TranslationTooLongError, Translator
from bot.parsing import looks_english, prompt_form_problem, prompt_problem

log = logging.getLogger(__name__)

HOUR = 3600.0
KEPT_TRANSLATIONS = 2000
_USERS_COUNTED_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt as read: the English to send, or why there is none."""

    english: str | None = None
    original: str | None = None  # the user's words, when `english` is their translation
    problem: str | None = None  # a sentence for the user


class PromptReader:
    def __init__(
        self,
        max_chars: int,
        translator: Translator | None = None,
        *,
        translations_per_hour: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_chars = max_chars
        self._translator = translator
        self._per_hour = translations_per_hour
        self._clock = clock
        self._asked: dict[int, deque[float]] = {}  # user id -> when their translations were
        self._kept: OrderedDict[str, str] = OrderedDict()  # text -> its English, newest last

    def quick_problem(self, text: str) -> str | None:
        """What is wrong with the text before any slow check: its form, and its language when
        there is no translator."""
        if self._translator is None:
            return prompt_problem(text, self._max_chars)
        return prompt_form_problem(text, self._max_chars)

    async def read(self, user_id: int, text: str) -> Prompt:
        """The prompt in English: as written, or through the translator."""
        problem = self.quick_problem(text)
        if problem:
            return Prompt(problem=problem)
        if self._translator is None or looks_english(text):
            return Prompt(text)
        english = self._kept.get(text)
        if english is None:
            if not self._take_turn(user_id):
                return Prompt(problem=texts.translation_limit_reached())
            try:
                english = await self._translator.to_english(text)
            except TranslationTooLongError:
                return Prompt(problem=texts.translation_too_long(self._max_chars))
            except TranslationError as exc:
                log.warning("A prompt was not translated: %s", exc)
                return Prompt(problem=texts.translation_failed())
            log.info("Translated a prompt of user %d (%d characters)", user_id, len(text))
        if len(english) > self._max_chars:
            return Prompt(problem=texts.translation_too_long(self._max_chars))
        if prompt_form_problem(english, self._max_chars) or not looks_english(english):
            log.warning("The translator answered a prompt with no English")
            return Prompt(problem=texts.translation_failed())
        self._keep(text, english)
        return Prompt(english, original=text)

    def _take_turn(self, user_id: int) -> bool:
        """Count one translation for the user; False when their hour's share is used up."""
        now = self._clock()
        asked = self._asked.get(user_id)
        if asked is None:
            if len(self._asked) >= _USERS_COUNTED_MAX:
                self._asked.clear()  # a bound on memory; shares start again
            asked = self._asked[user_id] = deque()
        while asked and now - asked[0] >= HOUR:
            asked.popleft()
        if len(asked) >= self._per_hour:
            return False
        asked.append(now)
        return True

    def _keep(self, text: str, english: str) -> None:
        self._kept[text] = english
        self._kept.move_to_end(text)
        if len(self._kept) > KEPT_TRANSLATIONS:
            self._kept.popitem(last=False)
