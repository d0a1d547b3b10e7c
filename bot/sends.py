"""Telegram's flood limit (about 30 messages a second per bot) kept by every instance together.

Each send to a chat takes a turn of the process's SendPacer (bot.net.pacing:
TELEGRAM_SENDS_PER_SECOND on a schedule, and never more than TELEGRAM_SENDS_IN_ANY_SECOND
arriving at Telegram in any second); each try of it, a retry after Telegram's 429 too. With
several instances on one PostgreSQL database it also takes a turn of the same pacing kept in the
database (storage.send_turns), so that together they stay under Telegram's limit too; a 429
holds the sends of every instance.
python-telegram-bot's AIORateLimiter, inside, keeps the per-group limit (20 a minute) and waits
out `retry_after` answers.

A "sending video…" or "typing…" (sendChatAction) never waits for a turn: a sign of life is worth
nothing late, and at saturation it would double the queue of results (issue 18). It goes when a
turn is free at once and nobody waits; otherwise it is skipped (SendSkippedError).

Every Bot API call but getUpdates passes here (python-telegram-bot's ExtBot hands each to its
rate limiter; a long poll waits on purpose, and is neither limited nor counted), so this is also
where the calls are counted for /metrics: by method and outcome, each try of a call that
Telegram answered 429 ("retry_after") counted on its own; and where /readyz learns Telegram's
last answer or failure (bot.readiness).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram._utils.types import JSONDict
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter

from bot.domain.database import DatabaseUnavailableError
from bot.domain.health import Heartbeat
from bot.domain.metrics import Metrics
from bot.domain.pacing import NoTurnInTimeError, PacingRules, SharedPacing
from bot.net.pacing import SendPacer

log = logging.getLogger(__name__)

# The longest one try of the shared limit may wait for the database; after one fails, sends skip
# the shared limit for AWAY_SECONDS (this instance's own limit still holds).
SHARED_TRY_SECONDS = 2.0
AWAY_SECONDS = 5.0

Call = Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]]

# Best effort: sent only when a turn is free at once (see the module's docstring).
BEST_EFFORT = frozenset({"sendChatAction"})


class SendSkippedError(TelegramError):
    """A best-effort send was not made: Telegram's limit had no turn free at once."""

    def __init__(self) -> None:
        super().__init__("skipped: no turn free at once")


