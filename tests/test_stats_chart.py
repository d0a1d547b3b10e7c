"""/stats' picture of the last 14 days (bot/services/stats_chart.py): the per-day figures, the
PNG and its size, and what an admin gets: a photo with the figures as its caption, the figures
after a short caption when they are too long for one, and the text alone with no task ended."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from bot.domain.records import TaskState
from bot.services import stats_chart
from bot.services.admin import chart_labels
from bot.services.stats_chart import DAY, DAYS, daily, draw
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, Chat

PNG = b"\x89PNG\r\n\x1a\n"
# 2026-12-07 15:00 UTC: the chart's days are 2026-11-24 .. 2026-12-07.
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC).timestamp()
TODAY = datetime(2026, 12, 7, tzinfo=UTC).timestamp()


def png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


# ------------------------------------------------------------------------------ the figures


def test_the_window_is_the_last_14_utc_days_today_included() -> None:
    assert stats_chart.window_start(NOW) == TODAY - 13 * DAY
    assert stats_chart.window_start(TODAY) == TODAY - 13 * DAY  # midnight is today's
    days = daily([], NOW)
    assert [d.day for d in days][::13] == [date(2026, 11, 24), date(2026, 12, 7)]
    assert len(days) == DAYS
    assert all(d.ended == 0 and d.median is None and d.p90 is None for d in days)


def test_each_day_counts_its_endings_by_outcome() -> None:
    rows = [
        (TODAY + 10, TaskState.DELIVERED, 60.0),
        (TODAY + 20, TaskState.FAILED, 30.0),
        (TODAY + 30, TaskState.UNKNOWN, None),
        (TODAY + 40, TaskState.UNDELIVERABLE, 50.0),
        (TODAY + 50, TaskState.CANCELLED, None),
        (TODAY - 1, TaskState.DELIVERED, 90.0),  # yesterday's last second
        (TODAY - 13 * DAY, TaskState.FAILED, None),  # the first day's first second
        (TODAY - 13 * DAY - 1, TaskState.DELIVERED, 5.0),  # before the window
        (NOW + DAY, TaskState.DELIVERED, 5.0),  # after it (a clock moved)
        (TODAY + 60, TaskState.PROCESSING, None),  # not ended: never counted
    ]
    days = daily(rows, NOW)
    today, yesterday, first = days[-1], days[-2], days[0]
    assert (today.delivered, today.failed, today.other) == (1, 1, 3)
    assert (today.median, today.p90) == (60.0, 60.0)  # delivered tasks' times only
    assert (yesterday.delivered, yesterday.ended, yesterday.median) == (1, 1, 90.0)
    assert (first.failed, first.ended, first.median) == (1, 1, None)
    assert sum(d.ended for d in days) == 7


def test_median_and_p90_of_the_days_delivered_times() -> None:
    seconds = [float(s) for s in range(10, 110, 10)]  # 10 .. 100
    rows: list[tuple[float, TaskState, float | None]] = [
        (TODAY + i, TaskState.DELIVERED, s) for i, s in enumerate(reversed(seconds))
    ]
    rows.append((TODAY + 99, TaskState.DELIVERED, None))  # never timed: counted, not timed
    rows.append((TODAY + 98, TaskState.DELIVERED, -3.0))  # clocks moved: counted, not timed
    today = daily(rows, NOW)[-1]
    assert today.delivered == 12
    # The nearest rank, as /stats' figures compute it (bot/texts/admin.py).
    assert (today.median, today.p90) == (50.0, 90.0)


# ---------------------------------------------------------------------------- the picture


def test_the_picture_is_a_small_png() -> None:
    rows: list[tuple[float, TaskState, float | None]] = [
        (TODAY - d * DAY + i * 600, state, 45.0 + 37 * i + 300 * (d % 3))
        for d in range(DAYS)
        for i, state in enumerate([TaskState.DELIVERED] * 30 + [TaskState.FAILED] * 4)
    ]
    rows += [(TODAY - DAY + i, TaskState.UNKNOWN, None) for i in range(3)]
    days = daily(rows, NOW)
    png = draw(days, chart_labels(days))
    assert png.startswith(PNG)
    assert png_size(png) == (800, 450)
    assert len(png) < 100_000


def test_a_day_without_tasks_and_a_picture_with_one_task_only_draw() -> None:
    days = daily([(NOW, TaskState.FAILED, None)], NOW)  # no time at all to draw
    assert draw(days, chart_labels(days)).startswith(PNG)


async def test_drawing_fails_and_the_figures_go_without_the_picture(
    bot: BotApp,
    kie: FakeKie,
    chat: Chat,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await one_delivered_task(kie, chat)

    def broken(*_: Any) -> bytes:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(stats_chart, "draw", broken)
    admin = Chat(telegram, ADMIN_ID)
    stats = await admin.say("/stats")
    assert stats.kind == "text"
    assert "✅ Done: 1 / 1 / 1" in (stats.rendered or "")
    assert telegram.calls_to("sendPhoto") == []


# ------------------------------------------------------------------------ through the bot


async def one_delivered_task(kie: FakeKie, chat: Chat) -> None:
    await chat.press(await chat.card(), "Submit")
    (job,) = await kie.wait_for_task()
    kie.complete(job.task_id)
    await chat.wait_for_text("Done")


async def test_an_admin_gets_the_picture_with_the_figures_as_its_caption(
    bot: BotApp, kie: FakeKie, chat: Chat, telegram: FakeTelegram
) -> None:
    await one_delivered_task(kie, chat)
    admin = Chat(telegram, ADMIN_ID)
    before = admin.seen
    stats = await admin.say("/stats")
    assert stats.kind == "photo"
    assert stats.file is not None
    assert stats.file.startswith(PNG)
    assert len(stats.file) < 100_000
    caption = stats.rendered or ""
    assert caption.startswith("Statistics")
    assert "✅ Done: 1 / 1 / 1" in caption
    assert "Credits at KIE.ai: 100" in caption
    await admin.settle()
    assert admin.seen == before + 2  # the picture, then /help's answer: nothing else


async def test_figures_too_long_for_a_caption_follow_the_picture(
    bot: BotApp,
    kie: FakeKie,
    chat: Chat,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await one_delivered_task(kie, chat)
    monkeypatch.setattr(texts, "CAPTION_LIMIT", 100)  # the figures are longer than that
    admin = Chat(telegram, ADMIN_ID)
    before = admin.seen
    photo = await admin.say("/stats")
    assert photo.kind == "photo"
    assert photo.caption == texts.admin_chart_caption()
    figures = await admin.message_after(before + 1)
    assert figures.kind == "text"
    assert "✅ Done: 1 / 1 / 1" in (figures.rendered or "")


async def test_with_no_task_ended_the_figures_come_alone(
    start_bot: Callable[..., Any], telegram: FakeTelegram
) -> None:
    await start_bot()
    admin = Chat(telegram, ADMIN_ID)
    stats = await admin.say("/stats")
    assert stats.kind == "text"
    assert "Statistics" in (stats.rendered or "")
    await admin.settle()
    assert telegram.calls_to("sendPhoto") == []


def test_the_window_start_is_now_based() -> None:
    now = time.time()
    assert now - 14 * DAY < stats_chart.window_start(now) <= now - 13 * DAY
