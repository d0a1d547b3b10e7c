"""The credit ledger: movements are rows written once, the balance is their sum and never goes
negative, a payment is credited once, a task's price is charged or returned once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import pytest

from storage.db import Database
from storage.drafts import DraftRepository
from storage.ledger import LedgerRepository, Movement
from storage.tasks import Claim, ClaimRefusal, Quota, TaskPrice, TaskRepository
from storage.users import UserRepository
from tests.database import TestDatabase

USER = 7
NO_LIMITS = Quota(max_active=None, daily_limit=None, day_started_at=0)


@pytest.fixture
async def db(database: TestDatabase) -> AsyncIterator[Database]:
    opened = await Database.open(database.target)
    await UserRepository(opened).seen(USER, "u", "U", now=1.0)
    yield opened
    await opened.close()


async def new_tasks(db: Database, count: int) -> list[int]:
    """`count` queued tasks of the user (drafts claimed as Submit does)."""
    drafts, tasks = DraftRepository(db), TaskRepository(db)
    ids: list[int] = []
    for n in range(count):
        draft, _ = await drafts.create(
            user_id=USER,
            chat_id=USER,
            video_url=f"https://v.example.com/{n}.mp4",
            prompt="red",
            now=1.0,
        )
        claim = await tasks.claim_draft(
            draft_id=draft.id,
            user_id=USER,
            provider="kie",
            quota=NO_LIMITS,
            callback_token=f"t{n}",
            now=2.0,
        )
        assert claim.task is not None
        ids.append(claim.task.id)
    return ids


async def test_a_payment_is_credited_once_whatever_replays_it(db: Database) -> None:
    ledger = LedgerRepository(db)
    credited = await asyncio.gather(
        *(ledger.credit_purchase(USER, "charge-1", 50, 225, now=3.0) for _ in range(5))
    )
    assert sorted(credited) == [False, False, False, False, True]
    assert await ledger.balance(USER) == 50
    assert await ledger.credit_purchase(USER, "charge-2", 10, 50, now=4.0)
    assert await ledger.balance(USER) == 60
    [newest, first] = await ledger.movements(USER, limit=10)
    assert (newest.kind, newest.credits, newest.charge_id, newest.stars) == (
        Movement.PURCHASE,
        10,
        "charge-2",
        50,
    )
    assert first.charge_id == "charge-1"
    assert await ledger.mismatches() == []


async def test_fifty_submits_at_once_against_a_balance_for_three_reserve_three(
    db: Database,
) -> None:
    ledger = LedgerRepository(db)
    await ledger.credit_purchase(USER, "charge-1", 30, 150, now=3.0)
    tasks = await new_tasks(db, 50)

    reserved = await asyncio.gather(*(ledger.reserve(USER, t, 10, now=4.0) for t in tasks))

    assert sum(reserved) == 3
    assert await ledger.balance(USER) == 0
    assert await ledger.mismatches() == []


async def test_a_reservation_is_charged_once_and_returned_once(db: Database) -> None:
    """Returned before the provider took the task, or after it (failed there): once either
    way; and nothing returned is charged afterwards."""
    ledger = LedgerRepository(db)
    await ledger.credit_purchase(USER, "charge-1", 30, 150, now=3.0)
    charged, released, never = await new_tasks(db, 3)
    for task in (charged, released):
        assert await ledger.reserve(USER, task, 10, now=4.0)
    assert not await ledger.reserve(USER, charged, 10, now=4.0)  # reserved once
    assert await ledger.balance(USER) == 10

    assert await ledger.charge(charged, now=5.0)
    assert not await ledger.charge(charged, now=5.0)
    assert await ledger.balance(USER) == 10
    assert await ledger.release(released, now=5.0, reason="refused by the provider")
    assert not await ledger.release(released, now=5.0, reason="again")
    assert not await ledger.charge(released, now=5.0)  # returned already
    assert not await ledger.charge(never, now=5.0)  # nothing was reserved
    assert not await ledger.release(never, now=5.0, reason="never reserved")

    assert await ledger.balance(USER) == 20
    spent = await ledger.reservation(charged)
    assert spent is not None
    assert (spent.charged, spent.released, spent.credits) == (True, False, 10)
    assert await ledger.release(charged, now=6.0, reason="failed at the provider")
    assert not await ledger.release(charged, now=6.0, reason="again")
    refunded = await ledger.reservation(charged)
    assert refunded is not None
    assert refunded.refunded
    assert await ledger.balance(USER) == 30
    assert await ledger.reservation(never) is None
    assert await ledger.mismatches() == []


async def test_racing_settlements_of_one_task_settle_it_once(db: Database) -> None:
    ledger = LedgerRepository(db)
    await ledger.credit_purchase(USER, "charge-1", 10, 50, now=3.0)
    (task,) = await new_tasks(db, 1)
    assert await ledger.reserve(USER, task, 10, now=4.0)

    outcomes = await asyncio.gather(
        *(ledger.release(task, now=5.0, reason="cancelled") for _ in range(5)),
        *(ledger.charge(task, now=5.0) for _ in range(5)),
    )

    releases, charges = outcomes[:5], outcomes[5:]
    assert sum(releases) == 1  # returned once, before or after a charge
    assert sum(charges) <= 1
    assert await ledger.balance(USER) == 10
    assert await ledger.mismatches() == []


async def test_a_removal_never_takes_the_balance_below_zero(db: Database) -> None:
    ledger = LedgerRepository(db)
    assert await ledger.grant(USER, 5, "welcome", admin_id=1, now=3.0) == 5
    assert await ledger.grant(USER, -6, "too much", admin_id=1, now=4.0) is None
    assert await ledger.grant(USER, -5, "abuse", admin_id=1, now=5.0) == 0
    kinds = [(e.kind, e.credits, e.reason, e.admin_id) for e in await ledger.movements(USER, 10)]
    assert kinds == [(Movement.GRANT, -5, "abuse", 1), (Movement.GRANT, 5, "welcome", 1)]
    assert await ledger.mismatches() == []


async def test_a_cache_written_around_the_ledger_is_found(db: Database) -> None:
    ledger = LedgerRepository(db)
    await ledger.credit_purchase(USER, "charge-1", 10, 50, now=3.0)
    await db.execute("UPDATE users SET credits = 99 WHERE id = ?", (USER,))
    assert await ledger.mismatches() == [(USER, 99, 10)]


async def new_drafts(db: Database, count: int) -> list[int]:
    """`count` pending drafts of the user at once. (The bot keeps one pending card a user,
    replacing the last; here every Submit races the others for the same balance.)"""
    ids: list[int] = []
    for n in range(count):
        rows = await db.write_returning(
            "INSERT INTO drafts (user_id, chat_id, video_url, prompt, state, created_at, "
            "updated_at) VALUES (?, ?, ?, 'red', 'pending', 1.0, 1.0) RETURNING id",
            (USER, USER, f"https://v.example.com/d{n}.mp4"),
        )
        ids.append(int(rows[0][0]))
    return ids


def claim(tasks: TaskRepository, draft_id: int, price: TaskPrice) -> Awaitable[Claim]:
    return tasks.claim_draft(
        draft_id=draft_id,
        user_id=USER,
        provider="kie",
        quota=NO_LIMITS,
        callback_token=f"c{draft_id}",
        now=2.0,
        price=price,
    )


async def test_fifty_submits_at_once_with_credits_for_three_make_three_tasks(
    db: Database,
) -> None:
    """Submit reserves the price in the transaction that creates the task: the others are
    refused, and their drafts stay as they were (a purchase later, and Submit works)."""
    ledger, tasks = LedgerRepository(db), TaskRepository(db)
    await ledger.credit_purchase(USER, "charge-1", 30, 150, now=1.5)
    drafts = await new_drafts(db, 50)

    claims = await asyncio.gather(*(claim(tasks, d, TaskPrice(10)) for d in drafts))

    made = [c.task.id for c in claims if c.task is not None]
    assert len(made) == 3
    assert {c.refusal for c in claims if c.task is None} == {ClaimRefusal.NO_CREDITS}
    assert await ledger.balance(USER) == 0
    for task_id in made:
        held = await ledger.reservation(task_id)
        assert held is not None
        assert (held.credits, held.held) == (10, True)
    refused = next(d for d, c in zip(drafts, claims, strict=True) if c.task is None)
    await ledger.credit_purchase(USER, "charge-2", 10, 50, now=3.0)
    assert (await claim(tasks, refused, TaskPrice(10))).task is not None
    assert await ledger.mismatches() == []


async def test_the_first_tasks_of_the_day_are_free_then_priced(db: Database) -> None:
    ledger, tasks = LedgerRepository(db), TaskRepository(db)
    first, second, third = await new_drafts(db, 3)
    price = TaskPrice(10, free_per_day=2)

    for draft in (first, second):
        made = await claim(tasks, draft, price)
        assert made.task is not None
        assert await ledger.reservation(made.task.id) is None  # free: nothing reserved
    assert (await claim(tasks, third, price)).refusal == ClaimRefusal.NO_CREDITS
    await ledger.grant(USER, 10, "trial", admin_id=1, now=3.0)
    paid = await claim(tasks, third, price)
    assert paid.task is not None
    assert await ledger.reservation(paid.task.id) is not None
    assert await ledger.balance(USER) == 0
