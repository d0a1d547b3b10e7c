"""The status card's estimate: once a few tasks have finished at the provider, a processing
task's card says how long tasks take lately and the time left, and a queued one when it should
start, instead of the provider's general "2–20 minutes"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import Chat

GENERAL = "This usually takes 2–20 minutes"


async def run_to_the_end(chat: Chat, kie: FakeKie, telegram: FakeTelegram, n: int) -> None:
    card = await chat.card(f"https://v.example.com/{n}.mp4 make it red, take {n}")
    await chat.press(card, "Submit")
    *_, job = await kie.wait_for_task(count=n + 1)
    kie.complete(job.task_id)
    await telegram.wait_for("sendVideo", count=n + 1)
    await chat.wait_for_text(f"Task #{n + 1} · ✅ Done")


def shown(telegram: FakeTelegram, chat: Chat, card: SentMessage) -> str:
    return telegram.message(chat.user_id, card.message_id).text or ""


async def test_cards_show_the_typical_time_once_five_tasks_have_finished(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(max_concurrent_tasks=1, daily_task_limit=20, max_active_tasks_per_user=5)
    first = await chat.card("https://v.example.com/a.mp4 make it red")
    await chat.press(first, "Submit")
    (job,) = await kie.wait_for_task()
    await chat.wait_for_text("Processing")
    assert GENERAL in shown(telegram, chat, first)  # nothing to go by yet
    kie.complete(job.task_id)
    await telegram.wait_for("sendVideo")
    for n in range(1, 5):
        await run_to_the_end(chat, kie, telegram, n)

    running = await chat.card("https://v.example.com/f.mp4 make it blue")
    await chat.press(running, "Submit")
    await kie.wait_for_task(count=6)
    queued = await chat.card("https://v.example.com/g.mp4 make it green")
    await chat.press(queued, "Submit")
    await telegram.wait_until(
        lambda: "It should start in about 1 min" in shown(telegram, chat, queued),
        what="the queued card's estimated start",
    )
    await telegram.wait_until(
        lambda: (
            "Tasks take about 1 min lately" in shown(telegram, chat, running)
            or "takes longer than most" in shown(telegram, chat, running)
        ),
        what="the running card's estimate",
    )
    assert GENERAL not in shown(telegram, chat, running)
