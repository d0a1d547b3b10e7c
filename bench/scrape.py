"""What a scrape of /metrics costs with many tasks in the database (issue 17).

    python3 manage.py bench scrape [--tasks 100000] [--scrapes 200] [--calls 100000]
                                   [--database sqlite|postgresql]

A fresh database (the bot's migrations) gets `--tasks` task rows, mostly ended as a bot's
history would be (92 % delivered, 5 % failed, 1 % cancelled...) and some in flight (on
PostgreSQL then vacuumed and analysed, as autovacuum soon would); the bot's
own `PrometheusMetrics`, reading the database through the bot's `TaskRepository` as it does at
every scrape (the tasks by state in one GROUP BY, and the tasks at the provider), is then
scraped `--scrapes` times:
- in the process: `render()`, the database's two queries and the text exposition (the
  counters filled as a day of a busy bot would fill them: every Bot API method and outcome,
  every failure reason, the histograms);
- over HTTP: the same `MetricsPage` on its own server (`METRICS_PORT`, the web server's guarded
  uvicorn) on loopback, asked with httpx, one request at a time.
Printed: the median, 95th percentile and largest time of each, the queries' share, the size of
the answer, and the CPU time per scrape. Prometheus' default is a scrape every 15 s (or 60 s).

First, what counting costs on the hot path, in the process alone (steadier than a whole bot's
throughput on a busy machine): one Bot API call through `SharedSends`' counting wrapper (a call
that does nothing), and each of the Metrics port's calls, with the metrics on and off
(`NO_METRICS`), in microseconds per call (the best of 5 runs of `--calls`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from bench.engines.engine import Engine, add_option, exit_on_sigterm
from bench.scale.load import Rows, insert_postgres
from bench.throughput import cpu_model
from bot.domain.failures import Failure
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.records import TaskState
from bot.metrics import MetricsPage, PrometheusMetrics, metrics_server
from bot.sends import counted
from storage.db import Database
from storage.tasks import TaskRepository
from tests.database import TestDatabase

# The share of each state among the tasks (a bot's history: mostly ended).
STATES = {
    TaskState.DELIVERED: 0.92,
    TaskState.FAILED: 0.05,
    TaskState.CANCELLED: 0.01,
    TaskState.UNDELIVERABLE: 0.005,
    TaskState.UNKNOWN: 0.001,
    TaskState.PROCESSING: 0.01,
    TaskState.QUEUED: 0.004,
}
METHODS = (
    "sendMessage",
    "editMessageText",
    "sendVideo",
    "sendDocument",
    "answerCallbackQuery",
    "sendChatAction",
    "copyMessage",
    "setMyCommands",
    "setWebhook",
    "getFile",
    "getMe",
    "answerPreCheckoutQuery",
)
OUTCOMES = ("ok", "retry_after", "bad_request", "forbidden", "timed_out")
USERS = 5000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def describe(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"  {name:32} median {statistics.median(ms):7.2f} ms   p95 {percentile(ms, 95):7.2f} ms"
        f"   max {max(ms):7.2f} ms"
    )


def rows(count: int) -> list[tuple[str, Rows]]:
    now = time.time()
    rng = random.Random(17)
    states = rng.choices(list(STATES), weights=list(STATES.values()), k=count)
    users: Rows = [(u, f"user{u}", now, now) for u in range(1, USERS + 1)]
    drafts: Rows = [
        (i, 1 + i % USERS, 1 + i % USERS, "https://v.example.com/a.mp4", "a prompt", now, now)
        for i in range(1, count + 1)
    ]
    tasks: Rows = [
        (
            i,
            1 + i % USERS,
            1 + i % USERS,
            i,
            "kie",
            "https://v.example.com/a.mp4",
            "a prompt",
            str(state),
            f"job-{i}" if state not in (TaskState.QUEUED, TaskState.CANCELLED) else None,
            now - (count - i) * 30.0,  # one every 30 s: about five weeks of history
            now if state is TaskState.PROCESSING else None,
        )
        for i, state in enumerate(states, 1)
    ]
    return [
        (
            "INSERT INTO users (id, username, first_name, first_seen_at, last_seen_at) "
            "VALUES (?, ?, 'Bench', ?, ?)",
            users,
        ),
        (
            "INSERT INTO drafts (id, user_id, chat_id, video_url, prompt, state, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, 'submitted', ?, ?)",
            drafts,
        ),
        (
            "INSERT INTO tasks (id, user_id, chat_id, draft_id, provider, video_url, prompt, "
            "state, provider_task_id, created_at, submitted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tasks,
        ),
    ]


async def fill(database: TestDatabase, count: int) -> None:
    db = await Database.open(database.target)  # the bot's schema, migrated
    await db.close()
    inserts = rows(count)
    if database.url is None:
        with sqlite3.connect(database.path) as conn:
            for sql, values in inserts:
                conn.executemany(sql, values)
    else:
        await insert_postgres(database.url, inserts)
        # What autovacuum does to a table of that size soon after: statistics for the planner,
        # and the visibility map that lets a count read the index alone.
        pg = await asyncpg.connect(database.url)
        try:
            await pg.execute("VACUUM ANALYZE tasks")
        finally:
            await pg.close()


def busy_day(metrics: PrometheusMetrics) -> None:
    """Every label the counters get in a busy day, so the exposition is a real one's size."""
    for method in METHODS:
        for outcome in OUTCOMES:
            metrics.telegram_call(method, outcome, 0.05)
    for endpoint in ("submit", "status", "credits"):
        for outcome in ("ok", Failure.RATE_LIMITED, Failure.UNREACHABLE, Failure.PROVIDER_ERROR):
            metrics.provider_request(endpoint, outcome, 0.2)
    for failure in Failure:
        metrics.task_finished(TaskState.FAILED, failure)
    for kind in ("video", "document", "link"):
        metrics.task_delivered(kind, 200.0, 3.0)
    for kind in ("video", "image", "file"):
        for outcome in ("kept", "refused", "failed"):
            metrics.upload(kind, outcome)
    metrics.tracker_round(0.002)


