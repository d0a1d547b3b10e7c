"""Telegram's flood limit kept by every instance on the database together: the pacing rules of
bot.domain.pacing (a schedule, and a count of the sends under way or answered within the last
second), with their state in the database instead of in one process.

- `send_schedule`: one row per limit, when its next send is due.
- `send_turns`: one row per send under way or answered within the window: its instance, its
  start and its answer.

Taking a turn is one transaction, under a lock on the schedule's row (SELECT ... FOR UPDATE in
PostgreSQL, the write lock in SQLite). Answers older than the window are deleted, and so are
sends left under way by an instance that is gone: not seen (`instances.seen_at`) for
`owner_timeout` seconds, the send older than that too. Age alone says nothing, as an upload may
take minutes. The rest are counted; if the rules allow, the send is written and the schedule
moves on. Otherwise the caller waits as the rules say:
- until the schedule is due;
- or until the oldest answer leaves the window;
- while every counted send is under way, it asks again every POLL_SECONDS, as answers at other
  instances are not heard, or at once when a send of this process is answered.

A send's row gets its answer's time when the send ends. An answer that could not be written
(the database away) is written with this instance's next turn; until then it counts as under way,
which is on the safe side. Times are wall-clock seconds, which instances on several hosts share
(keep their clocks synchronised, as NTP does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable

from bot.domain.pacing import PacingRules
from storage.asking import AskInOrder
from storage.db import Database, DatabaseUnavailableError

log = logging.getLogger(__name__)

# While every send counted is under way: how often a waiter asks again.
POLL_SECONDS = 0.05


class SharedSendTurns:
    def __init__(
        self,
        db: Database,
        name: str,
        rules: PacingRules,
        *,
        owner: str,
        owner_timeout: float,
        clock: Callable[[], float] = time.time,
        try_timeout: float | None = None,
    ) -> None:
        """`owner`: this instance's id; `owner_timeout`: how long an instance may go unseen
        before it is gone (INSTANCE_TIMEOUT_SECONDS). `try_timeout`: storage.asking."""
        self._db = db
        self._name = name
        self._rules = rules
        self._owner = owner
        self._owner_timeout = owner_timeout
        self._clock = clock
        self._asking = AskInOrder(try_timeout)
        self._schedule_made = False
        self._unwritten_ends: dict[str, float] = {}  # token -> answer time, not yet written
        self._ended = asyncio.Event()  # a send of this process was answered

    @contextlib.asynccontextmanager
    async def turn(self, *, wait: bool) -> AsyncIterator[bool]:
        """A turn for one send, counted until the block ends (its answer). `wait` False: only
        a turn free now, the schedule due without running ahead, and nobody of this process
        waiting (False when there is none). DatabaseUnavailableError or TimeoutError when the
        database does not answer in time."""
        token = await (self._wait_for_turn() if wait else self._turn_now())
        if token is None:
            yield False
            return
        try:
            yield True
        finally:
            await self._end(token)

    async def hold(self, seconds: float) -> None:
        """Telegram said to wait: no instance starts a send for `seconds`, and the schedule goes
        on from then, without making up for the pause."""
        until = self._clock() + seconds + self._rules.catch_up
        await self._asking.attempt(self._hold_until(until))

    async def _hold_until(self, until: float) -> None:
        await self._make_schedule()
        await self._db.execute(
            "UPDATE send_schedule SET due = ? WHERE name = ? AND due < ?",
            (until, self._name, until),
        )

    async def _wait_for_turn(self) -> str:
        async with self._asking.turn():
            while True:
                self._ended.clear()
                token, wait = await self._asking.attempt(self._try(ahead=None))
                if token is not None:
                    return token
                if wait != float("inf"):
                    await asyncio.sleep(wait)
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await self._ended.wait()

    async def _turn_now(self) -> str | None:
        if self._asking.waiting:
            return None
        token, _ = await self._asking.attempt(self._try(ahead=0.0))
        return token

    async def _end(self, token: str) -> None:
        ended = self._clock()
        self._ended.set()
        try:
            await self._asking.attempt(
                self._db.execute(
                    "UPDATE send_turns SET ended_at = ? WHERE token = ?", (ended, token)
                )
            )
        except (DatabaseUnavailableError, TimeoutError) as exc:
            self._unwritten_ends[token] = ended
            log.debug("A send's answer is written with the next turn: %r", exc)

    async def _make_schedule(self) -> None:
        if not self._schedule_made:
            await self._db.execute(
                "INSERT INTO send_schedule (name, due) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
                (self._name,),
            )
            self._schedule_made = True

    async def _try(self, *, ahead: float | None) -> tuple[str | None, float]:
        """One try: (the send's token, 0) when it may start, else (None, the seconds the rules
        say to wait)."""
        await self._make_schedule()
        ends = dict(self._unwritten_ends)
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                f"SELECT due FROM send_schedule WHERE name = ?{conn.for_update}", (self._name,)
            )
            due = float(row[0]) if row else 0.0
            now = self._clock()
            for unwritten, ended in ends.items():
                await conn.execute(
                    "UPDATE send_turns SET ended_at = ? WHERE token = ?", (ended, unwritten)
                )
            gone = now - self._owner_timeout
            await conn.execute(
                "DELETE FROM send_turns WHERE name = ? AND (ended_at <= ? OR (ended_at IS NULL "
                "AND started_at < ? AND owner NOT IN "
                "(SELECT id FROM instances WHERE seen_at >= ?)))",
                (self._name, now - self._rules.window, gone, gone),
            )
            counts = await conn.fetch_one(
                "SELECT COUNT(*), MIN(ended_at) FROM send_turns WHERE name = ?", (self._name,)
            )
            counted, oldest = (int(counts[0]), counts[1]) if counts else (0, None)
            wait = self._rules.wait(
                now, due, counted, None if oldest is None else float(oldest), ahead=ahead
            )
            token: str | None = None
            if wait == 0:
                token = secrets.token_hex(8)
                await conn.execute(
                    "INSERT INTO send_turns (token, name, owner, started_at) VALUES (?, ?, ?, ?)",
                    (token, self._name, self._owner, now),
                )
                await conn.execute(
                    "UPDATE send_schedule SET due = ? WHERE name = ?",
                    (self._rules.next_due(due, now), self._name),
                )
        for written in ends:
            self._unwritten_ends.pop(written, None)
        return token, wait
