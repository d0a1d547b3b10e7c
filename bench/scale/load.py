"""The tracking bench's load: tasks already in flight, as a restart would find them (in the
database as `processing`, their jobs held by the fake KIE, their status cards at the fake
Telegram), and each job finished at the fake when its time comes (in webhook mode with the
provider's callback). The same rows go into a SQLite file or a PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from bot.urls import callback_url
from storage.db import Database
from storage.postgres import to_postgres
from tests.database import TestDatabase
from tests.fakes.kie import FakeKie, FakeTask
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram

FIRST_USER = 100_000
PROVIDER = "kie"
PROMPT = "make it look like a chalk drawing"


@dataclass
class Job:
    user: int
    provider_id: str
    token: str
    finish_after: float  # seconds after the bot is ready
    card: int | None = None
    done_at: float = 0.0  # time.monotonic() when the fake's task became complete


def make_jobs(count: int, finish: tuple[float, float]) -> list[Job]:
    """`count` jobs, each of a user of its own, finishing at random within `finish` seconds."""
    low, high = finish
    return [
        Job(
            user=FIRST_USER + i,
            provider_id=secrets.token_hex(16),
            token=secrets.token_urlsafe(24),
            finish_after=random.uniform(low, high),
        )
        for i in range(count)
    ]


def give_to_fake(
    kie: FakeKie, jobs: list[Job], public_urls: Sequence[str] | None, result_bytes: int
) -> None:
    """The fake KIE holds every job, running; with the bots' `public_urls` (webhook mode) each
    has the callback URL the bot gave when it submitted the task, to the instances in turn."""
    for i, job in enumerate(jobs):
        kie.tasks[job.provider_id] = FakeTask(
            task_id=job.provider_id,
            prompt=PROMPT,
            video_url=f"https://v.example.com/{job.user}.mp4",
            callback_url=(
                callback_url(public_urls[i % len(public_urls)], PROVIDER, job.token)
                if public_urls is not None
                else None
            ),
            watermark=None,
            result_size=result_bytes,
        )


async def create_cards(telegram: FakeTelegram, jobs: list[Job]) -> None:
    """The status cards the previous run of the bot sent (through the fake's own API)."""
    url = f"{telegram.url}/bot{TEST_BOT_TOKEN}/sendMessage"
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=30.0) as client:

        async def card(job: Job) -> None:
            async with gate:
                text = f"Task #{job.user - FIRST_USER + 1} · processing"
                response = await client.post(url, json={"chat_id": job.user, "text": text})
                job.card = int(response.json()["result"]["message_id"])

        await asyncio.gather(*(card(job) for job in jobs))


Rows = list[tuple[Any, ...]]


async def store_tasks(
    database: TestDatabase, jobs: list[Job], *, poll: float, first_check: float
) -> None:
    """Insert users, submitted drafts and processing tasks, as a restart would find them: in
    the SQLite file, or the PostgreSQL database when `database` has a URL."""
    db = await Database.open(database.target)  # creates the schema (if not there yet)
    await db.close()
    inserts = rows_of(jobs, poll=poll, first_check=first_check)
    if database.url is None:
        with sqlite3.connect(database.path) as conn:
            for sql, rows in inserts:
                conn.executemany(sql, rows)
    else:
        await insert_postgres(database.url, inserts)


async def insert_postgres(url: str, inserts: list[tuple[str, Rows]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for sql, rows in inserts:
                await conn.executemany(to_postgres(sql), rows)
            # The ids were given: the ones the bot would insert next follow them.
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('drafts', 'id'), "
                "(SELECT MAX(id) FROM drafts))"
            )
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT MAX(id) FROM tasks))"
            )
    finally:
        await conn.close()


def rows_of(jobs: Sequence[Job], *, poll: float, first_check: float) -> list[tuple[str, Rows]]:
    """The INSERT statements (with `?` placeholders) and their rows."""
    now = time.time()
    return [
        (
            "INSERT INTO users (id, username, first_name, first_seen_at, last_seen_at) "
            "VALUES (?, ?, 'Bench', ?, ?)",
            [(j.user, f"user{j.user}", now, now) for j in jobs],
        ),
        (
            "INSERT INTO drafts (id, user_id, chat_id, video_url, prompt, state, "
            "card_message_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'submitted', ?, ?, ?)",
            [
                (i, j.user, j.user, f"https://v.example.com/{j.user}.mp4", PROMPT, j.card, now, now)
                for i, j in enumerate(jobs, 1)
            ],
        ),
        (
            "INSERT INTO tasks (id, user_id, chat_id, draft_id, provider, video_url, prompt, "
            "state, provider_task_id, status_message_id, created_at, submitted_at, "
            "next_check_at, status_edited_at, callback_token) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'processing', ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    j.user,
                    j.user,
                    i,
                    PROVIDER,
                    f"https://v.example.com/{j.user}.mp4",
                    PROMPT,
                    j.provider_id,
                    j.card,
                    now,
                    now,
                    now + random.uniform(0, poll) if first_check <= poll else now + first_check,
                    now,
                    j.token,
                )
                for i, j in enumerate(jobs, 1)
            ],
        ),
    ]


async def finish_all(kie: FakeKie, jobs: list[Job], ready_at: float, webhook: bool) -> int:
    """Complete each task at the fake when its time comes; in webhook mode send its callback.
    Returns how many callbacks were not answered 200."""
    refused = 0
    pending: set[asyncio.Task[None]] = set()
    # A connection of its own for each callback, as a provider's would be (and no race with
    # the bot's web server closing an idle kept-alive one).
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    # At most that many callbacks out at once, waiting here: httpcore's pool looks through all
    # the requests it queues each time a connection frees (thousands queued made this process
    # spend its time there, and the fakes it serves stalled; issue 18's runs with 3 instances).
    out = asyncio.Semaphore(200)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:

        async def call_back(job: Job) -> None:
            nonlocal refused
            task = kie.tasks[job.provider_id]
            body = json.dumps(kie.callback_body(job.provider_id), separators=(",", ":"))
            assert task.callback_url is not None
            try:
                async with out:
                    response = await client.post(
                        task.callback_url,
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
            except httpx.HTTPError:
                refused += 1
            else:
                refused += response.status_code != 200

        for job in sorted(jobs, key=lambda j: j.finish_after):
            delay = ready_at + job.finish_after - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            kie.complete(job.provider_id)
            job.done_at = time.monotonic()
            if webhook:
                sending = asyncio.create_task(call_back(job))
                pending.add(sending)
                sending.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
    return refused
