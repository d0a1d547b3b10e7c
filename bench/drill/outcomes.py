"""What a drill reads back: the videos the fake Telegram accepted, the task rows as stored,
the time from the provider's result to its video, and the admins' bug reports."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Sequence

from tests.database import TestDatabase, connect
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID

TERMINAL_STATES = frozenset({"delivered", "failed", "unknown", "undeliverable"})
CAPTION = re.compile(r"Task #(\d+):")


def videos_per_task(telegram: FakeTelegram, users: Sequence[int]) -> Counter[int]:
    """How many videos the fake Telegram accepted for each task number."""
    counts: Counter[int] = Counter()
    for user in users:
        for message in telegram.messages(user):
            if message.kind == "video" and (m := CAPTION.match(message.caption or "")):
                counts[int(m.group(1))] += 1
    return counts


def task_rows(database: TestDatabase) -> dict[int, tuple[str, str]]:
    """Task id -> (state, video_url), as stored."""
    with connect(database) as conn:
        try:
            rows = conn.execute("SELECT id, state, video_url FROM tasks").fetchall()
        except Exception as error:  # not created yet (SQLite; the drills make PostgreSQL's)
            if "no such table" in str(error):
                return {}
            raise
    return {int(i): (str(s), str(u)) for i, s, u in rows}


async def wait_settled(
    database: TestDatabase, count: int, within: float
) -> dict[int, tuple[str, str]]:
    """Wait until `count` tasks exist and every one of them has ended."""
    deadline = time.monotonic() + within
    while True:
        rows = task_rows(database)
        if len(rows) >= count and all(s in TERMINAL_STATES for s, _ in rows.values()):
            return rows
        if time.monotonic() > deadline:
            states = Counter(s for s, _ in rows.values())
            raise AssertionError(f"tasks not settled after {within:g} s: {dict(states)}")
        await asyncio.sleep(0.25)


def delivery_latencies(
    telegram: FakeTelegram, database: TestDatabase, completed: dict[str, float]
) -> list[float]:
    """Seconds from each task's completion at the provider (`completed`: job id -> when, as
    the Finisher notes it) to its first sendVideo at Telegram."""
    with connect(database) as conn:
        jobs = dict(conn.execute("SELECT id, provider_task_id FROM tasks").fetchall())
    first: dict[int, float] = {}
    for call in telegram.calls_to("sendVideo"):
        m = CAPTION.match(str(call.params.get("caption", "")))
        if m:
            first.setdefault(int(m.group(1)), call.at)
    return [at - completed[jobs[task]] for task, at in first.items() if jobs.get(task) in completed]


def admin_bug_reports(telegram: FakeTelegram) -> list[str]:
    """Reports of unexpected errors the admin received (not the failed-task reports)."""
    return [
        m.rendered or ""
        for m in telegram.messages(ADMIN_ID)
        if "🐞" in (m.rendered or "") or "Unhandled" in (m.rendered or "")
    ]
