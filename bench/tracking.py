"""Tracking at scale: thousands of tasks in flight at once, finishing at random times.

    python3 manage.py bench tracking [--tasks 5000] [--mode both|polling|webhook] [--cards]

What: the real bot (BotApp) tracks --tasks tasks at once against the fake KIE and Telegram
servers on loopback, in two modes:
1. polling only: a status check every --poll seconds (1 s; 15 s in production), the tasks
   finishing at random 10-60 s after the bot has started (2-20 minutes in production);
2. webhook mode: the same, but each task finishes by a provider callback sent at that moment;
   the safety poll (SAFETY_POLL_DELAY_SECONDS) is due only long after the run.
For each it prints: the peak memory of the bot's process; status requests per task against the
target (polling: at most processing time / poll interval + 1; callbacks: under 0.1); database
time per tracker round; completion -> sendVideo latency (p50, p99) next to the wait that
Telegram's 30 messages a second imposes on that load; the highest send rate the fake Telegram
saw in any second.

How:
- The bot runs in a process of its own (`python -m bench.tracking --child`, started by this
  one), the fakes and all the measuring in this process: the peak memory is then the bot's alone
  (the fakes keep every request and every upload), and the fakes do not eat the bot's CPU.
  Set BENCH_TRACKING_CHILD_PREFIX (e.g. "py-spy record -o bot.svg --") to run the bot's
  process under a profiler.
- The tasks are put into the database directly, in state `processing` with a job the fake KIE
  already holds: what a restart finds. Submitting them through the chat is no way to get
  thousands in flight: the bot sends at most 20 submits per 10 s (KIE's limit: 5,000 take over
  40 minutes) and MAX_CONCURRENT_TASKS may be at most 1000. Each task has a user of its own
  (per-user limits play no part in tracking). Their next checks are spread over one poll
  interval, as a running bot would have them.
- Without --cards the tasks have no status card (status_message_id NULL): delivering one costs
  one Bot API call (sendVideo), so 5,000 results pass Telegram's 30 a second in about 170 s and
  both modes fit in about 6 minutes. With --cards each has a card, created at the fake before
  the bot starts, edited once more on delivery: two calls per task, twice the time.
- Status cards are not refreshed while tasks run (--card-interval 3600 s): at 5,000 tasks and
  the production STATUS_EDIT_INTERVAL_SECONDS of 30 s, the refreshes alone would ask for 167
  edits a second, more than five times what Telegram allows. The script prints that figure.
- Database time: the child wraps every TaskRepository method with a timer. Time spent in the
  tracker's own task (its rounds: due_submissions, due, next_wake_at, count_at_provider) is
  summed per round; the wall time of an await, so waiting for the one shared aiosqlite
  connection behind the per-task work counts too.
- Memory: ru_maxrss (getrusage) is the peak resident set of the bot's process since it started,
  the interpreter and every library included: what the machine must have. --tracemalloc adds
  the peak of the Python allocations made during the tracking phase alone (it slows the bot,
  so the latency figures of such a run are not comparable).
- Latency: from the moment the fake's task became complete (polling) or its callback was sent
  (webhook) to the moment the fake Telegram received the task's sendVideo. The wait Telegram's
  limit imposes is computed per task: a leaky bucket of 29 calls a second (burst 1, as the
  bot's AIORateLimiter is set), serving each finished task's calls first come first
  served the moment it finishes, with no other cost; "beyond" is the latency minus that wait.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import random
import resource
import secrets
import shlex
import socket
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from telegram.request import HTTPXRequest

from bot.app import TELEGRAM_SENDS_PER_SECOND, BotApp
from bot.config import load_settings
from bot.services.tasks.tracker import Tracker
from bot.urls import callback_url
from storage.db import Database
from storage.tasks import TaskRepository
from tests.fakes.kie import STATUS_PATH, TEST_KIE_KEY, FakeKie, FakeTask
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
FIRST_USER = 100_000
PROVIDER = "kie"
PROMPT = "make it look like a chalk drawing"
TELEGRAM_RATE = 30.0  # messages a second Telegram allows
# How the bot's AIORateLimiter sends (bot/app.py): one at a time, TELEGRAM_SENDS_PER_SECOND.
SEND_RATE = float(TELEGRAM_SENDS_PER_SECOND)
SEND_BURST = 1.0
PRODUCTION_CARD_INTERVAL = 30.0  # STATUS_EDIT_INTERVAL_SECONDS by default
LONG = 3600.0  # seconds: "not during this run"
# Bot API methods that count towards Telegram's per-second limit (those naming a chat).
CHAT_METHODS = frozenset(
    {
        "sendMessage",
        "sendVideo",
        "sendDocument",
        "sendChatAction",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
    }
)
CHILD_PREFIX_ENV = "BENCH_TRACKING_CHILD_PREFIX"
READY = "READY "
STATS = "STATS "


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "mean": sum(values) / len(values) if values else float("nan"),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_kb() -> int:
    """The resident set now (ru_maxrss only knows the peak)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def max_rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


