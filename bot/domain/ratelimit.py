"""The provider's submit rate, as the provider clients see it: one limiter in the process
(bot.net.ratelimit.WindowLimiter), or one shared by every instance on the database
(storage.rates.SharedWindowLimiter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class StartLimiter(Protocol):
    """At most `count` starts in any `period` seconds."""

    async def reserve(self) -> None:
        """Wait for a turn now, for the next `use_reserved` to use."""

    async def use_reserved(self) -> bool:
        """Use the turn `reserve` took (counted from now on); if it is no longer in the window,
        take one now if there is room. Never waits: False when there is no turn now."""

    async def try_take(self) -> bool:
        """Count a start now if the window has room; never waits."""

    async def acquire(self) -> None:
        """Wait until one more start keeps within the limit, and count it."""

    async def give_back(self) -> None:
        """Return a turn `reserve` took that will not be used (its start did not happen)."""


# Makes the limiter for (count, period): the provider clients call it with their own limit.
LimiterFactory = Callable[[int, float], StartLimiter]
