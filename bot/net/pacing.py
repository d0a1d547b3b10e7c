"""Pacing of the bot's sends to Telegram: a steady rate that keeps to its schedule, and never
more than a given count arriving at Telegram in any one-second window.

Two rules, both checked before each send:
- **The schedule** (a "generic cell rate algorithm"): a send may go when the schedule, one send
  every 1 / rate seconds, is due within `catch_up` seconds. So the schedule runs up to
  `catch_up` ahead: a send that went a little late (a busy event loop wakes a few milliseconds
  late) does not push the ones after it back, and after a spell with nothing to send (results
  not ready, the machine busy) up to `catch_up` seconds' worth of sends are made up for. A leaky
  bucket that spaces each send from the previous one's real start loses every late wake-up for
  good (issue 18: 24.4 sends a second for 25 asked, 8 s behind after 10,000 sends).
- **What Telegram can see**: a request reaches Telegram at some moment between the start of the
  send and its answer, so a send is counted in every window from its start until its answer
  (while it is under way, in all windows to come). A send may start only while fewer than
  `window_count` sends are under way or answered within the last `window` seconds. Then no
  window of `window` seconds, wherever it lies, holds more than `window_count` arrivals at
  Telegram, however the requests bunch on the way (a send's arrival in a window means its
  interval meets the window; the last of them to start counted all the others when it did).
  This rule also caps the making up of the first: at most `window_count` a second.

The rules themselves are bot.domain.pacing's; here their state is the process's own
(storage.send_turns keeps it in the database, for several instances).

Waiters take their turns first come, first served. `try_now` takes a turn only when nobody is
waiting and the schedule is due without running ahead: for sends worth nothing late ("sending
video…"), which must not spend the making up that results wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from bot.domain.pacing import PacingRules


class SendPacer:
    def __init__(
        self,
        rate: float,
        *,
        window_count: int,
        window: float = 1.0,
        catch_up: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = PacingRules.of(
            rate, window_count=window_count, window=window, catch_up=catch_up
        )
        self._clock = clock
        self._due = float("-inf")  # when the next send is due by the schedule
        self._under_way = 0
        self._answered: deque[float] = deque()  # answer times within the last window
        self._lock = asyncio.Lock()  # the waiter whose turn is next
        self._ended = asyncio.Event()  # a send was answered (set when one is waited for)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn; the send is made inside the block, and counted until it ends."""
        async with self._lock:
            while (wait := self._wait(self._clock())) > 0:
                self._ended.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if wait == float("inf") else wait):
                        await self._ended.wait()
            self._take(self._clock())
        try:
            yield
        finally:
            self._end()

    def free_now(self) -> bool:
        """Whether `try_now` would give a turn now."""
        return not self._lock.locked() and self._wait(self._clock(), ahead=0.0) == 0

    @contextlib.asynccontextmanager
    async def try_now(self) -> AsyncIterator[bool]:
        """A turn now if nobody waits and the schedule is due, not ahead (True), else none
        (False); never waits."""
        if not self.free_now():
            yield False
            return
        self._take(self._clock())
        try:
            yield True
        finally:
            self._end()

    def hold(self, seconds: float) -> None:
        """Telegram said to wait (a 429's retry_after): no send starts for `seconds`, and the
        schedule goes on from then, without making up for the pause."""
        self._due = max(self._due, self.rules.held_until(self._clock(), seconds))
        self._ended.set()  # a waiter computes its wait again

    def _wait(self, now: float, ahead: float | None = None) -> float:
        """Seconds until the next send may start (0: now), the schedule running up to `ahead`
        seconds ahead (catch_up by default); inf: until a send under way is answered."""
        while self._answered and self._answered[0] <= now - self.rules.window:
            self._answered.popleft()
        return self.rules.wait(
            now,
            self._due,
            self._under_way + len(self._answered),
            self._answered[0] if self._answered else None,
            ahead=ahead,
        )

    def _take(self, now: float) -> None:
        self._due = self.rules.next_due(self._due, now)
        self._under_way += 1

    def _end(self) -> None:
        self._under_way -= 1
        self._answered.append(self._clock())
        self._ended.set()
