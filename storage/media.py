"""Uploaded videos: which file belongs to whom, and until when it is kept.

A file is held (no expiry) while a task that uses it is unfinished. Several tasks and cards can
share one file (the follow-up buttons make new cards of a task's video), so a file is let go only
when no unfinished task, and for `expire_unheld` no open card, uses it any more.
"""

from __future__ import annotations

from bot.domain.records import ACTIVE_TASK_STATES, OPEN_DRAFT_STATES
from storage.db import Database

_ACTIVE = ", ".join(f"'{s}'" for s in sorted(ACTIVE_TASK_STATES))
_OPEN = ", ".join(f"'{s}'" for s in OPEN_DRAFT_STATES)
# Whether an unfinished task, or an open card, uses the file ?1 (as its video or first frame).
_USED_BY_TASK = (
    f"EXISTS (SELECT 1 FROM tasks WHERE state IN ({_ACTIVE}) "
    "AND (media_token = ?1 OR first_frame_media_token = ?1))"
)
_USED_BY_CARD = (
    f"EXISTS (SELECT 1 FROM drafts WHERE state IN ({_OPEN}) "
    "AND (media_token = ?1 OR first_frame_media_token = ?1))"
)


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
        """A task using the file ended: keep the file only until `expires_at`, unless another
        unfinished task uses it."""
        await self._db.execute(
            "UPDATE media SET expires_at = ?2 WHERE token = ?1 AND expires_at IS NULL "
            f"AND NOT {_USED_BY_TASK}",
            (token, expires_at),
        )

    async def expire_unheld(self, token: str, at: float) -> None:
        """A card using the file was replaced or cancelled: let it go at `at`, unless a task
        holds it or another open card uses it."""
        await self._db.execute(
            "UPDATE media SET expires_at = ?2 WHERE token = ?1 AND expires_at IS NOT NULL "
            f"AND NOT {_USED_BY_TASK} AND NOT {_USED_BY_CARD}",
            (token, at),
        )

    async def keep_until_at_least(self, token: str, at: float, now: float) -> bool:
        """A new card uses a file still there: keep it at least until `at`. False when it has
        expired already."""
        changed = await self._db.execute(
            "UPDATE media SET expires_at = CASE WHEN expires_at < ?2 THEN ?2 ELSE expires_at END "
            "WHERE token = ?1 "
            "AND (expires_at IS NULL OR expires_at > ?3)",
            (token, at, now),
        )
        return changed == 1

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
