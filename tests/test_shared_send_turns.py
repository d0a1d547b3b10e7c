"""The pacing of sends to Telegram kept by every instance on the database together
(storage.send_turns.SharedSendTurns): the window and the schedule held by two instances at
once, a 429 at one holding the other, sends left under way by a gone instance forgotten, an
answer the database missed written later, and a database that is away never waited for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, cast

import pytest
from telegram.ext import AIORateLimiter

from bot.domain.pacing import PacingRules
from bot.net.pacing import SendPacer
from bot.sends import SharedSends
from storage import send_turns
from storage.db import Database, DatabaseUnavailableError
from storage.send_turns import SharedSendTurns
from tests.database import TestDatabase, connect


@contextlib.asynccontextmanager
async def two_instances(database: TestDatabase) -> Any:
    """Two connections to one database, as two instances have, and what makes their shared
    pacing (each closed, its answers written, before the connections close)."""
    one, two = await Database.open(database.target), await Database.open(database.target)
    made: list[SharedSendTurns] = []

    def turns(db: Database, rules: PacingRules, owner: str, **options: Any) -> SharedSendTurns:
        made.append(
            SharedSendTurns(db, "telegram", rules, owner=owner, owner_timeout=20.0, **options)
        )
        return made[-1]

    try:
        yield one, two, turns
    finally:
        for pacing in made:
            await pacing.flush()
        await one.close()
        await two.close()


def fullest_window(sends: list[tuple[float, float]], window: float) -> int:
    """The most sends (start, answer) that meet any one window of `window` seconds: a send
    meets [t, t + window) when it starts before its end and is answered at t or later. The
    most is found with t at a send's start or answer."""
    edges = [t for send in sends for t in send]
    return max(sum(1 for s, e in sends if s < t + window and e >= t) for t in edges)


async def test_two_instances_together_keep_the_window(database: TestDatabase) -> None:
    rules = PacingRules.of(1000, window_count=4, window=0.3, catch_up=0.0)
    durations = random.Random(18)
    async with two_instances(database) as (one, two, turns):
        pacings = [turns(one, rules, "one"), turns(two, rules, "two")]
        sends: list[tuple[float, float]] = []

        async def send(pacing: SharedSendTurns) -> None:
            async with pacing.turn(wait=True) as turn:
                assert turn
                started = time.time()
                await asyncio.sleep(durations.uniform(0, 0.1))  # the request on its way
                sends.append((started, time.time()))

        await asyncio.gather(*(send(pacings[n % 2]) for n in range(16)))
    assert len(sends) == 16
    assert fullest_window(sends, 0.3) <= 4, sorted(sends)
    # 16 sends, 4 at a time with each a window apart: at least 3 windows
    assert max(e for _, e in sends) - min(s for s, _ in sends) >= 3 * 0.3


async def test_two_instances_together_keep_the_schedule(database: TestDatabase) -> None:
    rules = PacingRules.of(20, window_count=1000, window=1.0, catch_up=0.0)
    async with two_instances(database) as (one, two, turns):
        pacings = [turns(one, rules, "one"), turns(two, rules, "two")]
        starts: list[float] = []

        async def send(pacing: SharedSendTurns) -> None:
            async with pacing.turn(wait=True):
                starts.append(time.monotonic())

        await asyncio.gather(*(send(pacings[n % 2]) for n in range(10)))
    # one send every 0.05 s between them (a waiter may wake a little early or late)
    assert max(starts) - min(starts) >= 9 * 0.05 - 0.05, sorted(starts)


async def test_a_turn_now_never_spends_the_making_up(database: TestDatabase) -> None:
    """A chat action takes a turn only when the schedule is due now; a result may use the
    catch-up the schedule allows."""
    rules = PacingRules.of(0.5, window_count=100, window=1.0, catch_up=3.0)
    async with two_instances(database) as (one, two, turns):
        first, second = turns(one, rules, "one"), turns(two, rules, "two")
        async with first.turn(wait=False) as turn:
            assert turn
        async with second.turn(wait=False) as turn:
            assert not turn  # the next is due in 2 s: only by making up
        async with asyncio.timeout(1.5), second.turn(wait=True) as turn:
            assert turn


