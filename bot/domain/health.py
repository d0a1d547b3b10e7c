"""Whether something outside (Telegram, the provider) answered lately: its last answer, its last
failure and why. Whoever talks to it records each outcome; /readyz (bot.readiness) reads them."""

from __future__ import annotations

import time
from collections.abc import Callable


class Heartbeat:
    """The last answer and the last failure of one party, on a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.answered_at: float | None = None
        self.failed_at: float | None = None
        self.reason = ""  # why the last failure failed

    def answered(self) -> None:
        self.answered_at = self.clock()

    def failed(self, reason: str) -> None:
        self.failed_at = self.clock()
        self.reason = reason

    @property
    def failing(self) -> bool:
        """Its last outcome was a failure."""
        return self.failed_at is not None and (
            self.answered_at is None or self.failed_at >= self.answered_at
        )

    def last_seen(self) -> float | None:
        """When the last outcome, either, came."""
        times = [t for t in (self.answered_at, self.failed_at) if t is not None]
        return max(times) if times else None
