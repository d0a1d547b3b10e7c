"""The set-up every drill shares: the fake Telegram and KIE on loopback, the bot's settings,
`python -m bot` as a process of its own, its database, the users, and the provider's tasks
finished at chosen times.

    async with open_drill("restart", tasks, users, seed=seed) as drill:
        drill.bot.start()
        await drill.submit()
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.drill.outcomes import admin_bug_reports, task_rows, videos_per_task, wait_settled
from bench.drill.payments import LedgerAudit, audit_ledger, payment_settings, seed_credits
from bench.drill.process import BotProcess, base_environment
from bench.drill.users import submit_cards, users_for
from tests.database import TestDatabase
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import bot_environment

RESULT_SIZE = 20_000  # bytes of each result video: the drills are about counts, not bandwidth

# Called with the fakes before they start (to put middleware in front of them) and the drill's
# random numbers.
Prepare = Callable[[FakeTelegram, FakeKie, random.Random], None]


def drill_environment(
    telegram: FakeTelegram, kie: FakeKie, database: TestDatabase, **extra: str
) -> dict[str, str]:
    """The test settings, with the per-user limits out of the way and room for every task."""
    return (
        base_environment()
        | bot_environment(telegram, kie, database)
        | {
            "MAX_ACTIVE_TASKS_PER_USER": "1000",
            "DAILY_TASK_LIMIT": "1000",
            "MAX_CONCURRENT_TASKS": "1000",
            "POLL_INTERVAL_SECONDS": "1",
            "TASK_TIMEOUT_SECONDS": "900",
            "STATUS_EDIT_INTERVAL_SECONDS": "60",
            "PROVIDER_RETRY_DELAY_SECONDS": "0.1",
            "LOG_LEVEL": "INFO",
        }
        | extra
    )


class Finisher:
    """Completes the fake provider's tasks at random times, in the background."""

    def __init__(self, kie: FakeKie, rng: random.Random) -> None:
        self.kie = kie
        self.rng = rng
        self.due: dict[str, float] = {}
        self.completed: dict[str, float] = {}  # job id -> when it was completed (monotonic)
        self.callbacks_failed = 0  # callbacks nobody answered with 200 (the safety poll's turn)
        self._job: asyncio.Task[None] | None = None
        self._callbacks = False
        self._sending: set[asyncio.Task[None]] = set()

    def each_after_creation(self, low: float, high: float, *, callbacks: bool = False) -> None:
        """Every task (also those created later) finishes `low`-`high` s after its creation;
        with `callbacks`, the provider then POSTs its callback (webhook mode), once."""
        self._callbacks = callbacks
        self._job = asyncio.create_task(
            self._run(lambda: time.monotonic() + self._delay(low, high))
        )

    def all_within(self, spread: float) -> None:
        """Every task finishes at a random moment of the next `spread` seconds."""
        start = time.monotonic()
        self._job = asyncio.create_task(self._run(lambda: start + self._delay(0.0, spread)))

    def _delay(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    async def _run(self, when: Callable[[], float]) -> None:
        while True:
            now = time.monotonic()
            for task_id, task in list(self.kie.tasks.items()):
                if task_id not in self.due:
                    self.due[task_id] = when()
                if self.due[task_id] <= now and task.success_flag == 0:
                    self.kie.complete(task_id)
                    self.completed[task_id] = now
                    if self._callbacks:
                        sending = asyncio.create_task(self._call_back(task_id))
                        self._sending.add(sending)
                        sending.add_done_callback(self._sending.discard)
            await asyncio.sleep(0.02)

    async def _call_back(self, task_id: str) -> None:
        try:
            answer = await self.kie.send_callback(task_id)
        except httpx.HTTPError:
            self.callbacks_failed += 1
            return
        if answer.status_code != 200:
            self.callbacks_failed += 1

    async def stop(self) -> None:
        for job in [self._job, *self._sending]:
            if job is not None:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job


@dataclass
class Drill:
    """One drill's world, made by open_drill; still readable after it has closed."""

    telegram: FakeTelegram
    kie: FakeKie
    bot: BotProcess
    finisher: Finisher
    database: TestDatabase
    tasks: int
    user_ids: list[int]
    per_user: int
    granted: int | None = None  # payments on: the credits each user was given

    async def submit(self) -> None:
        """Every user submits their tasks through the chat, one card at a time."""
        await submit_cards(self.telegram, self.user_ids, self.per_user)

    def videos(self) -> Counter[int]:
        """How many videos the fake Telegram accepted for each task number."""
        return videos_per_task(self.telegram, self.user_ids)

    def rows(self) -> dict[int, tuple[str, str]]:
        """Task id -> (state, video_url), as stored."""
        return task_rows(self.database)

    async def settled(self, within: float) -> dict[int, tuple[str, str]]:
        """The rows, once every task exists and has ended."""
        return await wait_settled(self.database, self.tasks, within)

    async def stop_bot(self, linger: float, who: str = "the bot") -> None:
        """After `linger` s (room for a duplicate to show up, if there were one), SIGTERM; the
        bot must exit cleanly."""
        await asyncio.sleep(linger)
        code = await self.bot.stop()
        if code != 0:
            raise AssertionError(f"{who} exited with {code}")

    def bug_reports(self) -> list[str]:
        return admin_bug_reports(self.telegram)

    async def ledger_audit(self) -> LedgerAudit | None:
        """Payments on: the ledger checked against how the tasks ended (bench.drill.payments)."""
        if self.granted is None:
            return None
        return await audit_ledger(self.database, self.user_ids, self.granted)


@contextlib.asynccontextmanager
async def open_drill(
    name: str,
    tasks: int,
    users: int,
    *,
    seed: int,
    workdir: Path | None = None,
    env: dict[str, str] | None = None,
    prepare: Prepare | None = None,
    payments: bool = False,
) -> AsyncIterator[Drill]:
    """The fakes started, the bot's process ready to start (in `workdir`, a new temporary
    directory by default), the Finisher ready; on the way out the Finisher is stopped and any
    bot process still running is killed. `env`: settings on top of the drill's. `payments`:
    PAYMENTS=stars, each user given exactly enough credits for their tasks (bench.drill.payments)
    """
    rng = random.Random(seed)
    user_ids, per_user = users_for(tasks, users)
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"drill-{name}-"))
    database = TestDatabase(workdir / "data" / "bot.sqlite3")
    telegram = FakeTelegram()
    kie = FakeKie(rate_limit=None, result_size=RESULT_SIZE)
    if prepare is not None:
        prepare(telegram, kie, rng)
    settings = (payment_settings() if payments else {}) | (env or {})
    granted = await seed_credits(database, user_ids, per_user) if payments else None
    async with telegram, kie:
        bot = BotProcess(drill_environment(telegram, kie, database, **settings), workdir)
        finisher = Finisher(kie, rng)
        try:
            yield Drill(telegram, kie, bot, finisher, database, tasks, user_ids, per_user, granted)
        finally:
            await finisher.stop()
            bot.close()
