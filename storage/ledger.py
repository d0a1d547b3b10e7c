"""The credit ledger (PAYMENTS=stars): every movement of a user's credits is a row of `ledger`,
written once and never changed, and the balance is their sum.

`users.credits` caches the sum. It changes in the same transaction as each row, and only while
it stays at or above zero, so a balance never goes negative: concurrent Submits, purchases and
grants of one user wait for each other on the user's row (SQLite's write lock, PostgreSQL's
`FOR UPDATE`). `mismatches()` checks the cache against the rows.

A task's price: `reserve` takes it from the balance when the task is created (inside the same
transaction, `reserve_in`); `charge` records that the provider accepted it (nothing moves: the
reservation is spent); `release` returns it, whether the task ended before the provider took it
(refused, cancelled while queued, never sent) or after (failed at the provider, timed out). Each
happens at most once per task, and nothing is charged once it was returned. A payment
(`telegram_payment_charge_id`) is credited at most once, however often its update comes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from bot.domain.payments import ChargeState, TaskCharge
from storage.db import Database, Row, Statements
from storage.models import from_row


class Movement(StrEnum):
    PURCHASE = "purchase"
    RESERVE = "reserve"
    CHARGE = "charge"
    RELEASE = "release"
    GRANT = "grant"
    STAR_REFUND = "star_refund"


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    user_id: int
    kind: Movement
    credits: int
    task_id: int | None
    charge_id: str | None
    stars: int | None
    reason: str
    admin_id: int | None
    at: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """A task's price, and where it stands: held, charged, or released."""

    task_id: int
    user_id: int
    credits: int  # the price, as a positive number
    charged: bool
    released: bool

    @property
    def held(self) -> bool:
        """Reserved, and neither spent nor returned yet."""
        return not (self.charged or self.released)

    @property
    def refunded(self) -> bool:
        """Spent, and then returned (the task failed after the provider took it)."""
        return self.charged and self.released


async def reserve_in(conn: Statements, user_id: int, task_id: int, price: int, now: float) -> bool:
    """Take a task's price from the user's balance, inside the caller's transaction (the one
    that creates the task). False when the balance is short, or the task has a reservation
    already: nothing is written."""
    if price <= 0:
        return True
    if await _reservation(conn, task_id) is not None:
        return False
    return await _move(conn, user_id, Movement.RESERVE, -price, now, task_id=task_id)


async def purchase_in(
    conn: Statements, user_id: int, charge_id: str, credits: int, stars: int, now: float
) -> bool:
    """Credit a pack bought with Stars inside the caller's transaction, once per `charge_id`;
    False when it was credited already (nothing is written then)."""
    await balance_in(conn, user_id)  # purchases of one user wait for each other
    seen = await conn.fetch_one(
        "SELECT 1 FROM ledger WHERE kind = ? AND charge_id = ?", (Movement.PURCHASE, charge_id)
    )
    if seen is not None:
        return False
    return await _move(
        conn, user_id, Movement.PURCHASE, credits, now, charge_id=charge_id, stars=stars
    )


async def balance_in(conn: Statements, user_id: int) -> int:
    """The user's balance, locking their row until the caller's transaction ends."""
    row = await conn.fetch_one(
        f"SELECT credits FROM users WHERE id = ?{conn.for_update}", (user_id,)
    )
    return 0 if row is None else int(row[0])


async def _move(
    conn: Statements,
    user_id: int,
    kind: Movement,
    credits: int,
    now: float,
    *,
    task_id: int | None = None,
    charge_id: str | None = None,
    stars: int | None = None,
    reason: str = "",
    admin_id: int | None = None,
) -> bool:
    """One row, and the cache moved with it, only if the balance stays at or above zero."""
    changed = await conn.execute(
        "UPDATE users SET credits = credits + ? WHERE id = ? AND credits + ? >= 0",
        (credits, user_id, credits),
    )
    if changed != 1:
        return False
    await conn.execute(
        "INSERT INTO ledger (user_id, kind, credits, task_id, charge_id, stars, reason, "
        "admin_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, kind, credits, task_id, charge_id, stars, reason, admin_id, now),
    )
    return True


class LedgerRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def balance(self, user_id: int) -> int:
        row = await self._db.fetch_one("SELECT credits FROM users WHERE id = ?", (user_id,))
        return 0 if row is None else int(row[0])

    async def credit_purchase(
        self, user_id: int, charge_id: str, credits: int, stars: int, now: float
    ) -> bool:
        """Credit a pack bought with Stars, once per `charge_id`; False when it was already
        credited (a replayed update, another instance): nothing is written then."""
        async with self._db.transaction() as conn:
            return await purchase_in(conn, user_id, charge_id, credits, stars, now)

    async def reserve(self, user_id: int, task_id: int, price: int, now: float) -> bool:
        """`reserve_in` in a transaction of its own."""
        async with self._db.transaction() as conn:
            await balance_in(conn, user_id)
            return await reserve_in(conn, user_id, task_id, price, now)

    async def charge(self, task_id: int, now: float) -> bool:
        """The provider accepted the task: its reservation is spent. False when there is no
        reservation held (none made, or already charged or returned)."""
        return await self._settle(task_id, Movement.CHARGE, now, reason="")

    async def release(self, task_id: int, now: float, reason: str) -> bool:
        """Return the task's price to the user's balance, charged or not (a task the provider
        accepted and then failed is returned too). False when there is nothing to return (no
        reservation, or returned already)."""
        return await self._settle(task_id, Movement.RELEASE, now, reason=reason)

    async def _settle(self, task_id: int, kind: Movement, now: float, *, reason: str) -> bool:
        async with self._db.transaction() as conn:
            owner = await conn.fetch_one(
                "SELECT user_id FROM ledger WHERE task_id = ? AND kind = ?",
                (task_id, Movement.RESERVE),
            )
            if owner is None:
                return False
            user_id = int(owner[0])
            await balance_in(conn, user_id)  # one settlement of a task at a time
            reservation = await _reservation(conn, task_id)
            if reservation is None or reservation.released:
                return False
            if kind is Movement.CHARGE and reservation.charged:
                return False
            credits = reservation.credits if kind is Movement.RELEASE else 0
            return await _move(conn, user_id, kind, credits, now, task_id=task_id, reason=reason)

    async def reservation(self, task_id: int) -> Reservation | None:
        async with self._db.transaction() as conn:
            return await _reservation(conn, task_id)

    async def price_of(self, task_id: int) -> TaskCharge | None:
        """What the task's price has become, for its card (None: it had none)."""
        found = await _reservation(self._db, task_id)
        if found is None:
            return None
        if found.released:
            state = ChargeState.RETURNED
        else:
            state = ChargeState.SPENT if found.charged else ChargeState.HELD
        return TaskCharge(found.credits, state)

    async def grant(
        self, user_id: int, credits: int, reason: str, admin_id: int, now: float
    ) -> int | None:
        """An admin's grant (credits > 0) or removal (< 0); the new balance, or None when a
        removal would take the balance below zero (nothing is written)."""
        async with self._db.transaction() as conn:
            await balance_in(conn, user_id)
            if not await _move(
                conn, user_id, Movement.GRANT, credits, now, reason=reason, admin_id=admin_id
            ):
                return None
            return await balance_in(conn, user_id)

    async def movements(self, user_id: int, limit: int) -> list[Entry]:
        """The user's latest movements, newest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
        )
        return [_entry(row) for row in rows]

    async def mismatches(self) -> list[tuple[int, int, int]]:
        """Users whose cached balance is not the sum of their ledger rows: (user, cached, sum).
        Empty unless something wrote around this module."""
        rows = await self._db.fetch_all(
            "SELECT u.id, u.credits, COALESCE(SUM(l.credits), 0) FROM users u "
            "LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id, u.credits "
            "HAVING u.credits != COALESCE(SUM(l.credits), 0)"
        )
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def _reservation(conn: Statements | Database, task_id: int) -> Reservation | None:
    rows = await conn.fetch_all(
        "SELECT kind, user_id, credits FROM ledger WHERE task_id = ?", (task_id,)
    )
    kinds = {str(r[0]): (int(r[1]), int(r[2])) for r in rows}
    if Movement.RESERVE not in kinds:
        return None
    user_id, credits = kinds[Movement.RESERVE]
    return Reservation(
        task_id=task_id,
        user_id=user_id,
        credits=-credits,
        charged=Movement.CHARGE in kinds,
        released=Movement.RELEASE in kinds,
    )


def _entry(row: Row) -> Entry:
    entry = from_row(Entry, row)
    return replace(entry, kind=Movement(entry.kind))
