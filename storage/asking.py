"""How the waiters of one process ask a limit kept in the database: one at a time, in the order
they came (the others wait their turn), so that a busy limit costs each instance one
transaction per free place rather than one per waiter; and each try is bounded, so that a
caller never waits for a database that is away. A waiter queued behind a try that failed fails
at once too (not after its own wait)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from storage.db import DatabaseUnavailableError

T = TypeVar("T")


class AskInOrder:
    def __init__(self, try_timeout: float | None = None) -> None:
        """`try_timeout`: the longest one try may wait for the database (None: as long as the
        database's own retries take); past it, TimeoutError."""
        self._try_timeout = try_timeout
        self._lock = asyncio.Lock()  # the one waiter of this process that asks the database
        self._failed_at = -1.0  # time.monotonic() of the last try that failed

    @property
    def waiting(self) -> bool:
        """Whether a waiter of this process is asking, or queued to."""
        return self._lock.locked()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """The block is this waiter's turn to ask (in `attempt`, try after try)."""
        queued = time.monotonic()
        async with self._lock:
            if self._failed_at >= queued:
                raise DatabaseUnavailableError("the shared rate limit could not be reached")
            yield

    async def attempt(self, attempt: Awaitable[T]) -> T:
        """One try, within `try_timeout`; its failure fails the waiters queued meanwhile."""
        try:
            if self._try_timeout is None:
                return await attempt
            async with asyncio.timeout(self._try_timeout):
                return await attempt
        except (DatabaseUnavailableError, TimeoutError):
            self._failed_at = time.monotonic()
            raise
