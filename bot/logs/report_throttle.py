"""Keeping admin reports readable in a storm: a few in full, then a count of the rest."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class ReportThrottle:
    """Lets through at most `burst` reports per `window` seconds and counts the others."""

    def __init__(
        self, burst: int = 5, window: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self.held = 0  # reports held back since the last summary

    def allow(self) -> bool:
        """Whether a report may go out now; if not, it is counted as held back."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        if len(self._sent) < self.burst:
            self._sent.append(now)
            return True
        self.held += 1
        return False

    def hold(self) -> None:
        """Count one report held back that `allow` let through (another throttle refused it):
        its place in this window is given back."""
        if self._sent:
            self._sent.pop()
        self.held += 1

    def take_held(self) -> int:
        """How many were held back (and start counting again from zero)."""
        held, self.held = self.held, 0
        return held
