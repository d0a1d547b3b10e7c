"""UserService: who has talked to the bot."""

from __future__ import annotations

import time
from collections.abc import Callable

from storage.users import UserRepository


class UserService:
    def __init__(self, users: UserRepository, clock: Callable[[], float] = time.time) -> None:
        self._users = users
        self._clock = clock

    async def seen(self, user_id: int, username: str | None, first_name: str) -> None:
        await self._users.seen(user_id, username, first_name, self._clock())
