"""Which language each user is spoken to in: their /language choice, else their Telegram's
(bot.texts.i18n.language_for picks the catalog), else English.

Messages about a task are built when the tracker gets to them, long after the user's last
update: `of` reads the user's row, kept for a minute (a choice made here is seen at once; one
made through another instance, within the minute).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.domain.records import User
from bot.texts import i18n
from storage.users import UserRepository

KEEP_SECONDS = 60.0
_KEPT_MAX = 100_000


class UserLanguages:
    def __init__(
        self, users: UserRepository, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._users = users
        self._clock = clock
        self._kept: dict[int, tuple[str, float]] = {}  # user id -> (language, when read)

    @staticmethod
    def of_user(user: User) -> str:
        return i18n.language_for(user.language or user.telegram_language)

    def remember(self, user: User) -> str:
        """The language of a row just read (the gate's, on each update); kept for `of`."""
        language = self.of_user(user)
        if len(self._kept) >= _KEPT_MAX:
            self._kept.clear()
        self._kept[user.id] = (language, self._clock())
        return language

    async def of(self, user_id: int) -> str:
        kept = self._kept.get(user_id)
        if kept is not None and 0 <= self._clock() - kept[1] < KEEP_SECONDS:
            return kept[0]
        user = await self._users.get(user_id)
        if user is None:
            return i18n.SOURCE_LANGUAGE
        return self.remember(user)

    async def choose(self, user_id: int, language: str | None) -> str:
        """Set the user's language (None: follow their Telegram again); the one now in force."""
        if language is not None and language not in i18n.available_languages():
            raise ValueError(f"no catalog for {language!r}")
        await self._users.set_language(user_id, language)
        self._kept.pop(user_id, None)
        return await self.of(user_id)
