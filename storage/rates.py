"""A sliding-window rate limit shared by every instance on the database: the provider's submit
rate (KIE.ai: 20 per 10 s, the rest dropped) holds for all of them together.

Each start is a row of `rate_starts`. Taking a turn is one transaction: under a lock (the
write lock in SQLite, an advisory lock per limit in PostgreSQL) the starts older than the period
are deleted, the rest counted, and a new one written if there is room; otherwise the caller
waits until the oldest leaves the window, and tries again. Times are wall-clock seconds, which
instances on several hosts share (keep their clocks synchronised, as NTP does).

Within a process, one waiter at a time asks the database, each try bounded
(storage.asking.AskInOrder).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import deque
from collections.abc import Callable

from storage.asking import AskInOrder
from storage.db import Database, Dialect


class SharedWindowLimiter:
    def __init__(
        self,
        db: Database,
        name: str,
        count: int,
        period: float,
        clock: Callable[[], float] = time.time,
        try_timeout: float | None = None,
    ) -> None:
        """`try_timeout`: the longest one try may wait for the database (None: as long as the
        database's own retries take); past it, TimeoutError."""
        if count < 1 or period <= 0:
            raise ValueError("a rate limit needs count >= 1 and period > 0")
        self._db = db
        self._name = name
        self._count = count
        self._period = period
        self._clock = clock
        # Two int4 keys, apart from the chats' one-bigint keys (storage.postgres.BOT_LOCKS).
        self.lock_key = (0x6C756D61, 1000 + zlib.crc32(name.encode()) % 1_000_000)
        self._reserved: deque[float] = deque()  # starts this process took ahead, not used yet
        self._asking = AskInOrder(try_timeout)

    async def reserve(self) -> None:
        self._reserved.append(await self._take())

    async def acquire(self) -> None:
        """Wait until one more start keeps within the limit, and count it."""
        await self._take()

    async def use_reserved(self) -> bool:
        """Use the turn `reserve` took, moved to now (later starts can only wait longer); if
        it is older than the window, a turn now if there is room. Never waits."""
        while self._reserved:
            stamp = self._reserved.popleft()
            moved = await self._db.execute(
                "UPDATE rate_starts SET at = ? WHERE name = ? AND at = ?",
                (self._clock(), self._name, stamp),
            )
            if moved:
                return True
            # Reserved more than a period ago: it no longer holds a place in the window.
        return await self.try_take()

    async def give_back(self) -> None:
        """Return the latest turn `reserve` took, unused: its place in the window is free."""
        if not self._reserved:
            return
        stamp = self._reserved.pop()
        await self._db.execute(
            "DELETE FROM rate_starts WHERE name = ? AND at = ?", (self._name, stamp)
        )

    async def try_take(self) -> bool:
        """Count a start now if the window has room; never waits."""
        started, _ = await self._asking.attempt(self._try())
        return started is not None

    async def _take(self) -> float:
        """Wait until the window has room, count a start now, and return its time."""
        async with self._asking.turn():
            while True:
                started, wait = await self._asking.attempt(self._try())
                if started is not None:
                    return started
                await asyncio.sleep(wait)

    async def _try(self) -> tuple[float | None, float]:
        """One try: (the start's time, 0) when one was counted, else (None, the seconds until
        the oldest start leaves the window)."""
        async with self._db.transaction() as conn:
            if conn.dialect is Dialect.POSTGRESQL:
                await conn.execute("SELECT pg_advisory_xact_lock(?, ?)", self.lock_key)
            now = self._clock()
            await conn.execute(
                "DELETE FROM rate_starts WHERE name = ? AND at <= ?",
                (self._name, now - self._period),
            )
            row = await conn.fetch_one(
                "SELECT COUNT(*), MIN(at) FROM rate_starts WHERE name = ?", (self._name,)
            )
            taken, oldest = (int(row[0]), row[1]) if row else (0, None)
            if taken < self._count:
                await conn.execute(
                    "INSERT INTO rate_starts (name, at) VALUES (?, ?)", (self._name, now)
                )
                return now, 0.0
        wait = float(oldest) + self._period - now if oldest is not None else 0.0
        return None, max(0.01, wait)
