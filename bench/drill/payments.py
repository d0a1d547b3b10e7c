"""The drills with payments on (`bench drills --payments`, issue 16): PAYMENTS=stars, each task
priced PRICE credits, and each drill user granted exactly enough for their tasks before the bot
starts (a double reservation would leave one of their Submits refused, and the drill short of
tasks). At the end the ledger is audited against how the tasks ended:

- every task has one reservation of its price;
- delivered: charged once, never returned; failed: returned once (charged first or not);
  "outcome unknown": held (neither charged nor returned: an admin decides);
- no reservation held but those of unknown outcomes, nothing charged or returned twice;
- each user's balance is what was granted less the price of their delivered and unknown tasks;
- every cached balance is the sum of its user's rows (`LedgerRepository.mismatches()`), and the
  sum of all rows is the grants less the credits spent (charged, not returned) and held.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from storage.db import Database
from storage.ledger import LedgerRepository, Movement
from storage.users import UserRepository
from tests.database import TestDatabase, connect
from tests.helpers import ADMIN_ID

PRICE = 10
WRONG_PRICE = "reserved another price"


def payment_settings() -> dict[str, str]:
    """The settings of a drill with payments on: every task costs PRICE credits."""
    return {
        "PAYMENTS": "stars",
        "CREDIT_PACKS": "10:50,50:225",
        "TASK_PRICE": str(PRICE),
        "FREE_TASKS_PER_DAY": "0",
    }


async def seed_credits(database: TestDatabase, users: Sequence[int], tasks_each: int) -> int:
    """Each user's row, and exactly enough credits for `tasks_each` tasks, granted through the
    ledger (on a database the bot has not opened yet, or shares); the credits each got."""
    credits = tasks_each * PRICE
    db = await Database.open(database.target, pool_size=2)
    try:
        people, ledger = UserRepository(db), LedgerRepository(db)
        now = time.time()
        for user in users:
            await people.seen(user, f"d{user}", f"d{user}", now)
            if await ledger.grant(user, credits, "drill", ADMIN_ID, now) is None:
                raise AssertionError(f"could not grant {credits} credits to user {user}")
    finally:
        await db.close()
    return credits


@dataclass
class LedgerAudit:
    granted: int  # credits granted to the drill's users
    tasks: int
    by_state: dict[str, int]
    charged: int  # tasks charged and kept (the provider took them, a video came)
    refunded: int  # charged, then returned (failed after the provider took them)
    returned: int  # returned without a charge (refused before the provider took them)
    held: int  # neither charged nor returned (outcome unknown)
    ledger_sum: int  # the sum of every ledger row
    cached_sum: int  # the sum of the users' cached balances
    mismatches: list[tuple[int, int, int]]  # (user, cached, sum of rows) where they differ
    problems: list[str] = field(default_factory=list)  # tasks (or users) the ledger gets wrong

    @property
    def expected_sum(self) -> int:
        """Grants less what was spent (charged and kept) and what is held."""
        return self.granted - PRICE * (self.charged + self.held)

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and not self.mismatches
            and self.ledger_sum == self.cached_sum == self.expected_sum
        )


def _ending_problem(state: str, kinds: Counter[str]) -> str | None:
    """What is wrong with a task's ledger rows, given how it ended (None: nothing)."""
    if kinds[Movement.RESERVE] != 1 or any(n > 1 for n in kinds.values()):
        return f"rows {dict(kinds)}"
    if kinds[WRONG_PRICE]:
        return f"reserved other than {PRICE} credits"
    charged, released = kinds[Movement.CHARGE] == 1, kinds[Movement.RELEASE] == 1
    expected = {
        "delivered": charged and not released,
        "failed": released,
        "unknown": not charged and not released,
    }
    if state not in expected:
        return f"ended {state!r}: not an ending the drill expects"
    return None if expected[state] else f"{state}, but charged={charged} released={released}"


async def audit_ledger(
    database: TestDatabase, users: Sequence[int], granted_each: int
) -> LedgerAudit:
    """The ledger checked against how every task ended (once every task has ended)."""
    with connect(database) as conn:
        tasks = {
            int(t): (int(u), str(s))
            for t, u, s in conn.execute("SELECT id, user_id, state FROM tasks").fetchall()
        }
        rows = conn.execute("SELECT task_id, kind, credits FROM ledger").fetchall()
        balances = dict(conn.execute("SELECT id, credits FROM users WHERE credits != 0").fetchall())
    kinds: dict[int, Counter[str]] = defaultdict(Counter)
    for task_id, kind, credits in rows:
        if task_id is None:
            continue
        kinds[int(task_id)][str(kind)] += 1
        if kind == Movement.RESERVE and int(credits) != -PRICE:
            kinds[int(task_id)][WRONG_PRICE] += 1
    problems = [f"task {t}: rows for a task that does not exist" for t in kinds if t not in tasks]
    spent: Counter[int] = Counter()  # user -> credits spent or held
    endings: Counter[str] = Counter()
    for task_id, (user, state) in sorted(tasks.items()):
        task_kinds = kinds.get(task_id, Counter())
        problem = _ending_problem(state, task_kinds)
        if problem is not None:
            problems.append(f"task {task_id}: {problem}")
        charge, release = task_kinds[Movement.CHARGE], task_kinds[Movement.RELEASE]
        ending = (
            "held"
            if not charge and not release
            else "charged"
            if not release
            else "refunded"
            if charge
            else "returned"
        )
        endings[ending] += 1
        if ending in ("charged", "held"):
            spent[user] += PRICE
    for user in users:
        left = int(balances.get(user, 0))
        if left != granted_each - spent[user]:
            problems.append(
                f"user {user}: balance {left}, not {granted_each} - {spent[user]} spent or held"
            )
    db = await Database.open(database.target, pool_size=2)
    try:
        mismatches = await LedgerRepository(db).mismatches()
    finally:
        await db.close()
    return LedgerAudit(
        granted=granted_each * len(users),
        tasks=len(tasks),
        by_state=dict(Counter(s for _, s in tasks.values())),
        charged=endings["charged"],
        refunded=endings["refunded"],
        returned=endings["returned"],
        held=endings["held"],
        ledger_sum=sum(int(c) for _, _, c in rows),
        cached_sum=sum(int(c) for c in balances.values()),
        mismatches=mismatches,
        problems=problems,
    )


def report_ledger(a: LedgerAudit | None) -> None:
    if a is None:
        return
    print(
        f"  payments on (TASK_PRICE {PRICE}, exactly enough granted for each user's tasks): "
        f"{a.tasks} tasks {a.by_state}; charged {a.charged}, charged then returned "
        f"{a.refunded}, returned uncharged {a.returned}, held (outcome unknown) {a.held}"
    )
    print(
        f"  ledger: granted {a.granted}, sum of rows {a.ledger_sum}, cached balances "
        f"{a.cached_sum}, granted - spent - held {a.expected_sum}; cache mismatches "
        f"{len(a.mismatches)}; tasks or users the ledger gets wrong: {len(a.problems)} "
        f"{a.problems[:5] or ''} -> {'OK' if a.ok else 'WRONG'}"
    )
