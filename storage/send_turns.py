"""Telegram's flood limit kept by every instance on the database together: the pacing rules of
bot.domain.pacing (a schedule, and a count of the sends under way or answered within the last
second), with their state in the database instead of in one process.

- `send_schedule`: one row per limit, when its next send is due.
- `send_turns`: one row per send under way or answered within the window: its instance, its
  start and its answer.

Taking a turn is two statements. The first reads the schedule and counts the sends: those
answered within the window, and those under way, unless left so by an instance that is gone
(not seen, `instances.seen_at`, for `owner_timeout` seconds, the send older than that too: age
alone says nothing, as an upload may take minutes). If the rules allow a send, the second moves
the schedule on, on condition that it is where it was read, and writes the send: every turn
moves the schedule, so if it is unmoved nobody took a turn in between and the count still
holds. Otherwise (another instance was quicker) the caller reads again. No lock is held across
round trips: on PostgreSQL the second is one statement; with three instances at 25 sends a
second, a transaction held over five round trips on busy machines spaced turns apart by its
length (23.7 sends a second). When the rules say no, the caller waits as they say:
- until the schedule is due;
- or until the oldest answer leaves the window;
- while every counted send is under way, it asks again every POLL_SECONDS, as answers at other
  instances are not heard, or at once when a send of this process is answered.
Rows no longer counted are deleted at most once a window, by an instance writing answers.

A send's row gets its answer's time when the send ends, written apart from the send's path
(which goes on at once) by one writer per instance. An answer that could not be written (the
database away) is written with this instance's next turn; until then it counts as under way,
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

from bot.domain.cancelling import cancel_and_wait
from bot.domain.pacing import NoTurnInTimeError, PacingRules
from storage.asking import AskInOrder
from storage.db import Database, DatabaseUnavailableError, Dialect

log = logging.getLogger(__name__)

# While every send counted is under way: how often a waiter asks again.
POLL_SECONDS = 0.05
# A send under way longer than this stops counting, whoever made it: a turn whose answer was
# never written (lost with a claim cut short) heals. Longer than an upload may take
# (bot.delivery.UPLOAD_TIMEOUT, 300 s each way).
MAX_UNDER_WAY_SECONDS = 900.0
# The longest a send waits for a shared turn while the database answers and every send counted
# is under way (none of them answered: nothing says when a turn will come): past it,
# NoTurnInTimeError (SharedSends then keeps to the instance's own pacing for a while). Waits
# the rules give a time for (the schedule, a 429's hold, an answer leaving the window) do not
# count.
TURN_DEADLINE_SECONDS = 30.0
# After the answers could not be written: when the writer tries again.
WRITE_RETRY_SECONDS = 1.0
# At shutdown: how long `flush` waits for the answers to be written.
FLUSH_SECONDS = 2.0


class _ClaimLostError(Exception):
    """Another instance moved the schedule first (SQLite: rolls the claim back)."""


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
        self._swept_at = float("-inf")  # when rows no longer counted were last deleted
        self._unwritten_ends: dict[str, float] = {}  # token -> answer time, not yet written
        self._ended = asyncio.Event()  # an answer of this process was written
        self._writer: asyncio.Task[None] | None = None  # writes the answers (_end)

    @contextlib.asynccontextmanager
    async def turn(self, *, wait: bool) -> AsyncIterator[bool]:
        """A turn for one send, counted until the block ends (its answer). `wait` False: only
        a turn free now, the schedule due without running ahead, and nobody of this process
        waiting (False when there is none). DatabaseUnavailableError or TimeoutError when the
        database does not answer in time; NoTurnInTimeError after TURN_DEADLINE_SECONDS."""
        token = await (self._wait_for_turn() if wait else self._turn_now())
        if token is None:
            yield False
            return
        try:
            yield True
        finally:
            self._end(token)

    async def hold(self, seconds: float) -> None:
        """Telegram said to wait: no instance starts a send for `seconds`, and the schedule goes
        on from then, without making up for the pause."""
        until = self._rules.held_until(self._clock(), seconds)
        await self._asking.attempt(self._hold_until(until))

    async def flush(self) -> None:
        """Write the answers not written yet, waiting at most FLUSH_SECONDS (at shutdown, before
        the database closes); what is left counts until MAX_UNDER_WAY_SECONDS or until this
        instance is taken for gone."""
        if self._unwritten_ends:
            self._start_writer()
        if self._writer is None or self._writer.done():
            return
        try:
            async with asyncio.timeout(FLUSH_SECONDS):
                await asyncio.shield(self._writer)
        except TimeoutError:
            await cancel_and_wait(self._writer)

    async def _hold_until(self, until: float) -> None:
        await self._make_schedule()
        await self._db.execute(
            "UPDATE send_schedule SET due = ? WHERE name = ? AND due < ?",
            (until, self._name, until),
        )

    async def _wait_for_turn(self) -> str:
        async with self._asking.turn():
            stuck_since = time.monotonic()
            while True:
                self._ended.clear()
                token, wait = await self._asking.attempt(self._try(ahead=None))
                if token is not None:
                    return token
                if wait != float("inf"):
                    await asyncio.sleep(wait)
                    stuck_since = time.monotonic()
                    continue
                if time.monotonic() - stuck_since > TURN_DEADLINE_SECONDS:
                    raise NoTurnInTimeError(TURN_DEADLINE_SECONDS)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await self._ended.wait()

    async def _turn_now(self) -> str | None:
        if self._asking.waiting:
            return None
        token, _ = await self._asking.attempt(self._try(ahead=0.0))
        return token

    def _end(self, token: str) -> None:
        """The send was answered: its row gets the time, written apart from the send's path
        by one writer at a time (one connection, however many sends end together)."""
        self._unwritten_ends[token] = self._clock()
        self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_ends_apart())

    async def _write_ends_apart(self) -> None:
        """Write the answers, and sweep, until none is left to write (answers that come
        meanwhile too); while the database is away, again every WRITE_RETRY_SECONDS."""
        while self._unwritten_ends:
            try:
                await self._asking.attempt(self._write_ends())
                await self._asking.attempt(self._sweep(self._clock()))
            except (DatabaseUnavailableError, TimeoutError) as exc:
                log.debug("Sends' answers not written yet: %r", exc)
                await asyncio.sleep(WRITE_RETRY_SECONDS)
            except Exception:  # not the database away: written with the next turn
                log.exception("Could not write the answers of sends to Telegram")
                return

    async def _write_ends(self) -> None:
        while self._unwritten_ends:
            token, ended = next(iter(self._unwritten_ends.items()))
            # An upsert: a claim cut short may commit after its answer is written (then the
            # claim fails on the token, and its move of the schedule with it).
            await self._db.execute(
                "INSERT INTO send_turns (token, name, owner, started_at, ended_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (token) DO UPDATE SET ended_at = ?",
                (token, self._name, self._owner, ended, ended, ended),
            )
            # Written: gone from the list, unless another writer took it out meanwhile.
            if self._unwritten_ends.get(token) == ended:
                del self._unwritten_ends[token]
            self._ended.set()

    async def _make_schedule(self) -> None:
        if not self._schedule_made:
            await self._db.execute(
                "INSERT INTO send_schedule (name, due) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
                (self._name,),
            )
            self._schedule_made = True

    async def _try(self, *, ahead: float | None) -> tuple[str | None, float]:
        """One try: (the send's token, 0) when it may start, else (None, the seconds the rules
        say to wait; 0 when another instance took the turn meanwhile: ask again)."""
        await self._make_schedule()
        if self._writer is None or self._writer.done():  # answers its last try left unwritten
            await self._write_ends()
        now = self._clock()
        bounds = self._live_bounds(now)
        row = await self._db.fetch_one(_COUNTED, (*bounds, bounds[0], self._name))
        if row is None:  # the schedule's row was deleted: made again at the next try
            self._schedule_made = False
            return None, 0.0
        due, counted = float(row[0]), int(row[1])
        oldest = None if row[2] is None else float(row[2])
        wait = self._rules.wait(now, due, counted, oldest, ahead=ahead)
        if wait > 0:
            return None, wait
        token = secrets.token_hex(8)
        try:
            claimed = await self._claim(due, self._rules.next_due(due, now), token, now)
        except BaseException:
            # Cut short (a timeout, a cancellation): the claim may have been made all the
            # same. Its answer, now, ends the row if there is one.
            self._unwritten_ends[token] = self._clock()
            self._start_writer()
            raise
        return (token, 0.0) if claimed else (None, 0.0)

    async def _claim(self, due: float, next_due: float, token: str, now: float) -> bool:
        """Write the send and move the schedule on from `due`, if it is still at `due`: every
        turn and hold moves it (always later), so then nobody took a turn since it was read,
        and the count read with it still holds (answers and sweeps only lower it)."""
        send = (token, self._name, self._owner, now)
        moved = (next_due, self._name, due)
        if self._db.dialect is Dialect.POSTGRESQL:  # one statement: the row locked only in it
            return (
                await self._db.execute(
                    "WITH moved AS (UPDATE send_schedule SET due = ? WHERE name = ? AND due = ? "
                    "RETURNING name) INSERT INTO send_turns (token, name, owner, started_at) "
                    "SELECT ?, name, ?, ? FROM moved",
                    (*moved, token, self._owner, now),
                )
                == 1
            )
        # SQLite: reads on the connection see this transaction's writes before it commits, so
        # the send is written first: a read in between counts it with the old schedule, and
        # its claim then fails (on the safe side).
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO send_turns (token, name, owner, started_at) VALUES (?, ?, ?, ?)",
                    send,
                )
                if not await conn.execute(
                    "UPDATE send_schedule SET due = ? WHERE name = ? AND due = ?", moved
                ):
                    raise _ClaimLostError
        except _ClaimLostError:
            return False
        return True

    async def _sweep(self, now: float) -> None:
        """Delete the rows no longer counted, at most once a window."""
        if now - self._swept_at < self._rules.window:
            return
        self._swept_at = now
        await self._db.execute(
            f"DELETE FROM send_turns WHERE name = ? AND {_LIVE} IS NOT TRUE",
            (self._name, *self._live_bounds(now)),
        )

    def _live_bounds(self, now: float) -> tuple[float, float, float, float]:
        """_LIVE's parameters at `now`."""
        gone = now - self._owner_timeout
        return now - self._rules.window, now - MAX_UNDER_WAY_SECONDS, gone, gone


# A send counted: answered within the window, or under way (not for longer than
# MAX_UNDER_WAY_SECONDS) unless left so by an instance that is gone (the send older than the
# instance timeout, the instance not seen within it). NULL for some rows that do not count
# (SQL's NULL logic): `_sweep` deletes those too ("IS NOT TRUE").
_LIVE = (
    "(ended_at > ? OR (ended_at IS NULL AND started_at >= ? AND (started_at >= ? OR owner IN "
    "(SELECT id FROM instances WHERE seen_at >= ?))))"
)
_COUNTED = (
    "SELECT s.due, "
    f"(SELECT COUNT(*) FROM send_turns t WHERE t.name = s.name AND {_LIVE}), "
    "(SELECT MIN(ended_at) FROM send_turns t WHERE t.name = s.name AND ended_at > ?) "
    "FROM send_schedule s WHERE s.name = ?"
)