class SharedSends(BaseRateLimiter[int]):
    def __init__(
        self, own: BaseRateLimiter[int], pacer: SendPacer, metrics: Metrics | None = None
    ) -> None:
        """`own`: retries and per-group limits (its overall limit off: `pacer` keeps it).
        `metrics`: told of every call (None: nothing counted, nothing added per call)."""
        self._own = own
        self._pacer = pacer
        self._metrics = metrics
        self._shared: SharedPacing | None = None
        self._away_until = 0.0  # time.monotonic() until which the shared limit is skipped
        self._waiting_for_shared = 0  # sends with a pacer turn, waiting for a shared one
        self.heartbeat = Heartbeat()  # Telegram's last answer and failure, for /readyz

    def share(self, pacing: SharedPacing) -> None:
        """From now on, sends to a chat also wait for `pacing` (one for all instances, with the
        same rules as this process's: `rules`)."""
        self._shared = pacing

    @property
    def rules(self) -> PacingRules:
        return self._pacer.rules

    @property
    def shared(self) -> bool:
        return self._shared is not None

    async def initialize(self) -> None:
        await self._own.initialize()

    async def shutdown(self) -> None:
        await self._own.shutdown()
        if self._shared is not None:
            await self._shared.flush()

    async def process_request(
        self,
        callback: Call,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if self._metrics is not None:
            callback = counted(callback, endpoint, self._metrics)
        callback = _heard(callback, self.heartbeat)
        # The calls Telegram counts against the overall limit: those to a chat.
        if data.get("chat_id") is not None:
            callback = self._paced(callback, best_effort=endpoint in BEST_EFFORT)
        return await self._own.process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )

    def _paced(self, callback: Call, *, best_effort: bool) -> Call:
        """The call, each try made in a turn of the pacer and of the shared limit. A 429 holds
        every send of the pacer for its retry_after (AIORateLimiter holds only the sends that
        have not reached the pacer yet)."""

        async def call(*args: Any, **kwargs: Any) -> bool | JSONDict | list[JSONDict]:
            if best_effort:
                return await self._best_effort(callback, args, kwargs)
            async with self._pacer.turn(), contextlib.AsyncExitStack() as shared:
                self._waiting_for_shared += 1
                try:
                    await self._shared_turn(shared, wait=True)
                finally:
                    self._waiting_for_shared -= 1
                return await self._held_on_429(callback, args, kwargs)

        return call

    async def _best_effort(
        self, callback: Call, args: Any, kwargs: dict[str, Any]
    ) -> bool | JSONDict | list[JSONDict]:
        """Made only with turns free now, of the pacer and of the shared limit, that no other
        send waits for; else SendSkippedError. The shared turn is asked first, when the pacer
        would give one: a pacer's turn, once taken, is counted whether the send is made or not."""
        if self._waiting_for_shared or not self._pacer.free_now():
            raise SendSkippedError
        async with contextlib.AsyncExitStack() as shared:
            if not await self._shared_turn(shared, wait=False):
                raise SendSkippedError
            async with self._pacer.try_now() as turn:
                if not turn:  # taken meanwhile: the shared turn goes unused (counted, rarely)
                    raise SendSkippedError
                return await self._held_on_429(callback, args, kwargs)

    async def _held_on_429(
        self, callback: Call, args: Any, kwargs: dict[str, Any]
    ) -> bool | JSONDict | list[JSONDict]:
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            self._pacer.hold(seconds)
            if self._shared is not None and time.monotonic() >= self._away_until:
                try:
                    await self._shared.hold(seconds)
                except (DatabaseUnavailableError, TimeoutError) as hold_failed:
                    self._went_away(hold_failed)
                except Exception as hold_failed:  # unexpected; the 429 still goes on
                    log.exception("The shared pacing was not held for a 429")
                    self._went_away(hold_failed)
            raise

    async def _shared_turn(
        self, stack: contextlib.AsyncExitStack[bool | None], *, wait: bool
    ) -> bool:
        """A turn of the pacing every instance shares (none: True), entered into `stack`, which
        ends it. A send waits for its turn as long as the pacing says, but not for a database
        that is away (the apology that says so, a delivery): each try has SHARED_TRY_SECONDS,
        and after one fails, sends skip the shared pacing for AWAY_SECONDS (the pacer still
        holds). `wait` False: only a turn free now."""
        if self._shared is None or time.monotonic() < self._away_until:
            return True
        try:
            return await stack.enter_async_context(self._shared.turn(wait=wait))
        except (DatabaseUnavailableError, TimeoutError) as exc:
            self._went_away(exc)
        return True

    def _went_away(self, exc: Exception) -> None:
        self._away_until = time.monotonic() + AWAY_SECONDS
        # The database away is told elsewhere (/readyz, the tracker); a pacing that gives no
        # turn while the database answers is not.
        level = logging.WARNING if isinstance(exc, NoTurnInTimeError) else logging.DEBUG
        log.log(level, "Sending without the shared pacing for %g s: %r", AWAY_SECONDS, exc)


def retry_after_seconds(exc: RetryAfter) -> float:
    """How long Telegram said to wait, in seconds (an int or a timedelta, as PTB is set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22.2 deprecates the int form
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _heard(callback: Call, heartbeat: Heartbeat) -> Call:
    """The call, its outcome recorded in `heartbeat` each time it is tried: any answer from
    Telegram (a refusal too) is an answer; no answer, a 5xx or the token refused is a failure."""

    async def call(*args: Any, **kwargs: Any) -> bool | JSONDict | list[JSONDict]:
        try:
            result = await callback(*args, **kwargs)
        except InvalidToken as exc:
            heartbeat.failed(f"the token was refused ({exc})")
            raise
        except BadRequest:
            heartbeat.answered()
            raise
        except NetworkError as exc:  # no answer, or a server error (5xx); TimedOut too
            heartbeat.failed(f"{type(exc).__name__}: {exc}")
            raise
        except TelegramError:  # Forbidden, RetryAfter, Conflict...: Telegram answered
            heartbeat.answered()
            raise
        heartbeat.answered()
        return result

    return call


def counted(callback: Call, method: str, metrics: Metrics) -> Call:
    """The call, told to `metrics` each time it is tried (the rate limiter tries again after
    a 429)."""

    async def call(*args: Any, **kwargs: Any) -> bool | JSONDict | list[JSONDict]:
        started = time.perf_counter()
        try:
            result = await callback(*args, **kwargs)
        except Exception as exc:
            metrics.telegram_call(method, outcome_of(exc), time.perf_counter() - started)
            raise
        metrics.telegram_call(method, "ok", time.perf_counter() - started)
        return result

    return call


def outcome_of(exc: Exception) -> str:
    """What a failed Bot API call came to, in a word (a metric's label)."""
    match exc:  # the order matters: BadRequest and TimedOut are NetworkErrors
        case RetryAfter():
            return "retry_after"
        case Forbidden():
            return "forbidden"
        case BadRequest():
            return "bad_request"
        case TimedOut():
            return "timed_out"
        case Conflict():
            return "conflict"
        case InvalidToken():
            return "invalid_token"
        case NetworkError():
            return "network_error"
    return "error"
