"""Telegram's flood limit (about 30 messages a second per bot) kept by every instance together.

Each process sends through python-telegram-bot's AIORateLimiter (TELEGRAM_SENDS_PER_SECOND, one
at a time). With several instances on one PostgreSQL database, a send to a chat also takes a
turn of a limit they share (storage.rates.SharedWindowLimiter), so that together they stay
under Telegram's limit too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram._utils.types import JSONDict
from telegram.ext import BaseRateLimiter

from bot.domain.database import DatabaseUnavailableError
from bot.domain.ratelimit import StartLimiter

log = logging.getLogger(__name__)

# The longest one try of the shared limit may wait for the database; after one fails, sends skip
# the shared limit for AWAY_SECONDS (this instance's own limit still holds).
SHARED_TRY_SECONDS = 2.0
AWAY_SECONDS = 5.0


class SharedSends(BaseRateLimiter[int]):
    def __init__(self, own: BaseRateLimiter[int]) -> None:
        self._own = own
        self._shared: StartLimiter | None = None
        self._away_until = 0.0  # time.monotonic() until which the shared limit is skipped

    def share(self, limiter: StartLimiter) -> None:
        """From now on, sends to a chat also wait for `limiter` (one for all instances)."""
        self._shared = limiter

    @property
    def shared(self) -> bool:
        return self._shared is not None

    async def initialize(self) -> None:
        await self._own.initialize()

    async def shutdown(self) -> None:
        await self._own.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        # The calls AIORateLimiter counts against the overall limit: those to a chat.
        if (
            self._shared is not None
            and data.get("chat_id") is not None
            and time.monotonic() >= self._away_until
        ):
            # A send waits for its turn as long as the limit is busy, but not for a database
            # that is away (the apology that says so, a delivery): the limiter gives each try
            # SHARED_TRY_SECONDS, and this instance's own limit still holds meanwhile.
            try:
                await self._shared.acquire()
            except (DatabaseUnavailableError, TimeoutError) as exc:
                self._away_until = time.monotonic() + AWAY_SECONDS
                log.debug("Sending without the shared limit for a while: %r", exc)
        return await self._own.process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
