"""The sliding-window limiter: never more than N starts in any T seconds."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from bot.logs.report_throttle import ReportThrottle
from bot.net.ratelimit import WindowLimiter
from storage.db import Database, DatabaseUnavailableError
from storage.rates import SharedWindowLimiter
from tests.database import TestDatabase


async def test_no_window_ever_holds_more_than_the_limit() -> None:
    limiter = WindowLimiter(5, 0.5)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(16)))
    starts.sort()
    for i, start in enumerate(starts):
        assert len([s for s in starts[i:] if s - start < 0.5 - 0.01]) <= 5
    assert starts[-1] - starts[0] >= 1.0  # 16 starts at 5 per half second take 3 windows


def test_a_bad_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="needs count"):
        WindowLimiter(0, 1.0)


def test_reports_beyond_the_burst_are_held_and_counted() -> None:
    now = [0.0]
    throttle = ReportThrottle(burst=3, window=60, clock=lambda: now[0])
    assert [throttle.allow() for _ in range(5)] == [True, True, True, False, False]
    assert throttle.take_held() == 2
    assert throttle.take_held() == 0
    now[0] = 61
    assert throttle.allow()


async def test_a_reserved_turn_is_used_by_the_next_start_and_counted_from_then() -> None:
    now = [0.0]
    limiter = WindowLimiter(2, 10.0, clock=lambda: now[0])
    await limiter.reserve()  # at 0
    now[0] = 4.0
    assert await limiter.use_reserved()  # uses the reserved turn: counted at 4, not at 0
    await limiter.acquire()  # the second turn, at 4
    now[0] = 10.0  # had the first stayed at 0, a turn would be free now
    third = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    third.cancel()


async def test_a_turn_reserved_more_than_a_period_ago_is_not_a_free_pass() -> None:
    now = [0.0]
    limiter = WindowLimiter(1, 10.0, clock=lambda: now[0])
    await limiter.reserve()  # at 0; forgotten by 10
    now[0] = 11.0
    assert await limiter.use_reserved()  # the stale turn is no pass: a turn of its own, at 11
    now[0] = 12.0
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not second.done()  # the stale reservation did not let a second start in
    second.cancel()
    assert not await limiter.try_take()  # and nothing else goes in without waiting


async def test_a_stale_reserved_turn_with_the_window_full_is_no_turn_and_does_not_wait() -> None:
    """The task says `submitting` by the time it uses its turn: it must not wait there (a kill
    meanwhile would make it "outcome unknown" though never sent), so it hears "no turn"."""
    now = [0.0]
    limiter = WindowLimiter(1, 10.0, clock=lambda: now[0])
    await limiter.reserve()  # at 0
    now[0] = 11.0
    assert await limiter.try_take()  # another start fills the window at 11
    async with asyncio.timeout(1.0):
        assert not await limiter.use_reserved()


async def test_a_reserved_turn_is_used_without_waiting_behind_those_still_waiting() -> None:
    now = [0.0]
    limiter = WindowLimiter(1, 10.0, clock=lambda: now[0])
    await limiter.reserve()  # the one turn of this window
    waiting = asyncio.create_task(limiter.reserve())  # holds the lock, sleeping for the next
    await asyncio.sleep(0)
    assert await asyncio.wait_for(limiter.use_reserved(), timeout=1)  # not stuck behind it
    waiting.cancel()


async def test_a_shared_limit_holds_for_every_instance_together(database: TestDatabase) -> None:
    """Two instances (two connections to one database), each with the provider's limiter:
    together they start no more than `count` in any `period`, reserved turns included."""
    one, two = await Database.open(database.target), await Database.open(database.target)
    try:
        limits = [SharedWindowLimiter(db, "submits:test", 3, 0.5) for db in (one, two)]
        starts: list[float] = []

        async def submit(limiter: SharedWindowLimiter, reserve: bool) -> None:
            if reserve:
                await limiter.reserve()
                assert await limiter.use_reserved()
            else:
                await limiter.acquire()
            starts.append(time.monotonic())

        await asyncio.gather(*(submit(limits[n % 2], n % 3 == 0) for n in range(12)))
        starts.sort()
        assert len(starts) == 12
        for i in range(len(starts) - 3):  # any 4 starts in a row span more than a period
            assert starts[i + 3] - starts[i] >= 0.5 - 0.05, starts
        assert starts[-1] - starts[0] >= 1.5 - 0.05  # 12 starts need 3 full periods
    finally:
        await one.close()
        await two.close()


async def test_the_admins_report_throttle_is_shared_by_every_instance(
    database: TestDatabase,
) -> None:
    """Each instance asks its own throttle, then the shared one: a storm seen by two instances
    gives the admins one window's reports, and each instance counts what it held back."""
    one, two = await Database.open(database.target), await Database.open(database.target)
    try:
        shared = [SharedWindowLimiter(db, "admin-reports", 3, 600.0) for db in (one, two)]
        own = [ReportThrottle(burst=3, window=600.0) for _ in shared]
        sent = 0
        for n in range(8):
            mine, ours = own[n % 2], shared[n % 2]
            if not mine.allow():
                continue
            if await ours.try_take():
                sent += 1
            else:
                mine.hold()
        assert sent == 3
        assert own[0].take_held() + own[1].take_held() == 5
    finally:
        await one.close()
        await two.close()


