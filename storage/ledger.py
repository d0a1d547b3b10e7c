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

An admin's refund of a payment (/refund, bot.services.money) removes its credits first, with a
`star_refund` row (once per charge id), and only then asks Telegram to return the Stars; when
Telegram refuses, a `refund_refused` row puts the credits back (once). So the operator never has
the Stars returned with the credits still spendable. Stars returned outside the bot (Telegram's
refunded_payment for a refund the ledger does not have) write the `star_refund` row then, with
what the balance allows (`refund_outside`).

A task whose outcome was unknown and whose price an admin returned may turn out to exist at the
provider after all: its price is taken again (a `recharge` row, if the balance allows), and
returned again if the task then ends without a video (a `recharge_release` row); once each, as
the other kinds of a task (`charge_found`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from bot.domain.money import MoneyNow, MoneyTotals, OutsideRefund, Purchase, RefundState
from bot.domain.payments import ChargeState, FoundCharge, FoundPrice, TaskCharge
from bot.domain.records import TaskState
from storage.db import Database, Row, Statements
from storage.models import from_row


class Movement(StrEnum):
    PURCHASE = "purchase"
    RESERVE = "reserve"
    CHARGE = "charge"
    RELEASE = "release"
    GRANT = "grant"
    STAR_REFUND = "star_refund"
    # A refund Telegram refused: the credits its star_refund removed, put back (+).
    REFUND_REFUSED = "refund_refused"
    # A task's price an admin returned, taken again: the provider had the task after all (-).
    RECHARGE = "recharge"
    # That price returned again: the task then ended without a video (+).
    RECHARGE_RELEASE = "recharge_release"


class RefundStart(StrEnum):
    """How the first step of an admin's refund went (`LedgerRepository.start_star_refund`)."""

    STARTED = "started"  # the credits are removed now: ask Telegram to return the Stars
    STARTED_BEFORE = "started_before"  # removed by an earlier /refund (ask Telegram again)
    REFUSED_BEFORE = "refused_before"  # Telegram refused an earlier one: credits put back
    SPENT = "spent"  # the balance is short of the purchase's credits: nothing removed
    UNKNOWN = "unknown"  # no purchase has that charge id


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
    charged: bool  # spent (a `charge`, or a `recharge` after an admin returned it)
    released: bool  # returned, and not taken again since
    recharged: bool = False  # returned by an admin, then taken again (the task found after all)

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
            user_id = await _lock_owner(conn, task_id)
            if user_id is None:
                return False
            reservation = await _reservation(conn, task_id)
            if reservation is None or reservation.released:
                return False
            if kind is Movement.CHARGE and reservation.charged:
                return False
            credits = reservation.credits if kind is Movement.RELEASE else 0
            if kind is Movement.RELEASE and reservation.recharged:
                kind = Movement.RECHARGE_RELEASE  # returned before, taken again: returned again
            return await _move(conn, user_id, kind, credits, now, task_id=task_id, reason=reason)

    async def charge_found(self, task_id: int, now: float) -> FoundCharge | None:
        """The provider has the task after all (its outcome was unknown): a held price is
        spent; one an admin returned meanwhile is taken again (a `recharge` row) when the
        balance allows, else the task stays free. None when it has no price, or its price is
        spent already."""
        async with self._db.transaction() as conn:
            user_id = await _lock_owner(conn, task_id)
            if user_id is None:
                return None
            balance = await balance_in(conn, user_id)
            found = await _reservation(conn, task_id)
            if found is None:
                return None
            if found.held:
                await _move(conn, user_id, Movement.CHARGE, 0, now, task_id=task_id)
                return FoundCharge(FoundPrice.CHARGED, found.credits, balance)
            if not found.released or found.recharged:
                return None
            if await _move(
                conn,
                user_id,
                Movement.RECHARGE,
                -found.credits,
                now,
                task_id=task_id,
                reason="returned, then found at the provider after all",
            ):
                return FoundCharge(FoundPrice.TAKEN_AGAIN, found.credits, balance - found.credits)
            return FoundCharge(FoundPrice.FREE, found.credits, balance)

    async def reservation(self, task_id: int) -> Reservation | None:
        async with self._db.transaction() as conn:
            return await _reservation(conn, task_id)

    async def settle_ended(self, now: float) -> tuple[int, int]:
        """Prices left unsettled by a crash between a task's ending and its settlement (two
        transactions): returned for tasks that failed or were cancelled, charged for those that
        made a video. Once each, whoever else settles them. (returned, charged)"""
        ended_without = (TaskState.FAILED, TaskState.CANCELLED)
        with_video = (TaskState.DELIVERED, TaskState.UNDELIVERABLE)
        rows = await self._db.fetch_all(
            "SELECT r.task_id, t.state FROM ledger r JOIN tasks t ON t.id = r.task_id "
            "WHERE r.kind = ? AND NOT EXISTS (SELECT 1 FROM ledger s WHERE s.task_id = r.task_id "
            "AND s.kind = ?) AND (t.state IN (?, ?) OR (t.state IN (?, ?) AND NOT EXISTS ("
            "SELECT 1 FROM ledger c WHERE c.task_id = r.task_id AND c.kind = ?)))",
            (Movement.RESERVE, Movement.RELEASE, *ended_without, *with_video, Movement.CHARGE),
        )
        returned = charged = 0
        for task_id, state in ((int(r[0]), str(r[1])) for r in rows):
            if state in ended_without:
                returned += await self.release(task_id, now, f"{state} (settled at start)")
            else:
                charged += await self.charge(task_id, now)
        return returned, charged

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

    # --- the admins' side (bot.services.money) --------------------------------------------

    async def purchase(self, charge_id: str) -> Purchase | None:
        """The purchase paid with that telegram_payment_charge_id, and its refund's state."""
        rows = await self._db.fetch_all(f"{_PURCHASES} AND p.charge_id = ?", (charge_id,))
        return _purchase(rows[0]) if rows else None

    async def purchases(self, limit: int | None = None) -> list[Purchase]:
        """The latest purchases, newest first (every one, without a limit)."""
        sql = f"{_PURCHASES} ORDER BY p.id DESC"
        if limit is None:
            return [_purchase(row) for row in await self._db.fetch_all(sql)]
        return [_purchase(row) for row in await self._db.fetch_all(f"{sql} LIMIT ?", (limit,))]

    async def start_star_refund(
        self, charge_id: str, admin_id: int, reason: str, now: float
    ) -> tuple[RefundStart, Purchase | None, int]:
        """The first step of /refund: the purchase's credits removed (a `star_refund` row, once
        per charge id) before Telegram is asked to return its Stars. With the purchase and the
        user's balance after. Nothing is written unless the answer is STARTED."""
        found = await self.purchase(charge_id)
        if found is None:
            return RefundStart.UNKNOWN, None, 0
        async with self._db.transaction() as conn:
            balance = await balance_in(conn, found.user_id)  # one refund of a user at a time
            kinds = await _refund_kinds(conn, charge_id)
            if Movement.REFUND_REFUSED in kinds:
                start = RefundStart.REFUSED_BEFORE
            elif Movement.STAR_REFUND in kinds:
                start = RefundStart.STARTED_BEFORE
            elif await _move(
                conn,
                found.user_id,
                Movement.STAR_REFUND,
                -found.credits,
                now,
                charge_id=charge_id,
                stars=found.stars,
                reason=reason[:REASON_KEPT],
                admin_id=admin_id,
            ):
                start, balance = RefundStart.STARTED, balance - found.credits
            else:
                start = RefundStart.SPENT
        return start, await self.purchase(charge_id), balance

    async def refund_outside(self, charge_id: str, reason: str, now: float) -> OutsideRefund | None:
        """Telegram says a payment's Stars were returned. When the ledger has no refund of it
        (none made by /refund: someone returned them outside the bot), its credits are removed
        now, as far as the balance allows (a `star_refund` row of what was removed, the whole
        balance when it is short, zero when it is empty; once per charge id). None when there
        is nothing to do: no purchase has that charge id (a payment the bot returned at once),
        or the ledger has its refund already (/refund writes it before asking Telegram)."""
        found = await self.purchase(charge_id)
        if found is None:
            return None
        async with self._db.transaction() as conn:
            balance = await balance_in(conn, found.user_id)  # one refund of a user at a time
            kinds = await _refund_kinds(conn, charge_id)
            if Movement.REFUND_REFUSED in kinds:
                refused_before, removed = True, 0
            elif Movement.STAR_REFUND in kinds:
                return None
            else:
                refused_before, removed = False, min(balance, found.credits)
                await _move(
                    conn,
                    found.user_id,
                    Movement.STAR_REFUND,
                    -removed,
                    now,
                    charge_id=charge_id,
                    stars=found.stars,
                    reason=reason[:REASON_KEPT],
                )
                balance -= removed
        purchase = await self.purchase(charge_id)
        return OutsideRefund(purchase or found, removed, balance, refused_before)

    async def undo_star_refund(self, charge_id: str, detail: str, now: float) -> int | None:
        """Telegram refused a refund: the credits its `star_refund` row removed are put back
        (a `refund_refused` row, once). The user's balance after, or None when there was
        nothing to put back (no refund started, or put back already)."""
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "SELECT user_id, credits, stars, admin_id FROM ledger "
                "WHERE kind = 'star_refund' AND charge_id = ?",
                (charge_id,),
            )
            if row is None:
                return None
            user_id = int(row[0])
            await balance_in(conn, user_id)
            if Movement.REFUND_REFUSED in await _refund_kinds(conn, charge_id):
                return None
            await _move(
                conn,
                user_id,
                Movement.REFUND_REFUSED,
                -int(row[1]),
                now,
                charge_id=charge_id,
                stars=row[2],
                reason=f"refund refused by Telegram: {detail}"[:REASON_KEPT],
                admin_id=row[3],
            )
            return await balance_in(conn, user_id)

    async def settle_held(
        self, task_id: int, charge: bool, now: float, reason: str, admin_id: int
    ) -> tuple[bool, Reservation | None]:
        """An admin's decision on a task whose outcome is unknown: its held price charged
        (`charge`) or returned, only if it is still held (once, whoever presses first). Whether
        it was settled now, and the reservation after."""
        async with self._db.transaction() as conn:
            user_id = await _lock_owner(conn, task_id)
            if user_id is None:
                return False, None
            reservation = await _reservation(conn, task_id)
            if reservation is None or not reservation.held:
                return False, reservation
            kind = Movement.CHARGE if charge else Movement.RELEASE
            credits = 0 if charge else reservation.credits
            await _move(
                conn,
                user_id,
                kind,
                credits,
                now,
                task_id=task_id,
                reason=reason[:REASON_KEPT],
                admin_id=admin_id,
            )
            return True, await _reservation(conn, task_id)

    async def totals(self, since: float) -> MoneyTotals:
        """What moved from `since` on: two queries."""
        rows = await self._db.fetch_all(
            "SELECT kind, CASE WHEN credits > 0 THEN 1 ELSE 0 END, COUNT(*), "
            "COALESCE(SUM(credits), 0), COALESCE(SUM(stars), 0) FROM ledger "
            "WHERE at >= ? AND kind IN ('purchase', 'release', 'grant', 'star_refund', "
            "'refund_refused', 'recharge_release') GROUP BY 1, 2",
            (since,),
        )
        sums: dict[tuple[str, bool], tuple[int, int, int]] = {
            (str(r[0]), bool(r[1])): (int(r[2]), int(r[3]), int(r[4])) for r in rows
        }

        def of(kind: Movement, positive: bool) -> tuple[int, int, int]:
            return sums.get((kind, positive), (0, 0, 0))

        bought = of(Movement.PURCHASE, True)
        refunded, undone = of(Movement.STAR_REFUND, False), of(Movement.REFUND_REFUSED, True)
        spent = await self._db.fetch_one(
            "SELECT COALESCE(SUM(r.credits), 0) FROM ledger c "
            "JOIN ledger r ON r.task_id = c.task_id AND r.kind = 'reserve' "
            "WHERE c.kind = 'charge' AND c.at >= ? AND NOT EXISTS (SELECT 1 FROM ledger x "
            "WHERE x.task_id = c.task_id AND x.kind = 'release')",
            (since,),
        )
        # Prices an admin returned, then taken again (the task found after all), and kept.
        spent_again = await self._db.fetch_one(
            "SELECT COALESCE(SUM(c.credits), 0) FROM ledger c "
            "WHERE c.kind = 'recharge' AND c.at >= ? AND NOT EXISTS (SELECT 1 FROM ledger x "
            "WHERE x.task_id = c.task_id AND x.kind = 'recharge_release')",
            (since,),
        )
        return MoneyTotals(
            purchases=bought[0],
            stars_in=bought[2],
            stars_refunded=refunded[2] - undone[2],
            sold=bought[1],
            spent=(0 if spent is None else -int(spent[0]))
            + (0 if spent_again is None else -int(spent_again[0])),
            returned=of(Movement.RELEASE, True)[1] + of(Movement.RECHARGE_RELEASE, True)[1],
            granted=of(Movement.GRANT, True)[1],
            removed=-of(Movement.GRANT, False)[1],
            refunded=-refunded[1] - undone[1],
        )

    async def now(self) -> MoneyNow:
        """Credits held by tasks not settled yet, and in all balances."""
        held = await self._db.fetch_one(
            "SELECT COUNT(*), COALESCE(SUM(r.credits), 0) FROM ledger r "
            "WHERE r.kind = 'reserve' AND NOT EXISTS (SELECT 1 FROM ledger x "
            "WHERE x.task_id = r.task_id AND x.kind IN ('charge', 'release'))"
        )
        balances = await self._db.fetch_one("SELECT COALESCE(SUM(credits), 0) FROM users")
        return MoneyNow(
            held=0 if held is None else -int(held[1]),
            held_tasks=0 if held is None else int(held[0]),
            balances=0 if balances is None else int(balances[0]),
        )


