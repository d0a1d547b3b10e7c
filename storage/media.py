"""Uploaded videos: which file belongs to whom, and until when it is kept."""

from __future__ import annotations

from storage.db import Database


class MediaRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, token: str, user_id: int, size: int, now: float, expires_at: float) -> None:
        await self._db.execute(
            "INSERT INTO media (token, user_id, size, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (token, user_id, size, now, expires_at),
        )

    async def live(self, token: str, now: float) -> bool:
        """Whether the file may still be served."""
        row = await self._db.fetch_one(
            "SELECT 1 FROM media WHERE token = ? AND (expires_at IS NULL OR expires_at > ?)",
            (token, now),
        )
        return row is not None

    async def release(self, token: str, expires_at: float) -> None:
        """The task ended: keep the file only until `expires_at`."""
        await self._db.execute(
            "UPDATE media SET expires_at = ? WHERE token = ? AND expires_at IS NULL",
            (expires_at, token),
        )

    async def expire_unheld(self, token: str, at: float) -> None:
        await self._db.execute(
            "UPDATE media SET expires_at = ? WHERE token = ? AND expires_at IS NOT NULL",
            (at, token),
        )

    async def expired(self, now: float) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT token FROM media WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
        )
        return [str(token) for (token,) in rows]

    async def remove(self, token: str) -> None:
        await self._db.execute("DELETE FROM media WHERE token = ?", (token,))

    async def total_size(self) -> int:
        row = await self._db.fetch_one("SELECT COALESCE(SUM(size), 0) FROM media")
        return int(row[0]) if row else 0

    async def known(self) -> set[str]:
        return {str(token) for (token,) in await self._db.fetch_all("SELECT token FROM media")}