class CountedTries:
    """A database that counts the shared limiter's tries (each is one transaction), and can
    stop answering (`hang`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tries = 0
        self.hang = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def transaction(self) -> Any:
        self.tries += 1
        if self.hang:
            return Hung()
        return self.db.transaction()


class Hung:
    async def __aenter__(self) -> None:
        await asyncio.Event().wait()

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_waiters_of_one_instance_ask_the_database_one_at_a_time(
    database: TestDatabase,
) -> None:
    """Twenty starts waiting for a busy limit cost a transaction per free place (and one per
    wait), not one per waiter each time a place frees."""
    db = await Database.open(database.target)
    try:
        counted = CountedTries(db)
        limiter = SharedWindowLimiter(cast(Database, counted), "submits:test", 5, 0.3)
        await asyncio.gather(*(limiter.acquire() for _ in range(20)))
        # 20 starts, and for each of the 15 after the first window at most one try that finds
        # it full (the one waiter wakes as the oldest start leaves; the next start may still be
        # in the window then, as the starts of a window are a transaction apart). One try per
        # waiter at each place freed would be 20 + 15 + 10 + 5 + ... = 50 or more.
        assert counted.tries <= 20 + 15, counted.tries
    finally:
        await db.close()


async def test_waiters_behind_a_try_the_database_did_not_answer_fail_at_once(
    database: TestDatabase,
) -> None:
    """A send must not wait for a database that is away: the first try gives up after
    `try_timeout`, and those queued behind it give up with it, not one after another."""
    db = await Database.open(database.target)
    try:
        counted = CountedTries(db)
        counted.hang = True
        limiter = SharedWindowLimiter(
            cast(Database, counted), "submits:test", 5, 1.0, try_timeout=0.3
        )
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(limiter.acquire() for _ in range(5)), return_exceptions=True
        )
        assert isinstance(outcomes[0], TimeoutError)
        assert all(isinstance(o, DatabaseUnavailableError) for o in outcomes[1:]), outcomes
        assert counted.tries == 1
        assert time.monotonic() - started < 5 * 0.3
        counted.hang = False  # the database is back: the next send takes its turn
        await limiter.acquire()
    finally:
        await db.close()


async def test_a_turn_given_back_frees_its_place_in_the_window() -> None:
    """A task that waited for its turn and then was not sent (another instance took it, or the
    provider's slots filled) gives the turn back: the next start need not wait for it."""
    limiter = WindowLimiter(2, 60.0)
    await limiter.reserve()
    await limiter.reserve()
    await limiter.give_back()
    async with asyncio.timeout(1.0):  # a place is free at once, not in 60 s
        await limiter.acquire()
    assert await limiter.use_reserved()  # the turn not given back is still there


async def test_a_turn_given_back_frees_its_place_in_the_shared_window(
    database: TestDatabase,
) -> None:
    db = await Database.open(database.target)
    try:
        limiter = SharedWindowLimiter(db, "submits:test", 2, 60.0)
        await limiter.reserve()
        await limiter.reserve()
        await limiter.give_back()
        async with asyncio.timeout(2.0):
            await limiter.acquire()
        assert await limiter.use_reserved()
    finally:
        await db.close()