async def _lock_owner(conn: Statements, task_id: int) -> int | None:
    """The user whose reservation the task has, their row locked until the transaction ends
    (one settlement of a task at a time); None when the task has no price."""
    owner = await conn.fetch_one(
        "SELECT user_id FROM ledger WHERE task_id = ? AND kind = ?", (task_id, Movement.RESERVE)
    )
    if owner is None:
        return None
    user_id = int(owner[0])
    await balance_in(conn, user_id)
    return user_id


async def _reservation(conn: Statements | Database, task_id: int) -> Reservation | None:
    rows = await conn.fetch_all(
        "SELECT kind, user_id, credits FROM ledger WHERE task_id = ?", (task_id,)
    )
    kinds = {str(r[0]): (int(r[1]), int(r[2])) for r in rows}
    if Movement.RESERVE not in kinds:
        return None
    user_id, credits = kinds[Movement.RESERVE]
    recharged = Movement.RECHARGE in kinds
    return Reservation(
        task_id=task_id,
        user_id=user_id,
        credits=-credits,
        charged=Movement.CHARGE in kinds or recharged,
        released=Movement.RECHARGE_RELEASE in kinds if recharged else Movement.RELEASE in kinds,
        recharged=recharged,
    )


def _entry(row: Row) -> Entry:
    entry = from_row(Entry, row)
    return replace(entry, kind=Movement(entry.kind))


