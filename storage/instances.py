"""The bot's running instances (one per process) and the leases that let only one of them do a
piece of work at a time."""

from __future__ import annotations

from bot.domain.records import ACTIVE_TASK_STATES, Instance
from storage.db import Database, Dialect

# The lease of the one instance that polls Telegram for updates.
POLLING_LEASE = "telegram-polling"
# The lease of the one instance that sends broadcasts (so BROADCAST_RATE holds for all).
BROADCASTS_LEASE = "broadcasts"
_DB_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"
_ACTIVE = ", ".join(f"'{s}'" for s in sorted(ACTIVE_TASK_STATES))


class InstanceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, instance: Instance) -> None:
        seen = _DB_NOW if self._db.dialect is Dialect.POSTGRESQL else "?"
        await self._db.execute(
            "INSERT INTO instances (id, host, pid, mode, started_at, seen_at) "
            f"VALUES (?, ?, ?, ?, ?, {seen})",
            (instance.id, instance.host, instance.pid, instance.mode, instance.started_at)
            + (() if self._db.dialect is Dialect.POSTGRESQL else (instance.seen_at,)),
        )

    async def heartbeat(self, instance_id: str, now: float) -> bool:
        """Still alive; False when the row is gone (taken for dead and removed by another).
        On PostgreSQL the time written is the database's own, at the moment of writing (`now`
        may be late once the statement gets through, or come from a clock that is off): it is
        what other instances compare it with."""
        params: tuple[object, ...]
        if self._db.dialect is Dialect.POSTGRESQL:
            sql, params = f"UPDATE instances SET seen_at = {_DB_NOW} WHERE id = ?", (instance_id,)
        else:
            sql, params = "UPDATE instances SET seen_at = ? WHERE id = ?", (now, instance_id)
        return await self._db.execute(sql, params) == 1

    async def remove(self, instance_id: str) -> None:
        await self._db.execute("DELETE FROM instances WHERE id = ?", (instance_id,))

    async def remove_dead(self, seen_before: float) -> int:
        """Forget instances not seen since `seen_before` (once what they held is taken over)."""
        return await self._db.execute("DELETE FROM instances WHERE seen_at < ?", (seen_before,))

    async def alive(self, seen_since: float) -> list[Instance]:
        """Instances seen since `seen_since`, the oldest first, with the tasks each holds."""
        rows = await self._db.fetch_all(
            "SELECT i.id, i.host, i.pid, i.mode, i.started_at, i.seen_at, "
            f"(SELECT COUNT(*) FROM tasks WHERE lease_owner = i.id AND state IN ({_ACTIVE})) "
            "FROM instances i WHERE i.seen_at >= ? ORDER BY i.started_at, i.id",
            (seen_since,),
        )
        return [Instance(*row) for row in rows]


class LeaseRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, name: str, owner: str, now: float, seconds: float) -> bool:
        """Take the lease, or renew it if `owner` holds it already, for `seconds`; False while
        another holds it unexpired."""
        rows = await self._db.write_returning(
            "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at "
            "WHERE leases.owner = excluded.owner OR leases.expires_at < ? "
            "RETURNING owner",
            (name, owner, now + seconds, now),
        )
        return bool(rows)

    async def release(self, name: str, owner: str) -> None:
        await self._db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    async def holder(self, name: str, now: float) -> str | None:
        row = await self._db.fetch_one(
            "SELECT owner FROM leases WHERE name = ? AND expires_at >= ?", (name, now)
        )
        return str(row[0]) if row else None


class Lease:
    """One named lease, as held by one instance."""

    def __init__(self, repo: LeaseRepository, name: str, owner: str, seconds: float) -> None:
        self._repo = repo
        self.name = name
        self.owner = owner
        self.seconds = seconds

    async def hold(self, now: float) -> bool:
        """Take or renew it; False while another instance holds it."""
        return await self._repo.acquire(self.name, self.owner, now, self.seconds)

    async def release(self) -> None:
        await self._repo.release(self.name, self.owner)
