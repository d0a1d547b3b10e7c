"""Retrying an async call with exponential backoff and jitter."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), with ±25 % jitter."""
        raw: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return raw * random.uniform(0.75, 1.25)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    should_retry: Callable[[Exception], bool],
    backoff: Backoff,
    what: str,
) -> T:
    """Await `call()`; when it raises an error that `should_retry` accepts, wait and call again."""
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as exc:
            if attempt >= backoff.attempts or not should_retry(exc):
                raise
            delay = backoff.delay(attempt)
            log.warning(
                "%s failed (%s); attempt %d of %d in %.1f s",
                what,
                exc,
                attempt + 1,
                backoff.attempts,
                delay,
            )
            await asyncio.sleep(delay)
            attempt += 1
