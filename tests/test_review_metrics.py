"""Found by a review of issue 17, fixed, and kept as tests:

1. Scrapes share one database read, reused for SNAPSHOT_SECONDS: N scrapes at once (the page
   may be public: webhook mode without METRICS_TOKEN) run one GROUP BY, not N.
2. /stats: when Telegram refuses the picture, the admin still gets the figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from bot.app import BotApp
from bot.domain.records import TaskState
from bot.metrics import PrometheusMetrics
from storage.tasks import TaskRepository
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, Chat
from tests.test_stats_chart import one_delivered_task
from tests.test_webhook import webhook_settings


async def test_scrapes_at_once_share_one_database_read() -> None:
    reads = 0

    async def task_counts() -> dict[TaskState, int]:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)  # a GROUP BY over many tasks
        return {TaskState.QUEUED: 1}

    async def at_provider() -> int:
        return 0

    metrics = PrometheusMetrics()
    metrics.read_from_database(task_counts=task_counts, at_provider=at_provider)
    await asyncio.gather(*(metrics.render() for _ in range(20)))
    # Expected: one read (single flight), or a few at most; found: 20.
    assert reads <= 2, f"{reads} database reads for 20 simultaneous scrapes"


async def test_unauthenticated_public_metrics_cannot_drive_the_database(
    start_bot: Callable[..., Any], monkeypatch: Any
) -> None:
    """Webhook mode, no METRICS_TOKEN (the default): /metrics is on the public web server."""
    reads = 0
    original = TaskRepository.count_by_state

    async def counting(self: TaskRepository, since: float) -> dict[TaskState, int]:
        nonlocal reads
        reads += 1
        return await original(self, since)

    monkeypatch.setattr(TaskRepository, "count_by_state", counting)
    app: BotApp = await start_bot(**webhook_settings())
    reads = 0
    url = f"{app.settings.public_url}/metrics"
    async with httpx.AsyncClient() as client:  # a stranger, no Authorization header
        answers = await asyncio.gather(*(client.get(url) for _ in range(30)))
    assert all(a.status_code == 200 for a in answers)
    # Expected: the database read once for the burst (or rate-limited); found: once per GET.
    assert reads <= 2, f"30 anonymous GETs ran {reads} full-table GROUP BYs"


async def test_stats_figures_still_come_when_telegram_refuses_the_picture(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat, telegram: FakeTelegram
) -> None:
    await start_bot()
    await one_delivered_task(kie, chat)
    telegram.fail_next("sendPhoto", error_code=400, description="Bad Request: IMAGE_PROCESS_FAILED")
    admin = Chat(telegram, ADMIN_ID)
    telegram.send_message(ADMIN_ID, "/stats", username=admin.username, language_code="en")
    await admin.settle()  # /help answered: /stats' handler is done
    texts_seen = [m.rendered or "" for m in telegram.messages(ADMIN_ID)]
    # Expected: the figures as text after the refused picture; found: nothing but /help's answer.
    assert any("Done: 1 / 1 / 1" in t for t in texts_seen), texts_seen
