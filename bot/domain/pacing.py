"""The two rules that pace the bot's sends to Telegram, apart from where their state is kept:
in the process (bot.net.pacing.SendPacer) or in the database, for every instance together
(storage.send_turns.SharedSendTurns). bot.net.pacing's docstring says why these two.

- **The schedule**: a send may start when the schedule, one send every `interval` seconds, is
  due within `catch_up` seconds; each start moves it on by one interval from when it was due
  (or from now, after a quiet spell).
- **The window**: a send may start only while fewer than `window_count` sends are under way or
  were answered within the last `window` seconds.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

# Waits shorter than this are none (the schedule's sums of floats are not exact).
EPSILON = 1e-6


@dataclass(frozen=True)
class PacingRules:
    interval: float
    window_count: int
    window: float
    catch_up: float

    @classmethod
    def of(cls, rate: float, *, window_count: int, window: float, catch_up: float) -> PacingRules:
        if rate <= 0 or window_count < 1 or window <= 0 or catch_up < 0:
            raise ValueError("pacing needs rate > 0, window_count >= 1, window > 0, catch_up >= 0")
        return cls(1.0 / rate, window_count, window, catch_up)

    def wait(
        self,
        now: float,
        due: float,
        counted: int,
        oldest_answer: float | None,
        *,
        ahead: float | None = None,
    ) -> float:
        """Seconds until the next send may start (0: now). `due`: when the schedule's next
        send is due; `counted`: the sends under way or answered within the window; of them,
        `oldest_answer`: the earliest answer (None: all are under way). The schedule may run
        up to `ahead` seconds ahead (catch_up by default). inf: not until a send under way is
        answered."""
        wait = due - (self.catch_up if ahead is None else ahead) - now
        if wait <= EPSILON:  # the tolerance is the schedule's only: the window is kept exactly
            wait = 0.0
        if counted >= self.window_count:
            if oldest_answer is None:
                return float("inf")
            wait = max(wait, oldest_answer + self.window - now)
        return wait

    def held_until(self, now: float, seconds: float) -> float:
        """The schedule's next due time after Telegram said to wait `seconds` (a 429): no send
        before then, and no making up for the pause after it."""
        return now + seconds + self.catch_up

    def next_due(self, due: float, now: float) -> float:
        """When the schedule's next send is due once one starts `now`. After a quiet spell the
        schedule starts again from now: a burst of at most 1 + catch_up / interval sends."""
        return max(due, now) + self.interval


class NoTurnInTimeError(TimeoutError):
    """The shared pacing gave no turn within its deadline (the database answered)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no shared turn to send within {seconds:g} s")


class SharedPacing(Protocol):
    """The pacing every instance on the database keeps together (storage.send_turns)."""

    def turn(self, *, wait: bool) -> AbstractAsyncContextManager[bool]:
        """A turn for one send, counted until the block ends (its answer). `wait` False: only
        a turn free now, with nobody of this process waiting (False when there is none)."""

    async def hold(self, seconds: float) -> None:
        """Telegram said to wait: no instance starts a send for `seconds`."""

    async def flush(self) -> None:
        """Write what is left to write (before the database closes)."""