# An admin's reason, or Telegram's words, kept at this length (shown shorter).
REASON_KEPT = 500

# Purchases, with the state of their refund; "AND ..." narrows them.
_PURCHASES = (
    "SELECT p.charge_id, p.user_id, u.username, p.credits, p.stars, p.at, "
    "r.at AS refunded_at, r.admin_id AS refunded_by, (SELECT COUNT(*) FROM ledger f "
    "WHERE f.kind = 'refund_refused' AND f.charge_id = p.charge_id) AS refused "
    "FROM ledger p LEFT JOIN users u ON u.id = p.user_id "
    "LEFT JOIN ledger r ON r.kind = 'star_refund' AND r.charge_id = p.charge_id "
    "WHERE p.kind = 'purchase'"
)


def _purchase(row: Row) -> Purchase:
    if row["refunded_at"] is None:
        state = RefundState.NONE
    else:
        state = RefundState.REFUSED if int(row["refused"]) else RefundState.REFUNDED
    return Purchase(
        charge_id=str(row["charge_id"]),
        user_id=int(row["user_id"]),
        username=row["username"],
        credits=int(row["credits"]),
        stars=int(row["stars"]),
        at=float(row["at"]),
        refund=state,
        refunded_at=None if row["refunded_at"] is None else float(row["refunded_at"]),
        refunded_by=row["refunded_by"],
    )


async def _refund_kinds(conn: Statements, charge_id: str) -> set[str]:
    """The refund movements of a payment so far: star_refund, refund_refused."""
    rows = await conn.fetch_all(
        "SELECT kind FROM ledger WHERE charge_id = ? AND kind IN ('star_refund', 'refund_refused')",
        (charge_id,),
    )
    return {str(r[0]) for r in rows}
