"""Callbacks versus polling: how fast a finished task reaches the chat, and what it costs.

    python3 manage.py bench callbacks [--tasks 100]

Runs the real bot (in this process) against the fake Telegram and KIE servers on loopback, twice:
1. webhook mode: each task finishes by a provider callback, spread at random over a few seconds;
   prints the time from the callback's arrival to the start of its sendVideo request (p50, p95)
   and the status requests per task (the safety poll comes only after SAFETY_POLL_DELAY_SECONDS);
2. polling only: tasks finish at random times without callbacks, polled every POLL seconds;
   prints the same two figures.
Times are scaled down (a poll every 0.5 s instead of 15 s, tasks of 2-20 s instead of 2-20
minutes); the ratio of status requests per task is what carries over.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.app import BotApp
from bot.config import load_settings
from tests.fakes.kie import TEST_KIE_KEY, FakeKie, FakeTask
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram

POLL = 0.5
PROCESSING = (2.0, 20.0)
FIRST_USER = 10_000


@dataclass
class Figures:
    latencies_ms: list[float]
    status_requests_per_task: float
    seconds: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def submit_all(telegram: FakeTelegram, kie: FakeKie, count: int) -> dict[int, FakeTask]:
    """Each of `count` users sends a link and a prompt and presses Submit; tasks by user."""
    users = range(FIRST_USER, FIRST_USER + count)
    for user in users:
        telegram.send_message(user, f"https://v.example.com/{user}.mp4 make it look like chalk")
    await telegram.wait_until(
        lambda: all(telegram.messages(u) for u in users), timeout=120, what="every card"
    )
    for user in users:
        card = telegram.messages(user)[0]
        submit = next(d for t, d in telegram.buttons(user, card.message_id) if "Submit" in t)
        telegram.press_button(user, card.message_id, submit)
    tasks = await kie.wait_for_task(count=count, timeout=120)
    return {int(t.video_url.rsplit("/", 1)[1].split(".")[0]): t for t in tasks}


def first_video_at(telegram: FakeTelegram, user: int) -> float:
    return next(c.at for c in telegram.calls_to("sendVideo", chat_id=user))


async def run(count: int, *, callbacks: bool, spread: float) -> Figures:
    async with FakeTelegram() as telegram, FakeKie(rate_limit=None, result_size=100_000) as kie:
        port = free_port()
        settings = load_settings(
            _env_file=None,
            telegram_bot_token=TEST_BOT_TOKEN,
            telegram_api_url=telegram.url,
            provider_api_key=TEST_KIE_KEY,
            provider_base_url=kie.url,
            database_path=Path(tempfile.mkdtemp()) / "bot.sqlite3",
            poll_interval_seconds=POLL,
            public_url=f"http://127.0.0.1:{port}" if callbacks else "",
            web_host="127.0.0.1",
            web_port=port,
            safety_poll_delay_seconds=600,
            log_level="WARNING",
        )
        app = BotApp(settings)
        await app.start()
        started = time.monotonic()
        try:
            tasks = await submit_all(telegram, kie, count)
            done_at: dict[int, float] = {}

            async def finish(user: int, task: FakeTask, delay: float) -> None:
                await asyncio.sleep(delay)
                kie.complete(task.task_id)
                done_at[user] = time.monotonic()
                if callbacks:
                    response = await kie.send_callback(task.task_id)
                    response.raise_for_status()

            low, high = (0.0, spread) if callbacks else PROCESSING
            await asyncio.gather(
                *(finish(u, t, random.uniform(low, high)) for u, t in tasks.items())
            )
            await telegram.wait_for("sendVideo", count=count, timeout=120)
            latencies = [(first_video_at(telegram, u) - done_at[u]) * 1000 for u in tasks]
            status_requests = len(kie.status_requests()) / count
        finally:
            await app.stop()
        return Figures(latencies, status_requests, time.monotonic() - started)


def report(title: str, figures: Figures, what: str) -> None:
    lat = figures.latencies_ms
    print(title)
    print(
        f"  {what} -> sendVideo started: p50 {percentile(lat, 50):.0f} ms, "
        f"p95 {percentile(lat, 95):.0f} ms, max {max(lat):.0f} ms"
    )
    print(f"  status requests per task: {figures.status_requests_per_task:.2f}")
    print(f"  run took {figures.seconds:.1f} s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument(
        "--spread",
        type=float,
        default=10.0,
        help="seconds over which the callbacks arrive (each task costs the bot two Bot API "
        "calls, and Telegram allows about 30 a second: below tasks/15 s, the wait for "
        "Telegram's limit dominates)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    random.seed(7)
    with_callbacks = await run(args.tasks, callbacks=True, spread=args.spread)
    polling = await run(args.tasks, callbacks=False, spread=args.spread)
    print(f"{args.tasks} tasks each way\n")
    report(
        f"Webhook mode (callbacks spread over {args.spread:g} s):",
        with_callbacks,
        "callback received",
    )
    low, high = PROCESSING
    report(
        f"Polling only (a poll every {POLL:g} s; tasks take {low:g}-{high:g} s):",
        polling,
        "provider done",
    )


if __name__ == "__main__":
    asyncio.run(main())