async def test_a_429_at_one_instance_holds_the_other(database: TestDatabase) -> None:
    rules = PacingRules.of(1000, window_count=100, window=1.0, catch_up=0.0)
    async with two_instances(database) as (one, two, turns):
        refused, other = turns(one, rules, "one"), turns(two, rules, "two")
        held_at = time.monotonic()
        await refused.hold(0.4)
        async with other.turn(wait=False) as turn:
            assert not turn
        async with other.turn(wait=True):
            assert time.monotonic() - held_at >= 0.4 - 0.02


def rows_under_way(database: TestDatabase) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return [
            tuple(row)
            for row in conn.execute(
                "SELECT owner FROM send_turns WHERE ended_at IS NULL ORDER BY owner"
            ).fetchall()
        ]


async def test_sends_left_under_way_by_a_gone_instance_stop_counting(
    database: TestDatabase,
) -> None:
    """An instance killed mid-send leaves its send under way. It stops counting once the
    instance is gone (not seen for the timeout), and its row is deleted; a live instance's long
    upload still counts, and so does the send of an instance not registered yet."""
    rules = PacingRules.of(1000, window_count=3, window=60.0, catch_up=0.0)
    async with two_instances(database) as (db, _, turns):
        pacing = turns(db, rules, "me")
        async with pacing.turn(wait=False) as turn:  # makes the schedule's row
            assert turn
        await pacing.flush()  # its answer written before the rows are replaced below
        now = time.time()
        with connect(database) as conn:
            conn.execute("DELETE FROM send_turns")
            conn.execute(
                "INSERT INTO instances (id, host, pid, mode, started_at, seen_at) "
                "VALUES ('live', 'h', 1, 'webhook', ?, ?), ('dead', 'h', 2, 'webhook', ?, ?)",
                (now - 60, now, now - 60, now - 30),
            )
            for owner, started in (("live", now - 40), ("dead", now - 40), ("new", now - 5)):
                conn.execute(
                    "INSERT INTO send_turns (token, name, owner, started_at) "
                    "VALUES (?, 'telegram', ?, ?)",
                    (owner, owner, started),
                )
        # 2 of the 3 count: a third send may go, and the dead one's row is swept (by an
        # instance that has not swept within the window: a new one)
        pacing = turns(db, rules, "me")
        async with pacing.turn(wait=False) as turn:
            assert turn
        await pacing.flush()  # its answer written, and the rows no longer counted swept
        assert rows_under_way(database) == [("live",), ("new",)]
        # with it, 3 are under way or answered within the window: no fourth
        async with pacing.turn(wait=False) as turn:
            assert not turn


class MissesAnAnswer:
    """A database that is away when the first answer is written."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.missed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    async def execute(self, sql: str, params: Any = ()) -> int:
        if "ON CONFLICT (token)" in sql and not self.missed:
            self.missed += 1
            raise DatabaseUnavailableError("PostgreSQL went away")
        return await self.db.execute(sql, params)


async def test_an_answer_the_database_missed_is_written_when_it_is_back(
    database: TestDatabase,
) -> None:
    """Else the send would count as under way until the instance is gone: with a window of
    one, no send would go for the instance's timeout. (The writer tries again a second later;
    a turn meanwhile writes it too.)"""
    rules = PacingRules.of(1000, window_count=1, window=0.2, catch_up=0.0)
    async with two_instances(database) as (db, _, turns):
        flaky = MissesAnAnswer(db)
        pacing = turns(cast(Database, flaky), rules, "me")
        async with pacing.turn(wait=True):
            pass
        answered = time.monotonic()
        await pacing.flush()
        assert flaky.missed == 1
        async with asyncio.timeout(2.0), pacing.turn(wait=True):
            assert time.monotonic() - answered >= 0.2 - 0.02


class Hung:
    """A database that stopped answering."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    @contextlib.asynccontextmanager
    async def transaction(self) -> Any:
        await asyncio.Event().wait()
        yield

    async def execute(self, sql: str, params: Any = ()) -> int:
        await asyncio.Event().wait()
        return 0


