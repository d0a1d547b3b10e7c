"""One run of the tracking bench: the fakes, the load, the bot in a process of its own
(`python -m bench.tracking --child`, bench.scale.child) on a fresh database (SQLite, or
PostgreSQL: bench.engines), until every task has its video."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.engines.engine import Engine
from bench.scale.child import READY, STATS
from bench.scale.figures import TELEGRAM_RATE, Figures, Tracked, take_figures
from bench.scale.load import (
    PROVIDER,
    Job,
    create_cards,
    finish_all,
    give_to_fake,
    make_jobs,
    store_tasks,
)
from bench.scale.measures import cpu_seconds, free_port
from bench.scale.options import LONG, Options
from bench.updates.measure import machine_busy
from tests.database import TestDatabase
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent.parent
CHILD_PREFIX_ENV = "BENCH_TRACKING_CHILD_PREFIX"


async def run(mode: str, options: Options, engine: Engine) -> Figures:
    webhook = mode == "webhook"
    async with (
        FakeTelegram() as telegram,
        FakeKie(rate_limit=None, result_size=options.result_bytes) as kie,
    ):
        kie.status_delay = options.status_latency
        ports = [free_port() for _ in range(options.instances)]
        public_urls = [f"http://127.0.0.1:{port}" if webhook else "" for port in ports]
        jobs = make_jobs(options.tasks, options.finish)
        # Several instances: the callbacks are spread over them in turn (a round-robin balancer).
        give_to_fake(kie, jobs, public_urls if webhook else None, options.result_bytes)
        if options.cards:
            await create_cards(telegram, jobs)
        folder = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
        database = await asyncio.to_thread(engine.database, folder)
        try:
            first_check = LONG if webhook else options.poll
            await store_tasks(database, jobs, poll=options.poll, first_check=first_check)
            started = time.monotonic()
            processes = [
                await start_child(
                    {
                        "settings": bot_settings(
                            options, (telegram, kie), database, public_url, port
                        ),
                        "tracemalloc": options.tracemalloc,
                    }
                )
                for public_url, port in zip(public_urls, ports, strict=True)
            ]
            try:
                tracked = await track(processes, (telegram, kie), jobs, options, webhook, engine)
            finally:
                for process in processes:
                    await wait_exit(process)
            seconds = time.monotonic() - started
        finally:
            await asyncio.to_thread(engine.drop, database)
        return take_figures(mode, options, jobs, (telegram, kie), tracked, seconds)


def bot_settings(
    options: Options,
    fakes: tuple[FakeTelegram, FakeKie],
    database: TestDatabase,
    public_url: str,
    port: int,
) -> dict[str, Any]:
    """The bot's settings: the fakes, its database, checks every `options.poll` s, and
    nothing else due during the run (safety polls, time-outs, card refreshes unless asked
    for)."""
    telegram, kie = fakes
    return {
        "telegram_bot_token": TEST_BOT_TOKEN,
        "telegram_api_url": telegram.url,
        "provider": PROVIDER,
        "provider_api_key": TEST_KIE_KEY,
        "provider_base_url": kie.url,
        "database_path": str(database.path),
        "database_url": database.url or "",
        "poll_interval_seconds": options.poll,
        "public_url": public_url,
        "web_host": "127.0.0.1",
        "web_port": port,
        "safety_poll_delay_seconds": LONG,
        "safety_poll_interval_seconds": LONG,
        "status_edit_interval_seconds": options.card_interval,
        "task_timeout_seconds": 2 * LONG,
        "tracker_concurrency": options.concurrency,
        "max_concurrent_tasks": 1000,  # the most the settings allow; these are in flight
        "allow_loopback_urls": True,
        "preflight_checks": False,
        "log_level": "WARNING",
    }


async def track(
    processes: list[asyncio.subprocess.Process],
    fakes: tuple[FakeTelegram, FakeKie],
    jobs: list[Job],
    options: Options,
    webhook: bool,
    engine: Engine,
) -> Tracked:
    """From the children's READY to their STATS: the jobs finished at their times, every video
    waited for (or a deadline), the children told to stop."""
    telegram, kie = fakes
    children_ready = [await read_report(process, READY) for process in processes]
    ready_at = time.monotonic()
    cpu0 = cpu_seconds()
    server_cpu0 = engine.server_cpu()
    machine0 = machine_busy()
    finishing = asyncio.create_task(finish_all(kie, jobs, ready_at, webhook))
    sends = len(jobs) * options.calls_per_task
    deadline = ready_at + options.finish[1] + sends / TELEGRAM_RATE * 1.5 + 120
    seen = 0
    while seen < len(jobs) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        seen = sum(1 for c in telegram.calls if c.method == "sendVideo")
    refused = await finishing
    if refused:
        print(f"  ({refused} callbacks were not answered 200)")
    if options.cards:  # the last card edits follow the last video
        await asyncio.sleep(1.0)
    parent_cpu = cpu_seconds() - cpu0
    server_cpu = engine.server_cpu() - server_cpu0
    machine = machine_busy() - machine0
    window = time.monotonic() - ready_at
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"stop\n")
        await process.stdin.drain()
    children = [await read_report(process, STATS) for process in processes]
    # The CPUs that other processes on the machine kept busy meanwhile (then the figures are
    # noisy): the whole machine's busy time less the bots', this process's and the server's.
    bots_cpu = sum(child["cpu_seconds"] for child in children)
    others = max(0.0, machine - bots_cpu - parent_cpu - server_cpu) / window
    return Tracked(children_ready, children, ready_at, parent_cpu, server_cpu, others)


async def start_child(config: dict[str, Any]) -> asyncio.subprocess.Process:
    prefix = shlex.split(os.environ.get(CHILD_PREFIX_ENV, ""))
    process = await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        "-m",
        "bench.tracking",
        "--child",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 26,  # the report is one long line
        cwd=ROOT,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(config).encode() + b"\n")
    await process.stdin.drain()
    return process


async def read_report(process: asyncio.subprocess.Process, prefix: str) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = (await process.stdout.readline()).decode()
        if not line:
            raise RuntimeError(f"the bot's process ended (exit {await process.wait()})")
        if line.startswith(prefix):
            report: dict[str, Any] = json.loads(line[len(prefix) :])
            return report
        sys.stderr.write(line)


async def wait_exit(process: asyncio.subprocess.Process) -> None:
    """Wait for the child to end, for 30 s at most; then kill it."""
    if process.returncode is None:
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()
