"""A sliding-window rate limit: at most `count` starts in any `period` seconds.

Providers count like this (KIE.ai: 20 new generation requests per 10 s, the rest dropped), so a
leaky bucket, which allows a full burst and then a steady trickle on top, would overrun them.
"""

from __future__ import annotations

import asyncio
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
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more start keeps within the limit, and count it."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self._period:
                    self._starts.popleft()
                if len(self._starts) < self._count:
                    self._starts.append(now)
                    return
                await asyncio.sleep(self._starts[0] + self._period - now)
