"""Maintenance mode: while on, new submissions are refused with the admins' message."""

from __future__ import annotations

from storage.state import StateRepository

_KEY = "maintenance_message"


class Maintenance:
    def __init__(self, state: StateRepository) -> None:
        self._state = state

    async def message(self) -> str | None:
        """The message users get while maintenance is on; None when it is off."""
        return await self._state.get(_KEY)

    async def start(self, message: str) -> None:
        await self._state.set(_KEY, message)

    async def end(self) -> None:
        await self._state.delete(_KEY)
