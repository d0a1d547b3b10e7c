"""A sliding-window rate limit: at most `count` starts in any `period` seconds.

Providers count like this (KIE.ai: 20 new generation requests per 10 s, the rest dropped), so a
leaky bucket, which allows a full burst and then a steady trickle on top, would overrun them.

A turn can be taken ahead (`reserve`) and used by the next `use_reserved`: the tracker waits for
the provider's turn while the task is still queued, so that a task waiting in the bot is never
marked as sent. The reserved start is moved to the moment it is used, which can only make later
starts wait longer, never shorter.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Callable


class WindowLimiter:
    def __init__(
        self, count: int, period: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if count < 1 or period <= 0:
            raise ValueError("a rate limit needs count >= 1 and period > 0")
        self._count = count
        self._period = period
        self._clock = clock
        self._starts: list[float] = []  # sorted; the starts within the last period
        self._reserved: deque[float] = deque()  # starts taken ahead, not used yet
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more start keeps within the limit, and count it."""
        async with self._lock:
            await self._take()

    async def use_reserved(self) -> bool:
        """Use the turn `reserve` took just before, at once, without waiting behind those still
        waiting for theirs; if it is older than the window, a turn now if there is room."""
        now = self._clock()
        self._forget_old(now)
        while self._reserved:
            stamp = self._reserved.popleft()
            index = bisect.bisect_left(self._starts, stamp)
            if index < len(self._starts) and self._starts[index] == stamp:
                del self._starts[index]
                bisect.insort(self._starts, now)
                return True
            # Reserved more than a period ago: it no longer holds a place in the window.
        return await self.try_take()

    async def try_take(self) -> bool:
        """Count a start now if the window has room; never waits."""
        now = self._clock()
        self._forget_old(now)
        if len(self._starts) >= self._count:
            return False
        bisect.insort(self._starts, now)
        return True

    async def reserve(self) -> None:
        """Wait for a turn now, for the next `use_reserved` to use."""
        async with self._lock:
            self._reserved.append(await self._take())

    async def give_back(self) -> None:
        """Return the latest turn `reserve` took, unused: its place in the window is free."""
        if not self._reserved:
            return
        stamp = self._reserved.pop()
        index = bisect.bisect_left(self._starts, stamp)
        if index < len(self._starts) and self._starts[index] == stamp:
            del self._starts[index]

    async def _take(self) -> float:
        """Wait until the window has room, count a start now, and return its time."""
        while True:
            now = self._clock()
            self._forget_old(now)
            if len(self._starts) < self._count:
                bisect.insort(self._starts, now)
                return now
            await asyncio.sleep(self._starts[0] + self._period - now)

    def _forget_old(self, now: float) -> None:
        old = bisect.bisect_right(self._starts, now - self._period)
        del self._starts[:old]
