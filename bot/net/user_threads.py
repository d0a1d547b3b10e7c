"""Thread pools shared by all users, of which one user holds at most one thread at a time.

A link check gives up on a DNS look-up or a video header read at its time-out, but the thread goes
on until the resolver or FFmpeg is done with it, and whoever wrote the link chose how long that
is. Counted against its user until the thread itself ends, one user sending link after link holds
one thread of each pool, however slow his links are made to be: the others stay free for everyone
else. Work done for no user (the tracker's, the command line's) is not counted.

The user is ACTING_FOR, set for each update by bot.updates (a context variable: every task an
update's handler starts inherits it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

ACTING_FOR: ContextVar[int | None] = ContextVar("acting_for", default=None)


class UserBusyError(Exception):
    """The user for whom this runs already holds a thread of the pool (a slow one, surely)."""


class PerUserPool:
    def __init__(self, threads: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._busy: set[int] = set()

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in one of the pool's threads. UserBusyError at once if ACTING_FOR already
        holds one; cancelling the wait takes queued work off the queue, not running work."""
        user = ACTING_FOR.get()
        if user in self._busy:
            raise UserBusyError
        future = self._pool.submit(work)
        if user is not None:
            self._busy.add(user)
            # Run by the thread as it ends (or by a cancel): one set operation, atomic.
            future.add_done_callback(lambda _: self._busy.discard(user))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Take no more work and drop the queued; threads still working are not waited for."""
        self._pool.shutdown(wait=False, cancel_futures=True)
