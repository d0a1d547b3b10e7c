"""Telegram users the bot has seen: access, bans, limits, and whether they blocked the bot."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.records import Access, User
from storage.db import Database
from storage.models import from_row

# A user who writes again within this many seconds, with the same names, is not written again:
# `seen` is on the path of every message, and their row is then known already (every change to
# it goes through this class, which forgets the copy). Only last_seen_at lags, by this much.
SEEN_WRITE_INTERVAL = 60.0


class UserRepository:
    """The users table. One instance per database: it keeps copies of rows it just wrote."""

    def __init__(self, db: Database, *, remember: bool = True) -> None:
        """`remember`: keep the rows `seen` wrote for SEEN_WRITE_INTERVAL (not when other
        instances share the database: a ban made through one must hold at once on all)."""
        self._db = db
        self._remember = remember
        self._recent: dict[int, User] = {}  # rows `seen` wrote lately, by user id

    async def seen(
        self,
        user_id: int,
        username: str | None,
        first_name: str,
        now: float,
        telegram_language: str | None = None,
    ) -> User:
        """Record that the user wrote to the bot (and the language their Telegram is set to);
        return their row.

        Writing again also means they have not blocked the bot (any more).
        """
        recent = self._recent.get(user_id)
        if (
            recent is not None
            and recent.username == username
            and recent.first_name == first_name
            and telegram_language in (None, recent.telegram_language)
            and 0 <= now - recent.last_seen_at < SEEN_WRITE_INTERVAL
        ):
            return replace(recent, last_seen_at=now)
        stored_name = recent.username.lower() if recent and recent.username else None
        if username and username.lower() != stored_name:
            # Usernames move between accounts: only the newest holder keeps it. (Skipped when
            # this user already had it last time: then it was done then.)
            cleared = await self._db.write_returning(
                "UPDATE users SET username = NULL WHERE lower(username) = lower(?) AND id != ? "
                "RETURNING id",
                (username, user_id),
            )
            for (other,) in cleared:
                self._forget(int(other))  # their name is gone: check them again
        rows = await self._db.write_returning(
            """
            INSERT INTO users (id, username, first_name, first_seen_at, last_seen_at,
                               telegram_language)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET
                username = excluded.username,
                first_name = excluded.first_name,
                last_seen_at = excluded.last_seen_at,
                -- Telegram may leave the language out of an update: keep the last one known.
                telegram_language = COALESCE(excluded.telegram_language, users.telegram_language),
                blocked_bot_at = NULL
            RETURNING *
            """,
            (user_id, username, first_name, now, now, telegram_language),
        )
        user = from_row(User, rows[0])
        if self._remember:
            self._recent[user_id] = user
        if len(self._recent) > 100_000:  # a bound, not a cache policy: it refills as users write
            self._recent.clear()
        return user

    async def _change(self, user_id: int, sql: str, params: tuple[object, ...]) -> int:
        """One write to the user's row; then the copies `seen` kept of it are forgotten (also
        one written while this waited for its turn)."""
        try:
            return await self._db.execute(sql, params)
        finally:
            self._forget(user_id)

    def _forget(self, user_id: int) -> None:
        self._recent.pop(user_id, None)

    async def set_language(self, user_id: int, language: str | None) -> bool:
        """The user's /language choice (None: follow their Telegram); False if no such user."""
        return (
            await self._change(
                user_id, "UPDATE users SET language = ? WHERE id = ?", (language, user_id)
            )
            > 0
        )

    async def get(self, user_id: int) -> User | None:
        row = await self._db.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
        return from_row(User, row) if row else None

    async def find(self, who: int | str) -> User | None:
        """A user by Telegram id (int) or by username (str, without @; case does not matter)."""
        if isinstance(who, int):
            return await self.get(who)
        row = await self._db.fetch_one(
            "SELECT * FROM users WHERE lower(username) = lower(?)", (who,)
        )
        return from_row(User, row) if row else None

    async def set_access(
        self, user_id: int, access: Access, *, only_from: tuple[Access | None, ...] | None = None
    ) -> bool:
        """Set the user's access (only if it is one of `only_from` now, when given).

        Returns whether it changed.
        """
        condition, params = "(access IS NULL OR access != ?)", [access]
        if only_from is not None:
            known = [a for a in only_from if a is not None]
            marks = ", ".join("?" for _ in known) or "NULL"
            condition += f" AND (access IN ({marks})" + (
                " OR access IS NULL)" if None in only_from else ")"
            )
            params += known
        changed = await self._change(
            user_id,
            f"UPDATE users SET access = ? WHERE id = ? AND {condition}",
            (access, user_id, *params),
        )
        return changed == 1

    async def ensure(self, user_id: int) -> User:
        """The user's row, made empty if they never wrote (to ban or allow them ahead)."""
        await self._db.execute(
            "INSERT INTO users (id, first_name, first_seen_at, last_seen_at) VALUES (?, '', 0, 0) "
            "ON CONFLICT (id) DO NOTHING",
            (user_id,),
        )
        user = await self.get(user_id)
        if user is None:
            raise RuntimeError(f"user {user_id} is missing right after it was stored")
        return user

    async def find_or_ensure(self, who: int | str) -> User | None:
        """`find`, but an id the bot never saw gets an empty row (so it can be acted on)."""
        user = await self.find(who)
        if user is None and isinstance(who, int):
            user = await self.ensure(who)
        return user

    async def ban(self, user_id: int, reason: str | None, now: float) -> bool:
        changed = await self._change(
            user_id,
            "UPDATE users SET banned_at = ?, ban_reason = ? WHERE id = ?",
            (now, reason, user_id),
        )
        return changed == 1

    async def unban(self, user_id: int) -> bool:
        changed = await self._change(
            user_id,
            "UPDATE users SET banned_at = NULL, ban_reason = NULL WHERE id = ? "
            "AND banned_at IS NOT NULL",
            (user_id,),
        )
        return changed == 1

    async def set_daily_limit(self, user_id: int, limit: int | None) -> bool:
        changed = await self._change(
            user_id, "UPDATE users SET daily_limit = ? WHERE id = ?", (limit, user_id)
        )
        return changed == 1

    async def mark_blocked_bot(self, user_id: int, now: float) -> None:
        await self._change(
            user_id,
            "UPDATE users SET blocked_bot_at = ? WHERE id = ? AND blocked_bot_at IS NULL",
            (now, user_id),
        )

    async def counts(self, now: float) -> tuple[int, int, int]:
        """Users in all, and active in the last 24 hours and 7 days."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE last_seen_at >= ?), "
            "COUNT(*) FILTER (WHERE last_seen_at >= ?) FROM users",
            (now - 86400, now - 7 * 86400),
        )
        if row is None:
            return 0, 0, 0
        return int(row[0]), int(row[1] or 0), int(row[2] or 0)
