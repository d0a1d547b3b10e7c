"""Small values the bot keeps for itself between runs (bot_state table)."""

from __future__ import annotations

from storage.db import Database


class StateRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_or_set(self, key: str, default: str) -> str:
        """The stored value for `key`; stores `default` first when there is none."""
        await self._db.execute(
            "INSERT INTO bot_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, default),
        )
        row = await self._db.fetch_one("SELECT value FROM bot_state WHERE key = ?", (key,))
        if row is None:
            raise RuntimeError(f"bot_state has no {key!r} right after storing it")
        return str(row[0])

    async def get(self, key: str) -> str | None:
        row = await self._db.fetch_one("SELECT value FROM bot_state WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO bot_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def delete(self, key: str) -> None:
        await self._db.execute("DELETE FROM bot_state WHERE key = ?", (key,))