# ---------------------------------------------------------------------------------------------
# The bot's process


@dataclass
class DbTimer:
    """Wall time of every TaskRepository call; per tracker round for the tracker's own."""

    measuring: bool = False
    in_round: float = 0.0
    round_started: float = 0.0
    rounds_db: list[float] = field(default_factory=list)
    rounds_busy: list[float] = field(default_factory=list)  # round start -> next_wake_at done
    picked: list[int] = field(default_factory=list)  # tasks due() returned, per round
    tracker_calls: dict[str, list[float]] = field(default_factory=dict)  # name -> [n, seconds]
    other_calls: dict[str, list[float]] = field(default_factory=dict)

    def record(self, name: str, seconds: float, result: object) -> None:
        if not self.measuring:
            return
        task = asyncio.current_task()
        in_tracker = task is not None and task.get_name() == "tracker"
        calls = self.tracker_calls if in_tracker else self.other_calls
        entry = calls.setdefault(name, [0.0, 0.0])
        entry[0] += 1
        entry[1] += seconds
        if in_tracker:
            self.in_round += seconds
            if name == "due" and isinstance(result, list):
                self.picked.append(len(result))
            if name == "next_wake_at":
                self.rounds_busy.append(time.perf_counter() - self.round_started)

    def install(self) -> None:
        for name, method in list(vars(TaskRepository).items()):
            if not name.startswith("_") and asyncio.iscoroutinefunction(method):
                setattr(TaskRepository, name, self._timed(name, method))
        run_round = Tracker._round

        async def timed_round(tracker: Tracker) -> None:
            self.in_round = 0.0
            self.round_started = time.perf_counter()
            await run_round(tracker)
            if self.measuring:
                self.rounds_db.append(self.in_round)

        Tracker._round = timed_round  # type: ignore[method-assign, assignment]

    def _timed(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = None
            try:
                result = await method(*args, **kwargs)
                return result
            finally:
                self.record(name, time.perf_counter() - started, result)

        return timed


@dataclass
class MemoryWatch:
    """Samples the resident set, and with tracemalloc the traced Python heap, every 0.5 s."""

    traced: bool
    rss_max_kb: int = 0
    files_max: int = 0  # open file descriptors
    traced_best: int = 0
    snapshot: tracemalloc.Snapshot | None = None
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # s, MB, asyncio tasks

    async def run(self) -> None:
        started = time.perf_counter()
        while True:
            rss_kb = current_rss_kb()
            self.rss_max_kb = max(self.rss_max_kb, rss_kb)
            self.files_max = max(self.files_max, len(os.listdir("/proc/self/fd")))
            elapsed = time.perf_counter() - started
            if elapsed >= len(self.timeline) * 10:
                self.timeline.append((elapsed, rss_kb // 1024, len(asyncio.all_tasks())))
            if self.traced:
                now, _ = tracemalloc.get_traced_memory()
                if now > self.traced_best * 1.1:  # keep a picture of the heap near its peak
                    self.traced_best = now
                    self.snapshot = tracemalloc.take_snapshot()
            await asyncio.sleep(0.5)

    def top(self, count: int = 8) -> list[str]:
        if self.snapshot is None:
            return []
        lines = []
        for group in ("filename", "lineno"):
            for stat in self.snapshot.statistics(group)[:count]:
                frame = stat.traceback[0]
                where = frame.filename.split("site-packages/")[-1].split("python3.11/")[-1]
                where += f":{frame.lineno}" if group == "lineno" else ""
                lines.append(f"{stat.size / 1e6:7.1f} MB {stat.count:8d} blocks  {where}")
        return lines


def record_sends(times: list[float]) -> None:
    """Note when the bot starts each Bot API request that names a chat (after its limiter)."""
    do_request = HTTPXRequest.do_request

    async def timed(self: HTTPXRequest, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if url.rsplit("/", 1)[-1] in CHAT_METHODS:
            times.append(time.monotonic())
        return await do_request(self, url, *args, **kwargs)

    HTTPXRequest.do_request = timed  # type: ignore[method-assign]


async def child_main() -> None:
    """Run the bot with the settings read from stdin; report on stdout when told to stop."""
    config = json.loads(sys.stdin.readline())
    logging.basicConfig(level=logging.WARNING, format="bot: %(levelname)s %(name)s: %(message)s")
    timer = DbTimer()
    timer.install()
    sends: list[float] = []
    record_sends(sends)
    app = BotApp(load_settings(_env_file=None, **config["settings"]))
    await app.start()
    loop = asyncio.get_running_loop()
    ready = {"pid": os.getpid(), "rss_kb": current_rss_kb(), "max_rss_kb": max_rss_kb()}
    if config["tracemalloc"]:
        tracemalloc.start()
    watch = MemoryWatch(traced=bool(config["tracemalloc"]))
    watcher = asyncio.create_task(watch.run())
    timer.measuring = True
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    print(READY + json.dumps(ready), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop", or the end of the pipe
    timer.measuring = False
    wall = time.perf_counter() - wall0
    stats: dict[str, Any] = {
        "seconds": wall,
        "cpu_seconds": cpu_seconds() - cpu0,
        "rss_end_kb": current_rss_kb(),
        "rss_sampled_max_kb": watch.rss_max_kb,
        "files_max": watch.files_max,
        "timeline": watch.timeline,
        "rounds": len(timer.rounds_db),
        "round_db": summary(timer.rounds_db),
        "round_busy": summary(timer.rounds_busy),
        "picked": summary([float(n) for n in timer.picked]),
        "tracker_calls": timer.tracker_calls,
        "other_calls": timer.other_calls,
        "sends": sends,
    }
    if config["tracemalloc"]:
        _, peak = tracemalloc.get_traced_memory()
        stats["traced_peak_bytes"] = peak
        stats["traced_top"] = watch.top()
        tracemalloc.stop()
    watcher.cancel()
    stats["max_rss_tracking_kb"] = max_rss_kb()
    await app.stop()
    stats["max_rss_kb"] = max_rss_kb()
    print(STATS + json.dumps(stats), flush=True)


# ---------------------------------------------------------------------------------------------
# This process: the fakes, the tasks, the measuring


@dataclass
class Job:
    user: int
    provider_id: str
    token: str
    finish_after: float  # seconds after the bot is ready
    card: int | None = None
    done_at: float = 0.0  # time.monotonic() when the fake's task became complete


@dataclass
class Options:
    tasks: int
    poll: float
    finish: tuple[float, float]
    cards: bool
    card_interval: float
    concurrency: int
    result_bytes: int
    tracemalloc: bool


@dataclass
class Figures:
    mode: str
    tasks: int
    ready_at: float
    child_ready: dict[str, Any]
    child: dict[str, Any]
    parent_cpu: float
    delivered: int
    duplicates: int
    latencies: list[float]  # s, per task
    imposed: list[float]  # s, per task: what Telegram's limit alone would make it wait
    status_per_task: list[int]
    bounds: list[float]  # polling target per task
    poll_gaps: list[float]
    early_check_rate: float  # status requests a second while every task was still running
    max_rate_calendar: int
    max_rate_sliding: int
    bot_rates: tuple[int, int]  # the same, by when the bot started the requests
    chat_calls: dict[str, int]
    seconds: float


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


async def store_tasks(path: Path, jobs: list[Job], *, poll: float, first_check: float) -> None:
    """Insert users, submitted drafts and processing tasks, as a restart would find them."""
    db = await Database.open(path)  # creates the schema
    await db.close()
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO users (id, username, first_name, first_seen_at, last_seen_at) "
            "VALUES (?, ?, 'Bench', ?, ?)",
            [(j.user, f"user{j.user}", now, now) for j in jobs],
        )
        conn.executemany(
            "INSERT INTO drafts (id, user_id, chat_id, video_url, prompt, state, "
            "card_message_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'submitted', ?, ?, ?)",
            [
                (i, j.user, j.user, f"https://v.example.com/{j.user}.mp4", PROMPT, j.card, now, now)
                for i, j in enumerate(jobs, 1)
            ],
        )
        conn.executemany(
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
        )


async def finish_all(kie: FakeKie, jobs: list[Job], ready_at: float, webhook: bool) -> int:
    """Complete each task at the fake when its time comes; in webhook mode send its callback.
    Returns how many callbacks were not answered 200."""
    refused = 0
    pending: set[asyncio.Task[None]] = set()
    # A connection of its own for each callback, as a provider's would be (and no race with
    # the bot's web server closing an idle kept-alive one).
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:

        async def call_back(job: Job) -> None:
            nonlocal refused
            task = kie.tasks[job.provider_id]
            body = json.dumps(kie.callback_body(job.provider_id), separators=(",", ":"))
            assert task.callback_url is not None
            try:
                response = await client.post(
                    task.callback_url, content=body, headers={"Content-Type": "application/json"}
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


def telegram_wait(arrivals: Sequence[float], calls_per_task: int) -> list[float]:
    """Per task (in the order given), how long Telegram's limit alone makes its first call
    wait: a leaky bucket of SEND_RATE a second with a burst of SEND_BURST (as the bot's
    limiter), tasks served first come first served, each taking `calls_per_task` calls the
    moment it finishes."""
    order = sorted(range(len(arrivals)), key=lambda i: arrivals[i])
    waits = [0.0] * len(arrivals)
    level, last, previous = 0.0, float("-inf"), float("-inf")
    for i in order:
        at = max(arrivals[i], previous)
        first = at
        for call in range(calls_per_task):
            level = max(0.0, level - (at - last) * SEND_RATE) if last > float("-inf") else 0
            last = at
            if level + 1 > SEND_BURST:
                wait = (level + 1 - SEND_BURST) / SEND_RATE
                at += wait
                level = SEND_BURST - 1
                last = at
            level += 1
            if call == 0:
                first = at
        previous = at
        waits[i] = first - arrivals[i]
    return waits


def max_rates(times: Sequence[float], origin: float) -> tuple[int, int]:
    """The most calls in one second: by whole seconds since `origin`, and in any 1 s window."""
    per_second: dict[int, int] = {}
    for at in times:
        second = int(at - origin)
        per_second[second] = per_second.get(second, 0) + 1
    ordered = sorted(times)
    sliding, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= 1.0:
            start += 1
        sliding = max(sliding, end - start + 1)
    return max(per_second.values(), default=0), sliding


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


async def run(mode: str, options: Options) -> Figures:
    webhook = mode == "webhook"
    count = options.tasks
    low, high = options.finish
    async with (
        FakeTelegram() as telegram,
        FakeKie(rate_limit=None, result_size=options.result_bytes) as kie,
    ):
        port = free_port()
        public_url = f"http://127.0.0.1:{port}" if webhook else ""
        jobs = [
            Job(
                user=FIRST_USER + i,
                provider_id=secrets.token_hex(16),
                token=secrets.token_urlsafe(24),
                finish_after=random.uniform(low, high),
            )
            for i in range(count)
        ]
        for job in jobs:
            kie.tasks[job.provider_id] = FakeTask(
                task_id=job.provider_id,
                prompt=PROMPT,
                video_url=f"https://v.example.com/{job.user}.mp4",
                callback_url=callback_url(public_url, PROVIDER, job.token) if webhook else None,
                watermark=None,
                result_size=options.result_bytes,
            )
        if options.cards:
            await create_cards(telegram, jobs)
        database = Path(tempfile.mkdtemp(prefix="bench-tracking-")) / "bot.sqlite3"
        first_check = LONG if webhook else options.poll
        await store_tasks(database, jobs, poll=options.poll, first_check=first_check)
        settings = {
            "telegram_bot_token": TEST_BOT_TOKEN,
            "telegram_api_url": telegram.url,
            "provider": PROVIDER,
            "provider_api_key": TEST_KIE_KEY,
            "provider_base_url": kie.url,
            "database_path": str(database),
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
        started = time.monotonic()
        process = await start_child({"settings": settings, "tracemalloc": options.tracemalloc})
        try:
            child_ready = await read_report(process, READY)
            ready_at = time.monotonic()
            cpu0 = cpu_seconds()
            finishing = asyncio.create_task(finish_all(kie, jobs, ready_at, webhook))
            calls_per_task = 2 if options.cards else 1
            deadline = ready_at + high + count * calls_per_task / TELEGRAM_RATE * 1.5 + 120
            seen = 0
            while seen < count and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                seen = sum(1 for c in telegram.calls if c.method == "sendVideo")
            refused = await finishing
            if refused:
                print(f"  ({refused} callbacks were not answered 200)")
            if options.cards:  # the last card edits follow the last video
                await asyncio.sleep(1.0)
            parent_cpu = cpu_seconds() - cpu0
            assert process.stdin is not None
            process.stdin.write(b"stop\n")
            await process.stdin.drain()
            child = await read_report(process, STATS)
        finally:
            if process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), timeout=30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        seconds = time.monotonic() - started

        # Deliveries and latency.
        first_video: dict[int, float] = {}
        videos: dict[int, int] = {}
        chat_times: list[float] = []
        chat_calls: dict[str, int] = {}
        for call in telegram.calls:
            if call.at < ready_at or call.method not in CHAT_METHODS:
                continue
            chat_times.append(call.at)
            chat_calls[call.method] = chat_calls.get(call.method, 0) + 1
            if call.method == "sendVideo":
                chat = int(call.params["chat_id"])
                videos[chat] = videos.get(chat, 0) + 1
                first_video.setdefault(chat, call.at)
        delivered = [j for j in jobs if j.user in first_video]
        latencies = [first_video[j.user] - j.done_at for j in delivered]
        imposed = telegram_wait([j.done_at for j in delivered], calls_per_task)
        calendar, sliding = max_rates(chat_times, ready_at)
        bot_rates = max_rates([t for t in child["sends"] if t >= ready_at], ready_at)

        # Status requests.
        polls: dict[str, list[float]] = {}
        for request in kie.requests:
            if request.path == STATUS_PATH:
                polls.setdefault(request.query.get("taskId", ""), []).append(request.at)
        status_per_task = [len(polls.get(j.provider_id, [])) for j in jobs]
        bounds = [(j.done_at - ready_at) / options.poll + 1 for j in jobs]
        gaps = [b - a for times in polls.values() for a, b in itertools.pairwise(times)]
        window = max(1.0, low - 1.0)
        early = sum(1 for times in polls.values() for at in times if at - ready_at < window)

        return Figures(
            mode=mode,
            tasks=count,
            ready_at=ready_at,
            child_ready=child_ready,
            child=child,
            parent_cpu=parent_cpu,
            delivered=len(delivered),
            duplicates=sum(n - 1 for n in videos.values()),
            latencies=latencies,
            imposed=imposed,
            status_per_task=status_per_task,
            bounds=bounds,
            poll_gaps=gaps,
            early_check_rate=early / window,
            max_rate_calendar=calendar,
            max_rate_sliding=sliding,
            bot_rates=bot_rates,
            chat_calls=chat_calls,
            seconds=seconds,
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def report(figures: Figures, options: Options) -> None:
    child = figures.child
    low, high = options.finish
    title = (
        f"Polling only (a check every {options.poll:g} s; tasks finishing {low:g}-{high:g} s "
        "after the start):"
        if figures.mode == "polling"
        else f"Webhook mode (callbacks {low:g}-{high:g} s after the start; safety poll not due):"
    )
    print(title)
    phase = child["seconds"]
    print(
        f"  delivered {figures.delivered} of {figures.tasks} "
        f"({figures.duplicates} sent twice); tracking took {phase:.0f} s, "
        f"whole run {figures.seconds:.0f} s"
    )
    rss_mb = child["max_rss_kb"] / 1024
    print(
        f"  peak memory (ru_maxrss) {rss_mb:.0f} MB "
        f"{'(target < 200 MB: met)' if rss_mb < 200 else '(target < 200 MB: MISSED)'}; "
        f"{figures.child_ready['rss_kb'] / 1024:.0f} MB resident when it started tracking, "
        f"{child['rss_end_kb'] / 1024:.0f} MB at the end; at most {child['files_max']} "
        "open files"
    )
    print(f"    peak while tracking {child['max_rss_tracking_kb'] / 1024:.0f} MB (before the stop)")
    steps = child["timeline"][::3]
    print(
        "    resident MB / asyncio tasks alive, every 30 s: "
        + ", ".join(f"{at:.0f} s {mb} MB {alive}" for at, mb, alive in steps)
    )
    if "traced_peak_bytes" in child:
        print(
            f"  tracemalloc: Python allocations of the tracking phase peaked at "
            f"{child['traced_peak_bytes'] / 1e6:.1f} MB; largest near the peak:"
        )
        for line in child["traced_top"]:
            print(f"    {line}")

    per_task = figures.status_per_task
    mean_requests = sum(per_task) / len(per_task)
    if figures.mode == "polling":
        over = sum(1 for n, b in zip(per_task, figures.bounds, strict=True) if n > b)
        target = sum(figures.bounds) / len(per_task)
        print(
            f"  status requests per task: {mean_requests:.2f} mean, {max(per_task)} max; target "
            f"(processing time / poll interval + 1) {target:.2f} mean; {over} tasks over their "
            "own target"
        )
        gaps = figures.poll_gaps
        print(
            f"  time between two checks of a task: p50 {percentile(gaps, 50):.2f} s, "
            f"p95 {percentile(gaps, 95):.2f} s (poll interval {options.poll:g} s); "
            f"{figures.early_check_rate:.0f} checks a second while all were running "
            f"(asked for: {figures.tasks / options.poll:.0f})"
        )
    else:
        verdict = "met" if mean_requests < 0.1 else "MISSED"
        print(f"  status requests per task: {mean_requests:.2f} (target < 0.1: {verdict})")

    rounds, db, busy = child["rounds"], child["round_db"], child["round_busy"]
    print(
        f"  tracker: {rounds} rounds, {rounds / phase:.1f} a second; database time per round "
        f"mean {ms(db['mean'])}, p95 {ms(db['p95'])}, max {ms(db['max'])} "
        f"(the round's work, database included: p95 {ms(busy['p95'])}); "
        f"{child['picked']['mean']:.1f} tasks picked per round"
    )
    calls = child["tracker_calls"]
    parts = [
        f"{name} {n:.0f}× {total / n * 1000:.2f} ms"
        for name, (n, total) in sorted(calls.items(), key=lambda kv: -kv[1][1])
    ]
    print(f"    by query (mean): {', '.join(parts)}")
    other = child["other_calls"]
    other_total = sum(total for _, total in other.values())
    other_n = sum(n for n, _ in other.values())
    print(
        f"    per-task work: {other_n:.0f} repository calls, {other_total:.1f} s in all "
        f"({other_total / max(1, figures.delivered) * 1000:.1f} ms a task); by query (mean):"
    )
    parts = [
        f"{name} {n:.0f}× {ms(total / n)}"
        for name, (n, total) in sorted(other.items(), key=lambda kv: -kv[1][1])
    ]
    print(f"      {', '.join(parts)}")
    print(
        f"  CPU: bot {child['cpu_seconds'] / phase * 100:.0f} % of a core, fakes and driver "
        f"{figures.parent_cpu / phase * 100:.0f} %"
    )

    lat, imp = figures.latencies, figures.imposed
    beyond = [a - b for a, b in zip(lat, imp, strict=True)]
    what = "complete" if figures.mode == "polling" else "callback sent"
    print(
        f"  {what} -> sendVideo: p50 {ms(percentile(lat, 50))}, p99 {ms(percentile(lat, 99))}, "
        f"max {ms(max(lat, default=float('nan')))}"
    )
    print(
        f"    of which Telegram's {TELEGRAM_RATE:g} a second imposes at this load "
        f"({'2 calls' if options.cards else '1 call'} a task): p50 {ms(percentile(imp, 50))}, "
        f"p99 {ms(percentile(imp, 99))}"
    )
    excess = percentile(beyond, 99)
    verdict = "met" if excess < 1.0 else "MISSED"
    print(
        f"    beyond that wait: p50 {ms(percentile(beyond, 50))}, p99 {ms(excess)} "
        f"(target p99 < 1 s: {verdict}); p99 latency - p99 wait = "
        f"{ms(percentile(lat, 99) - percentile(imp, 99))}"
    )
    verdict = "within" if figures.max_rate_calendar <= TELEGRAM_RATE else "OVER"
    mix = ", ".join(f"{m} {n}" for m, n in sorted(figures.chat_calls.items()))
    print(
        f"  highest send rate at the fake Telegram: {figures.max_rate_calendar} in one second "
        f"({verdict} {TELEGRAM_RATE:g}); {figures.max_rate_sliding} in any 1 s window; "
        f"calls: {mix}"
    )
    print(
        f"    as the bot started them: {figures.bot_rates[0]} in one second, "
        f"{figures.bot_rates[1]} in any 1 s window"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--mode", choices=["both", "polling", "webhook"], default="both")
    parser.add_argument("--poll", type=float, default=1.0, help="POLL_INTERVAL_SECONDS")
    parser.add_argument(
        "--finish",
        type=float,
        nargs=2,
        default=(10.0, 60.0),
        metavar=("LOW", "HIGH"),
        help="tasks finish at random between LOW and HIGH seconds after the bot's start",
    )
    parser.add_argument(
        "--cards", action="store_true", help="give each task a status card (2 calls a delivery)"
    )
    parser.add_argument(
        "--card-interval", type=float, default=LONG, help="STATUS_EDIT_INTERVAL_SECONDS"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="TRACKER_CONCURRENCY")
    parser.add_argument("--result-kb", type=int, default=50, help="size of each result file")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also trace the bot's Python allocations (slows it: latencies not comparable)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        await child_main()
        return
    logging.basicConfig(level=logging.WARNING)
    random.seed(args.seed)
    options = Options(
        tasks=args.tasks,
        poll=args.poll,
        finish=(args.finish[0], args.finish[1]),
        cards=args.cards,
        card_interval=args.card_interval,
        concurrency=args.concurrency,
        result_bytes=args.result_kb * 1024,
        tracemalloc=args.tracemalloc,
    )
    modes = ["polling", "webhook"] if args.mode == "both" else [args.mode]
    print(
        f"{options.tasks} tasks in flight, inserted as 'processing'; "
        f"{'with' if options.cards else 'without'} status cards; TRACKER_CONCURRENCY "
        f"{options.concurrency}; results of {args.result_kb} KB; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    refreshes = options.tasks / PRODUCTION_CARD_INTERVAL
    print(
        f"(Status cards are not refreshed during the run: at STATUS_EDIT_INTERVAL_SECONDS="
        f"{PRODUCTION_CARD_INTERVAL:g}, {options.tasks} cards would ask for {refreshes:.0f} "
        f"edits a second; Telegram allows {TELEGRAM_RATE:g}.)\n",
        flush=True,
    )
    for mode in modes:
        figures = await run(mode, options)
        report(figures, options)
        print(flush=True)


if __name__ == "__main__":
    asyncio.run(main())
