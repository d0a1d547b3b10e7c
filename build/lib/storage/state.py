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
