"""Broadcasts: one message to every user, each recipient's state kept so none gets it twice."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storage.db import Database


class RecipientState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # written before the send: after a crash, not sent again
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Broadcast:
    id: int
    admin_id: int
    text: str  # HTML sent with sendMessage; empty for a copy
    state: str  # draft, sending, done, cancelled
    progress_chat_id: int
    progress_message_id: int | None
    source_chat_id: int | None = None  # a copy of this chat's message (copyMessage)
    source_message_id: int | None = None

    @property
    def copy_of(self) -> tuple[int, int] | None:
        """(chat id, message id) of the message every user gets a copy of; None: `text`."""
        if self.source_chat_id is None or self.source_message_id is None:
            return None
        return self.source_chat_id, self.source_message_id


_COLUMNS = (
    "id, admin_id, text, state, progress_chat_id, progress_message_id, source_chat_id, "
    "source_message_id"
)


class BroadcastRepository:
    def __init__(
        self, db: Database, *, allowlist: bool = False, admin_ids: frozenset[int] = frozenset()
    ) -> None:
        self._db = db
        # Who a broadcast goes to: everyone the bot knows who is not banned and has not blocked
        # it; in allowlist mode, only those let in (and the admins).
        self._audience = "FROM users WHERE banned_at IS NULL AND blocked_bot_at IS NULL"
        if allowlist:
            admins = ", ".join(str(int(a)) for a in sorted(admin_ids)) or "NULL"
            self._audience += f" AND (access = 'allowed' OR id IN ({admins}))"

    async def audience_size(self) -> int:
        row = await self._db.fetch_one(f"SELECT COUNT(*) {self._audience}")
        return int(row[0]) if row else 0

    async def create(
        self,
        admin_id: int,
        text: str,
        progress_chat_id: int,
        now: float,
        *,
        copy_of: tuple[int, int] | None = None,
    ) -> int:
        """A draft: of `text`, or (`copy_of`) of a copy of that (chat id, message id)."""
        source_chat_id, source_message_id = copy_of or (None, None)
        rows = await self._db.write_returning(
            "INSERT INTO broadcasts (admin_id, text, state, progress_chat_id, created_at, "
            "source_chat_id, source_message_id) VALUES (?, ?, 'draft', ?, ?, ?, ?) RETURNING id",
            (admin_id, text, progress_chat_id, now, source_chat_id, source_message_id),
        )
        return int(rows[0][0])

    async def get(self, broadcast_id: int) -> Broadcast | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM broadcasts WHERE id = ?",
            (broadcast_id,),
        )
        return Broadcast(*row) if row else None

    async def set_progress_message(self, broadcast_id: int, message_id: int) -> None:
        await self._db.execute(
            "UPDATE broadcasts SET progress_message_id = ? WHERE id = ?",
            (message_id, broadcast_id),
        )

    async def start(self, broadcast_id: int, now: float) -> bool:
        """Draft -> sending, with one pending recipient per user of the audience; once only."""
        async with self._db.transaction() as conn:
            started = await conn.execute(
                "UPDATE broadcasts SET state = 'sending', started_at = ? "
                "WHERE id = ? AND state = 'draft'",
                (now, broadcast_id),
            )
            if started != 1:
                return False
            await conn.execute(
                "INSERT INTO broadcast_recipients (broadcast_id, user_id, state) "
                f"SELECT CAST(? AS BIGINT), id, 'pending' {self._audience}",
                (broadcast_id,),
            )
        return True

    async def cancel(self, broadcast_id: int) -> bool:
        changed = await self._db.execute(
            "UPDATE broadcasts SET state = 'cancelled' WHERE id = ? AND state = 'draft'",
            (broadcast_id,),
        )
        return changed == 1

    async def sending(self) -> list[Broadcast]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM broadcasts WHERE state = 'sending' ORDER BY id"
        )
        return [Broadcast(*row) for row in rows]

    async def settle_interrupted(self, broadcast_id: int) -> int:
        """After a restart: recipients caught mid-send may have the message; never resend."""
        return await self._db.execute(
            "UPDATE broadcast_recipients SET state = ? WHERE broadcast_id = ? AND state = ?",
            (RecipientState.FAILED, broadcast_id, RecipientState.SENDING),
        )

    async def pending(self, broadcast_id: int, limit: int) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT user_id FROM broadcast_recipients WHERE broadcast_id = ? AND state = ? "
            "ORDER BY user_id LIMIT ?",
            (broadcast_id, RecipientState.PENDING, limit),
        )
        return [int(user_id) for (user_id,) in rows]

    async def mark(
        self, broadcast_id: int, user_id: int, old: RecipientState, new: RecipientState
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE broadcast_recipients SET state = ? "
            "WHERE broadcast_id = ? AND user_id = ? AND state = ?",
            (new, broadcast_id, user_id, old),
        )
        return changed == 1

    async def counts(self, broadcast_id: int) -> dict[RecipientState, int]:
        rows = await self._db.fetch_all(
            "SELECT state, COUNT(*) FROM broadcast_recipients WHERE broadcast_id = ? "
            "GROUP BY state",
            (broadcast_id,),
        )
        counts = dict.fromkeys(RecipientState, 0)
        counts.update({RecipientState(state): int(n) for state, n in rows})
        return counts

    async def finish(self, broadcast_id: int, now: float) -> None:
        await self._db.execute(
            "UPDATE broadcasts SET state = 'done', finished_at = ? "
            "WHERE id = ? AND state = 'sending'",
            (now, broadcast_id),
        )