async def counting_costs(calls: int) -> None:
    """Microseconds per call of each way the bot counts, with the metrics on and off."""
    on, off = PrometheusMetrics(instance="host:1:ab12"), NO_METRICS

    async def nothing() -> bool:
        return True

    async def api_calls(metrics: Metrics | None) -> None:
        for _ in range(calls):
            call = counted(nothing, "sendMessage", metrics) if metrics else nothing
            await call()

    def port_calls(metrics: Metrics) -> None:
        for _ in range(calls):
            metrics.task_finished(TaskState.FAILED, Failure.TIMED_OUT)
            metrics.provider_request("status", "ok", 0.1)
            metrics.task_delivered("video", 120.0, 2.0)
            metrics.tracker_round(0.002)

    async def best(work: Callable[[], Awaitable[None] | None]) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            result = work()
            if result is not None:
                await result
            times.append(time.perf_counter() - started)
        return min(times) / calls * 1e6

    print(f"Counting on the hot path (microseconds per call, best of 5 x {calls:,}):")
    api_on, api_off = await best(lambda: api_calls(on)), await best(lambda: api_calls(None))
    print(
        f"  a Bot API call's counting (wrapper, counter, histogram): {api_on - api_off:.2f} "
        f"({api_on:.2f} with, {api_off:.2f} without)"
    )
    port_on, port_off = await best(lambda: port_calls(on)), await best(lambda: port_calls(off))
    print(
        f"  a task's four port calls (failed, provider request, delivered, round): "
        f"{port_on:.2f} on, {port_off:.2f} with NO_METRICS\n",
        flush=True,
    )


async def run(args: argparse.Namespace, engine: Engine) -> None:
    print(f"{args.tasks} tasks, {args.scrapes} scrapes of each kind; {engine.describe()}")
    print(
        f"Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}\n",
        flush=True,
    )
    await counting_costs(args.calls)
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as folder:
        database = await asyncio.to_thread(engine.database, Path(folder))
        try:
            started = time.perf_counter()
            await fill(database, args.tasks)
            print(f"Filled in {time.perf_counter() - started:.1f} s", flush=True)
            await measure(args, database)
        finally:
            await asyncio.to_thread(engine.drop, database)


async def measure(args: argparse.Namespace, database: TestDatabase) -> None:
    db = await Database.open(database.target)
    tasks = TaskRepository(db)
    metrics = PrometheusMetrics(max_at_provider=10)
    metrics.read_from_database(
        task_counts=lambda: tasks.count_by_state(since=0.0),
        at_provider=lambda: tasks.count_at_provider(unknown_since=time.time() - 1800),
    )
    busy_day(metrics)
    page = MetricsPage(metrics, "a-token")
    server = metrics_server(page, "127.0.0.1", 0, header_timeout=5.0, send_timeout=30.0)
    try:
        for _ in range(5):  # warm-up: the database's caches, the code's first run
            body = await metrics.render()
        counts = await tasks.count_by_state(since=0.0)
        assert sum(counts.values()) == args.tasks, counts
        renders, queries = [], []
        cpu = time.process_time()
        for _ in range(args.scrapes):
            started = time.perf_counter()
            body = await metrics.render()
            renders.append(time.perf_counter() - started)
            queries.append(_queries_seconds(body))
        cpu_each = (time.process_time() - cpu) / args.scrapes
        await server.start()
        url = f"http://127.0.0.1:{server.port}/metrics"
        gets = []
        async with httpx.AsyncClient(headers={"Authorization": "Bearer a-token"}) as client:
            for _ in range(5):
                (await client.get(url)).raise_for_status()
            for _ in range(args.scrapes):
                started = time.perf_counter()
                response = await client.get(url)
                gets.append(time.perf_counter() - started)
                response.raise_for_status()
        lines = body.count(b"\n")
        print(f"Scrape of {len(body):,} bytes, {lines:,} lines:")
        print(describe("the database's two queries", queries))
        print(describe("render() (queries + exposition)", renders))
        print(describe("GET /metrics over loopback HTTP", gets))
        print(f"  CPU time per render(): {cpu_each * 1000:.2f} ms (the bot's process)")
        print(f"  at one scrape every 15 s: {cpu_each / 15 * 100:.3f} % of one CPU")
    finally:
        await server.stop()
        await db.close()


def _queries_seconds(body: bytes) -> float:
    for line in body.splitlines():
        if line.startswith(b"lumabot_scrape_database_seconds "):
            return float(line.split()[1])
    raise AssertionError("no lumabot_scrape_database_seconds in the scrape")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--calls", type=int, default=100_000, help="calls per counting run")
    add_option(parser)
    return parser


def main() -> None:
    args = parser().parse_args()
    exit_on_sigterm()
    engine = Engine.start(args.database)
    try:
        asyncio.run(run(args, engine))
    finally:
        engine.close()


if __name__ == "__main__":
    main()
