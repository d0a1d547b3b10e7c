"""Telegram users the bot has seen."""

from __future__ import annotations

from storage.db import Database


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen(self, user_id: int, username: str | None, first_name: str, now: float) -> None:
        """Record that the user wrote to the bot (insert, or refresh name and last_seen_at)."""
        await self._db.execute(
            """
            INSERT INTO users (id, username, first_name, first_seen_at, last_seen_at)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET
                username = excluded.username,
                first_name = excluded.first_name,
                last_seen_at = excluded.last_seen_at
            """,
            (user_id, username, first_name, now, now),
        )
