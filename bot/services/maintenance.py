"""Maintenance mode: while on, new submissions are refused with the admins' message, or, when
they gave none, the default sentence in each user's own language."""

from __future__ import annotations

from bot import texts
from storage.state import StateRepository

_KEY = "maintenance_message"


class Maintenance:
    def __init__(self, state: StateRepository) -> None:
        self._state = state

    async def message(self) -> str | None:
        """The message users get while maintenance is on, in the language in force; None when
        it is off."""
        stored = await self._state.get(_KEY)
        if stored is None:
            return None
        return stored or texts.maintenance_default()

    async def start(self, message: str) -> None:
        """Turn it on with the admin's message (HTML), or "" for the default sentence."""
        await self._state.set(_KEY, message)

    async def end(self) -> None:
        await self._state.delete(_KEY)