async def test_sends_go_without_a_database_that_is_away(database: TestDatabase) -> None:
    """A send waits for the shared pacing at most one try: then, for a while, sends keep to
    this instance's own pacing only (the apology for an outage must go out)."""
    async with two_instances(database) as (db, _, turns):
        sends = SharedSends(
            AIORateLimiter(overall_max_rate=0, max_retries=0),
            SendPacer(1000, window_count=100, catch_up=0.0),
        )
        sends.share(turns(cast(Database, Hung(db)), sends.rules, "me", try_timeout=0.2))
        made = 0

        async def call(*_: Any, **__: Any) -> bool:
            nonlocal made
            made += 1
            return True

        started = time.monotonic()
        async with asyncio.timeout(2.0):
            await asyncio.gather(
                *(
                    sends.process_request(call, (), {}, "sendMessage", {"chat_id": n}, None)
                    for n in range(5)
                )
            )
        assert made == 5
        assert time.monotonic() - started < 1.0  # one try's wait, not one per send


class HangsAfterAClaim:
    """A database whose first claim of a turn is made (committed), and then its answer never
    comes back: the turn is cut short by the try's timeout."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.hung = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    async def execute(self, sql: str, params: Any = ()) -> int:
        done = await self.db.execute(sql, params)
        if sql.startswith("WITH moved") and not self.hung:  # PostgreSQL's claim
            self.hung = True
            await asyncio.Event().wait()
        return done

    @contextlib.asynccontextmanager
    async def transaction(self) -> Any:
        async with self.db.transaction() as conn:  # SQLite's claim
            yield conn
        if not self.hung:
            self.hung = True
            await asyncio.Event().wait()


async def test_a_turn_cut_short_after_its_claim_does_not_stay_under_way(
    database: TestDatabase,
) -> None:
    """Else the row would count for as long as its instance lives, a place fewer for all."""
    rules = PacingRules.of(1000, window_count=5, window=10.0, catch_up=0.0)
    async with two_instances(database) as (db, _, turns):
        cut = HangsAfterAClaim(db)
        pacing = turns(cast(Database, cut), rules, "me", try_timeout=2.0)
        with pytest.raises(TimeoutError):
            async with pacing.turn(wait=True):
                raise AssertionError("no turn was given")
        assert cut.hung
        for _ in range(100):  # its answer is written without waiting for another turn
            if not rows_under_way(database):
                break
            await asyncio.sleep(0.02)
        with connect(database) as conn:
            (claimed,) = conn.execute("SELECT COUNT(*) FROM send_turns").fetchone()
        assert claimed == 1  # made, and ended
        assert rows_under_way(database) == []


async def test_no_turn_for_too_long_sends_under_the_instances_own_pacing(
    database: TestDatabase, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While the database answers but gives no turn (a send counted under way by a live
    instance for ever), a send waits TURN_DEADLINE_SECONDS, then goes; the operator is told."""
    monkeypatch.setattr(send_turns, "TURN_DEADLINE_SECONDS", 0.3)
    async with two_instances(database) as (db, _, turns):
        sends = SharedSends(
            AIORateLimiter(overall_max_rate=0, max_retries=0),
            SendPacer(1000, window_count=100, catch_up=0.0),
        )
        pacing = turns(db, PacingRules.of(1000, window_count=1, window=1.0, catch_up=0.0), "me")
        sends.share(pacing)
        async with pacing.turn(wait=True):
            pass  # makes the schedule's row; its answer is then undone below
        await pacing.flush()
        with connect(database) as conn:
            conn.execute("UPDATE send_turns SET ended_at = NULL")

        async def call(*_: Any, **__: Any) -> bool:
            return True

        async with asyncio.timeout(2.0):
            assert await sends.process_request(call, (), {}, "sendMessage", {"chat_id": 1}, None)
    (warned,) = [r for r in caplog.records if "Sending without the shared pacing" in r.message]
    assert warned.levelno == logging.WARNING
    assert "no shared turn" in warned.message


async def test_a_hold_longer_than_the_deadline_is_waited_out(
    database: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429's hold says when the next turn comes: waiting it out is not being stuck (else
    every instance would give up the shared pacing together when it ends)."""
    monkeypatch.setattr(send_turns, "TURN_DEADLINE_SECONDS", 0.2)
    rules = PacingRules.of(1000, window_count=100, window=1.0, catch_up=0.0)
    async with two_instances(database) as (one, two, turns):
        refused, other = turns(one, rules, "one"), turns(two, rules, "two")
        await refused.hold(0.5)
        async with asyncio.timeout(3.0), other.turn(wait=True) as turn:
            assert turn
