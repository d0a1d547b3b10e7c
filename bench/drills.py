"""Drills: the bot killed with SIGKILL half-way, and the bot under provider and Telegram faults.

    python3 manage.py bench drills [--tasks 200] [--users 40] [--only restart|submit-kill|faults]

The drills run `python -m bot` as a real process (long polling) against the fake Telegram and
KIE servers on loopback, served by this process; each user sends a link and a prompt, presses
Submit on the card, and does so again (several tasks per user). Every video the bot sends is
counted per task at the fake Telegram (its caption starts "Task #N:").

1. Restart drill: once every task is in flight at the provider, the tasks finish at random times;
   when about half the videos have been sent, the bot gets SIGKILL, and is started again. Every
   task must be delivered exactly once. The one duplicate the design allows (README, "How a task
   flows") is a kill between Telegram accepting a video and the row being marked delivered: the
   database is read right after the kill, and any duplicate is checked against that window.
2. Kill while submits wait: 25 tasks submitted at once, so that 5 wait in the bot for KIE's
   window (20 submits per 10 s); SIGKILL while they wait, start again. A task whose request never
   left must not end as "outcome unknown".
3. Fault drill: the provider answers `--provider-faults` (30 %) of its submit and status calls
   with HTTP 500, 429, or no answer within PROVIDER_TIMEOUT_SECONDS; Telegram answers
   `--telegram-faults` (10 %) of sendVideo, sendMessage and editMessageText with 429 and
   `retry_after` 1, each call independently. Faults are injected by ASGI middleware in front of
   the fakes (the faulted request never reaches the fake: a timed-out submit was not received).
   By design a submit is resent only when it certainly was not accepted (a 429): a task whose
   submit got a 500 fails, one whose submit got no answer is reported "outcome unknown"; both are
   told to the user and never charged twice. Every other task must be delivered exactly once,
   and no log line may show an unhandled exception. Printed beside the same run without faults:
   the time taken, and the time from the provider finishing a task to its sendVideo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.kie import GENERATE_PATH, STATUS_PATH, FakeKie
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import ADMIN_ID, bot_environment

FIRST_USER = 20_000
PROMPT = "make it look like a watercolor painting"
RESULT_SIZE = 20_000  # bytes of each result video: the drills are about counts, not bandwidth
TERMINAL_STATES = frozenset({"delivered", "failed", "unknown", "undeliverable"})
CAPTION = re.compile(r"Task #(\d+):")
# Log lines that mean an exception nobody handled (the error handler, the tracker's last resort).
UNHANDLED = ("Traceback", "Unhandled", "Unexpected error", "unexpectedly")
LIMITER_GAVE_UP = "AIORateLimiter: Rate limit hit after maximum of"
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
TELEGRAM_FAULT_METHODS = frozenset({"sendvideo", "sendmessage", "editmessagetext"})
PROVIDER_FAULT_KINDS = ("500", "429", "timeout")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# ----------------------------------------------------------------------------- the bot process


def base_environment() -> dict[str, str]:
    """A clean environment: nothing of the developer's own settings leaks in."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def drill_environment(
    telegram: FakeTelegram, kie: FakeKie, database: Path, **extra: str
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


class BotProcess:
    """`python -m bot` in `workdir`, started (and started again) with the same settings."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.runs: list[tuple[subprocess.Popen[bytes], IO[bytes], Path]] = []

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.runs[-1][0]

    def start(self) -> None:
        path = self.workdir / f"bot-{len(self.runs)}.log"
        log = path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=self.workdir, env=self.env, stdout=log, stderr=log
        )
        self.runs.append((process, log, path))

    async def wait_exit(self, within: float = 30.0) -> int:
        deadline = time.monotonic() + within
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError("the bot process did not exit")
            await asyncio.sleep(0.02)
        return code

    async def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        self.process.send_signal(signal.SIGKILL)
        await self.wait_exit()

    async def stop(self) -> int:
        """SIGTERM, as `docker stop` does; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit(within=60.0)

    def close(self) -> None:
        for process, log, _ in self.runs:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            log.close()

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for _, _, path in self.runs)

    def records(self) -> list[str]:
        """The log's records: a line with a time stamp, and any traceback lines under it."""
        records: list[str] = []
        for line in self.log_text().splitlines():
            if LOG_RECORD.match(line) or not records:
                records.append(line)
            else:
                records[-1] += "\n" + line
        return records

    def unhandled(self) -> list[str]:
        """Log records that show an exception nobody handled (first two lines of each).

        python-telegram-bot's rate limiter logs a traceback of its own when it gives up after
        its retries; it then raises RetryAfter to the bot, which handles it, or not: an error
        the bot does not handle shows up as a record of its own ("Unhandled error ...").
        """
        return [
            "\n".join(record.splitlines()[:2])
            for record in self.records()
            if any(marker in record for marker in UNHANDLED) and LIMITER_GAVE_UP not in record
        ]

    def limiter_gave_up(self) -> int:
        """How often python-telegram-bot's rate limiter gave up after its retries."""
        return sum(1 for record in self.records() if LIMITER_GAVE_UP in record)


# ----------------------------------------------------------------------------- fault injection


@dataclass(frozen=True)
class Injected:
    """One fault the drill injected."""

    target: str  # "submit", "status", or the Bot API method
    kind: str  # "500", "429", "timeout"
    key: str | None  # the submit's videoUrl, the status request's taskId, or None


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ProviderFaults:
    """ASGI middleware for FakeKie.app: `rate` of submit and status calls get a fault instead.

    500: HTTP 500 `{"code": 500, ...}`; 429: HTTP 429 `{"code": 429, ...}`; timeout: no answer
    until the client gives up (or `hold` seconds). The faulted request never reaches the fake.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        rng: random.Random,
        record: Callable[[Injected], None],
        hold: float = 10.0,
    ) -> None:
        self.app = app
        self.rate = rate
        self.rng = rng
        self.record = record
        self.hold = hold

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path not in (GENERATE_PATH, STATUS_PATH) or self.rng.random() >= self.rate:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        kind = self.rng.choice(PROVIDER_FAULT_KINDS)
        if path == GENERATE_PATH:
            try:
                key = str(json.loads(body).get("videoUrl"))
            except (ValueError, AttributeError):
                key = None
            self.record(Injected("submit", kind, key))
        else:
            query = scope.get("query_string", b"").decode()
            task_id = next((p[7:] for p in query.split("&") if p.startswith("taskId=")), None)
            self.record(Injected("status", kind, task_id))
        if kind == "timeout":
            await self._until_disconnect(receive)
            await _send_json(send, 504, {"code": 504, "msg": "Gateway Timeout"})
        elif kind == "429":
            await _send_json(send, 429, {"code": 429, "msg": "Rate limit exceeded"})
        else:
            await _send_json(send, 500, {"code": 500, "msg": "Server Error"})

    async def _until_disconnect(self, receive: Receive) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.hold):
                message: Message = {}
                while message.get("type") != "http.disconnect":
                    message = await receive()


class TelegramFaults:
    """ASGI middleware for FakeTelegram.app: `rate` of the sends in `methods` answer 429
    `retry_after` 1, as Telegram's flood control does. The faulted call never reaches the fake.

    `max_in_a_row`: the same request (same method and parameters) is refused at most that many
    times in a row. python-telegram-bot's rate limiter tries a request 1 + 3 times, so with 3
    no request is ever given up on; without a cap that happens to 1 in rate**-4 requests.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        rng: random.Random,
        record: Callable[[Injected], None],
        methods: frozenset[str] = TELEGRAM_FAULT_METHODS,
        max_in_a_row: int | None = None,
    ) -> None:
        self.app = app
        self.rate = rate
        self.rng = rng
        self.record = record
        self.methods = methods
        self.max_in_a_row = max_in_a_row
        self._refused: dict[bytes, int] = {}  # request -> times refused in a row

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = str(scope.get("path", "")).split("/") if scope["type"] == "http" else []
        method = parts[2].lower() if len(parts) == 3 and parts[1].startswith("bot") else ""
        if method not in self.methods:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        key = _request_key(scope, method, body)
        refused = self._refused.get(key, 0)
        if self.rng.random() >= self.rate or (
            self.max_in_a_row is not None and refused >= self.max_in_a_row
        ):
            self._refused.pop(key, None)
            await self.app(scope, _replay(body, receive), send)
            return
        self._refused[key] = refused + 1
        self.record(Injected(method, "429", None))
        await _send_json(
            send,
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
        )


def _request_key(scope: Scope, method: str, body: bytes) -> bytes:
    """The same for every try of one request: the body without its multipart boundary."""
    headers = dict(scope.get("headers", []))
    content_type = bytes(headers.get(b"content-type", b""))
    boundary = content_type.partition(b"boundary=")[2].strip(b'"')
    if boundary:
        body = body.replace(boundary, b"")
    return method.encode() + b"\0" + hashlib.sha256(body).digest()


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then passes on."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# ----------------------------------------------------------------------------- driving the users


def video_link(user: int, n: int) -> str:
    return f"https://v.example.com/u{user}-{n}.mp4"


def _open_card(telegram: FakeTelegram, user: int, since: int) -> tuple[SentMessage, str] | None:
    for message in telegram.messages(user)[since:]:
        for _, data in telegram.buttons(user, message.message_id):
            if data.startswith("submit:"):
                return message, data
    return None


async def submit_cards(
    telegram: FakeTelegram, users: Sequence[int], per_user: int, within: float = 300.0
) -> None:
    """Each user, one card at a time: link and prompt, the card, Submit, its answer.

    A card that does not come within a minute (its answer lost: the error handler then says so
    in the log) is asked for again, as a user would, twice at most.
    """

    async def card_for(user: int, n: int) -> tuple[SentMessage, str]:
        for attempt in range(3):
            since = len(telegram.messages(user))
            telegram.send_message(user, f"{video_link(user, n)} {PROMPT}", username=f"d{user}")
            try:
                await telegram.wait_until(
                    lambda: _open_card(telegram, user, since) is not None,  # noqa: B023
                    timeout=min(within, 60.0),
                    what=f"card {n} of user {user}",
                )
            except AssertionError:
                if attempt == 2:
                    raise
            found = _open_card(telegram, user, since)
            if found is not None:
                return found
        raise AssertionError("unreachable")

    async def one_user(user: int) -> None:
        for n in range(per_user):
            card, data = await card_for(user, n)
            query = telegram.press_button(user, card.message_id, data)
            await telegram.wait_until(
                lambda: telegram.callback_answer(query) is not None,  # noqa: B023
                timeout=within,
                what=f"the Submit of user {user} to be answered",
            )

    await asyncio.gather(*(one_user(u) for u in users))


def users_for(tasks: int, users: int) -> tuple[list[int], int]:
    """`users` user ids (fewer if `tasks` is smaller) and the tasks each submits."""
    users = max(1, min(users, tasks))
    if tasks % users:
        raise SystemExit(f"--tasks ({tasks}) must be a multiple of --users ({users})")
    return [FIRST_USER + i for i in range(users)], tasks // users


def videos_per_task(telegram: FakeTelegram, users: Sequence[int]) -> Counter[int]:
    """How many videos the fake Telegram accepted for each task number."""
    counts: Counter[int] = Counter()
    for user in users:
        for message in telegram.messages(user):
            if message.kind == "video" and (m := CAPTION.match(message.caption or "")):
                counts[int(m.group(1))] += 1
    return counts


def task_rows(database: Path) -> dict[int, tuple[str, str]]:
    """Task id -> (state, video_url), as stored."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
        try:
            rows = conn.execute("SELECT id, state, video_url FROM tasks").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return {}
    return {int(i): (str(s), str(u)) for i, s, u in rows}


async def wait_settled(database: Path, count: int, within: float) -> dict[int, tuple[str, str]]:
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


class Finisher:
    """Completes the fake provider's tasks at random times, in the background."""

    def __init__(self, kie: FakeKie, rng: random.Random) -> None:
        self.kie = kie
        self.rng = rng
        self.due: dict[str, float] = {}
        self.completed: dict[str, float] = {}  # job id -> when it was completed (monotonic)
        self._job: asyncio.Task[None] | None = None

    def each_after_creation(self, low: float, high: float) -> None:
        """Every task (also those created later) finishes `low`-`high` s after its creation."""
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
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job


def delivery_latencies(telegram: FakeTelegram, database: Path, finisher: Finisher) -> list[float]:
    """Seconds from each task's completion at the provider to its first sendVideo at Telegram."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
        jobs = dict(conn.execute("SELECT id, provider_task_id FROM tasks").fetchall())
    first: dict[int, float] = {}
    for call in telegram.calls_to("sendVideo"):
        m = CAPTION.match(str(call.params.get("caption", "")))
        if m:
            first.setdefault(int(m.group(1)), call.at)
    return [
        at - finisher.completed[jobs[task]]
        for task, at in first.items()
        if jobs.get(task) in finisher.completed
    ]


def admin_bug_reports(telegram: FakeTelegram) -> list[str]:
    """Reports of unexpected errors the admin received (not the failed-task reports)."""
    return [
        m.rendered or ""
        for m in telegram.messages(ADMIN_ID)
        if "🐞" in (m.rendered or "") or "Unhandled" in (m.rendered or "")
    ]


# ----------------------------------------------------------------------------- the restart drill


@dataclass
class RestartFigures:
    tasks: int
    users: int
    once: int
    twice: int  # or more
    never: int
    duplicates: list[int]  # task ids delivered more than once
    in_window: list[int]  # tasks with a video at Telegram but not marked delivered at the kill
    videos_before_kill: int
    unknown_after_restart: int
    states: dict[str, int]
    submit_seconds: float  # bot start to every task at the provider
    seconds: float  # bot start to every task delivered
    restart_seconds: float  # restart to every task delivered
    unhandled: list[str]
    bug_reports: list[str]
    log: str = ""

    @property
    def unexplained_duplicates(self) -> list[int]:
        return [t for t in self.duplicates if t not in self.in_window]


async def restart_drill(
    tasks: int = 200,
    users: int = 40,
    *,
    spread: float = 20.0,
    seed: int = 7,
    workdir: Path | None = None,
    env: dict[str, str] | None = None,
) -> RestartFigures:
    """Every task in flight, finishing at random over `spread` s; SIGKILL after half the videos."""
    rng = random.Random(seed)
    user_ids, per_user = users_for(tasks, users)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="drill-restart-"))
    database = workdir / "data" / "bot.sqlite3"
    async with FakeTelegram() as telegram, FakeKie(rate_limit=None, result_size=RESULT_SIZE) as kie:
        bot = BotProcess(drill_environment(telegram, kie, database, **(env or {})), workdir)
        finisher = Finisher(kie, rng)
        try:
            started = time.monotonic()
            bot.start()
            await submit_cards(telegram, user_ids, per_user)
            await kie.wait_for_task(count=tasks, timeout=60 + tasks)
            submit_seconds = time.monotonic() - started
            finisher.all_within(spread)
            half = tasks // 2
            await telegram.wait_until(
                lambda: sum(videos_per_task(telegram, user_ids).values()) >= half,
                timeout=120 + spread,
                what=f"{half} videos",
            )
            await bot.kill()
            at_kill = videos_per_task(telegram, user_ids)
            rows = task_rows(database)
            in_window = sorted(t for t in at_kill if rows[t][0] != "delivered")
            restarted = time.monotonic()
            bot.start()
            await telegram.wait_until(
                lambda: len(videos_per_task(telegram, user_ids)) >= tasks,
                timeout=120 + spread,
                what="a video for every task",
            )
            final = await wait_settled(database, tasks, within=60)
            done = time.monotonic()
            await asyncio.sleep(2.0)  # room for a duplicate to show up, if there were one
            code = await bot.stop()
            if code != 0:
                raise AssertionError(f"the restarted bot exited with {code}")
        finally:
            await finisher.stop()
            bot.close()
        counts = videos_per_task(telegram, user_ids)
        numbers = range(1, tasks + 1)
        return RestartFigures(
            tasks=tasks,
            users=len(user_ids),
            once=sum(1 for t in numbers if counts[t] == 1),
            twice=sum(1 for t in numbers if counts[t] >= 2),
            never=sum(1 for t in numbers if counts[t] == 0),
            duplicates=sorted(t for t in numbers if counts[t] >= 2),
            in_window=in_window,
            videos_before_kill=sum(at_kill.values()),
            unknown_after_restart=sum(1 for s, _ in final.values() if s == "unknown"),
            states=dict(Counter(s for s, _ in final.values())),
            submit_seconds=submit_seconds,
            seconds=done - started,
            restart_seconds=done - restarted,
            unhandled=bot.unhandled(),
            bug_reports=admin_bug_reports(telegram),
            log=bot.log_text(),
        )


def report_restart(f: RestartFigures) -> None:
    print(f"Restart drill: {f.tasks} tasks from {f.users} users, SIGKILL after half the videos")
    print(f"  every task at the provider after {f.submit_seconds:.1f} s")
    print(f"  videos sent before the kill: {f.videos_before_kill}")
    print(
        f"  in the window at the kill (video at Telegram, row not yet 'delivered'): "
        f"{len(f.in_window)} {f.in_window or ''}"
    )
    print(f"  delivered once: {f.once}   twice or more: {f.twice}   never: {f.never}")
    if f.duplicates:
        explained = [t for t in f.duplicates if t in f.in_window]
        print(
            f"  duplicates {f.duplicates}: {len(explained)} in the documented window "
            f"(killed between Telegram accepting the video and the row marked delivered), "
            f"{len(f.unexplained_duplicates)} unexplained {f.unexplained_duplicates or ''}"
        )
    print(f"  final states: {f.states}")
    print(
        f"  time: {f.seconds:.1f} s in all; restart to the last delivery {f.restart_seconds:.1f} s"
    )
    print(
        f"  unhandled exceptions in the log: {len(f.unhandled)}; admin bug reports: "
        f"{len(f.bug_reports)}"
    )
    for line in f.unhandled[:10]:
        print(f"    {line}")


@dataclass
class SubmitKillFigures:
    tasks: int
    at_provider_at_kill: int  # tasks the provider had accepted when the bot was killed
    submitting_at_kill: list[int]  # tasks whose row said "submitting" at the kill
    unknown: list[int]  # tasks reported "outcome unknown" after the restart
    unknown_never_sent: list[int]  # ... of which the provider never received a request
    states: dict[str, int]
    videos: Counter[int]
    unhandled: list[str]


async def submit_kill_drill(
    tasks: int = 25,
    users: int = 25,
    *,
    seed: int = 7,
    workdir: Path | None = None,
) -> SubmitKillFigures:
    """SIGKILL while submissions wait for the provider's rate limit (KIE: 20 per 10 s).

    More than 20 tasks are submitted at once (one per user, all users at the same time: cards
    made one after another could spread over the 10 s window); the first 20 go out at once,
    the others wait in the bot for the window to reopen. The bot is killed while they wait, and
    started again. A task whose request never left is not "outcome unknown": it should simply
    be sent after the restart, and delivered.
    """
    rng = random.Random(seed)
    user_ids, per_user = users_for(tasks, users)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="drill-submit-kill-"))
    database = workdir / "data" / "bot.sqlite3"
    async with FakeTelegram() as telegram, FakeKie(rate_limit=None, result_size=RESULT_SIZE) as kie:
        bot = BotProcess(drill_environment(telegram, kie, database), workdir)
        finisher = Finisher(kie, rng)
        try:
            bot.start()
            await submit_cards(telegram, user_ids, per_user)
            await kie.wait_for_task(count=min(tasks, 20), timeout=60)
            await asyncio.sleep(1.0)  # the rest wait for the provider's window to reopen
            await bot.kill()
            at_provider = {t.video_url for t in kie.tasks.values()}
            rows = task_rows(database)
            submitting = sorted(t for t, (s, _) in rows.items() if s == "submitting")
            bot.start()
            finisher.all_within(1.0)
            final = await wait_settled(database, tasks, within=120)
            await asyncio.sleep(1.0)
            await bot.stop()
        finally:
            await finisher.stop()
            bot.close()
        unknown = sorted(t for t, (s, _) in final.items() if s == "unknown")
        sent_ever = {t.video_url for t in kie.tasks.values()}
        return SubmitKillFigures(
            tasks=tasks,
            at_provider_at_kill=len(at_provider),
            submitting_at_kill=submitting,
            unknown=unknown,
            unknown_never_sent=[t for t in unknown if final[t][1] not in sent_ever],
            states=dict(Counter(s for s, _ in final.values())),
            videos=videos_per_task(telegram, user_ids),
            unhandled=bot.unhandled(),
        )


def report_submit_kill(f: SubmitKillFigures) -> None:
    print(
        f"Kill while submissions wait for the provider's rate limit: {f.tasks} tasks submitted "
        f"at once, SIGKILL with {f.at_provider_at_kill} at the provider"
    )
    print(f"  rows 'submitting' at the kill: {len(f.submitting_at_kill)} {f.submitting_at_kill}")
    print(
        f"  'outcome unknown' after the restart: {len(f.unknown)}, of which the provider never "
        f"received a request: {len(f.unknown_never_sent)} {f.unknown_never_sent}"
    )
    delivered = sum(1 for n in f.videos.values() if n >= 1)
    print(f"  final states: {f.states}; tasks with a video: {delivered}")


# ----------------------------------------------------------------------------- the fault drill


@dataclass
class FaultFigures:
    tasks: int
    users: int
    provider_rate: float
    telegram_rate: float
    injected: list[Injected]
    expected: dict[int, str]  # task id -> the ending its submit's answers call for
    states: dict[int, str]  # task id -> its final state
    videos: Counter[int]
    seconds: float
    unhandled: list[str]
    limiter_gave_up: int
    bug_reports: list[str]
    status_requests: int
    latencies: list[float]  # provider done -> sendVideo, seconds
    log: str = ""
    failures: list[str] = field(default_factory=list)

    def injected_counts(self) -> Counter[str]:
        return Counter(f"{i.target} {i.kind}" for i in self.injected)

    def delivered_once(self) -> int:
        return sum(1 for t, e in self.expected.items() if e == "delivered" and self.videos[t] == 1)

    def twice(self) -> list[int]:
        return sorted(t for t in self.states if self.videos[t] >= 2)

    def never(self) -> list[int]:
        return sorted(
            t for t, e in self.expected.items() if e == "delivered" and self.videos[t] == 0
        )

    def mismatched(self) -> list[tuple[int, str, str]]:
        """(task, expected ending, actual state) wherever they differ, or a video came anyway."""
        wrong = []
        for task, expected in sorted(self.expected.items()):
            actual = self.states.get(task, "missing")
            videos = self.videos[task]
            if actual != expected or videos != (1 if expected == "delivered" else 0):
                wrong.append((task, expected, f"{actual} ({videos} videos)"))
        return wrong


def expected_endings(
    rows: dict[int, tuple[str, str]], injected: Sequence[Injected], accepted: set[str]
) -> dict[int, str]:
    """What each task should end as, given the answers its submit got.

    Accepted by the provider: delivered. Otherwise the last fault decides: a 500 is a refusal
    (failed), no answer is "unknown" (never resent), a 429 is retried until it gives up (failed).
    """
    last: dict[str, str] = {}
    for fault in injected:
        if fault.target == "submit" and fault.key is not None:
            last[fault.key] = fault.kind
    endings = {}
    for task, (_, url) in rows.items():
        if url in accepted:
            endings[task] = "delivered"
        else:
            endings[task] = "unknown" if last.get(url) == "timeout" else "failed"
    return endings


async def fault_drill(
    tasks: int = 200,
    users: int = 40,
    *,
    provider_rate: float = 0.3,
    telegram_rate: float = 0.1,
    processing: tuple[float, float] = (1.0, 5.0),
    telegram_max_in_a_row: int | None = None,
    seed: int = 7,
    workdir: Path | None = None,
    env: dict[str, str] | None = None,
) -> FaultFigures:
    """Each task finishes `processing` s after the provider accepted it; faults all along."""
    rng = random.Random(seed)
    user_ids, per_user = users_for(tasks, users)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="drill-faults-"))
    database = workdir / "data" / "bot.sqlite3"
    injected: list[Injected] = []
    telegram = FakeTelegram()
    kie = FakeKie(rate_limit=None, result_size=RESULT_SIZE)
    if provider_rate > 0:
        kie.app.add_middleware(
            ProviderFaults,
            rate=provider_rate,
            rng=random.Random(rng.random()),
            record=injected.append,
        )
    if telegram_rate > 0:
        telegram.app.add_middleware(
            TelegramFaults,
            rate=telegram_rate,
            rng=random.Random(rng.random()),
            record=injected.append,
            max_in_a_row=telegram_max_in_a_row,
        )
    settings = {"PROVIDER_TIMEOUT_SECONDS": "1"} | (env or {})
    async with telegram, kie:
        bot = BotProcess(drill_environment(telegram, kie, database, **settings), workdir)
        finisher = Finisher(kie, rng)
        try:
            started = time.monotonic()
            bot.start()
            finisher.each_after_creation(*processing)
            await submit_cards(telegram, user_ids, per_user)
            rows = await wait_settled(database, tasks, within=300 + 2 * tasks)
            seconds = time.monotonic() - started
            await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
            code = await bot.stop()
            if code != 0:
                raise AssertionError(f"the bot exited with {code}")
        finally:
            await finisher.stop()
            bot.close()
        accepted = {t.video_url for t in kie.tasks.values()}
        return FaultFigures(
            tasks=tasks,
            users=len(user_ids),
            provider_rate=provider_rate,
            telegram_rate=telegram_rate,
            injected=injected,
            expected=expected_endings(rows, injected, accepted),
            states={t: s for t, (s, _) in rows.items()},
            videos=videos_per_task(telegram, user_ids),
            seconds=seconds,
            unhandled=bot.unhandled(),
            limiter_gave_up=bot.limiter_gave_up(),
            bug_reports=admin_bug_reports(telegram),
            status_requests=len(kie.status_requests()),
            latencies=delivery_latencies(telegram, database, finisher),
            log=bot.log_text(),
        )


def latency_text(seconds: Sequence[float]) -> str:
    return (
        f"p50 {percentile(seconds, 50):.1f} s, p95 {percentile(seconds, 95):.1f} s, "
        f"max {max(seconds, default=float('nan')):.1f} s"
    )


def report_faults(f: FaultFigures, clean: FaultFigures | None) -> None:
    print(
        f"Fault drill: {f.tasks} tasks from {f.users} users; provider faults "
        f"{f.provider_rate:.0%} of submit and status calls, Telegram 429 on "
        f"{f.telegram_rate:.0%} of sends"
    )
    counts = f.injected_counts()
    print("  injected: " + ", ".join(f"{k} ×{n}" for k, n in sorted(counts.items())))
    expected = Counter(f.expected.values())
    print(
        f"  expected endings from the submit answers: {expected['delivered']} delivered, "
        f"{expected['failed']} failed (submit refused with 500), {expected['unknown']} unknown "
        f"(submit unanswered: never resent)"
    )
    print(
        f"  delivered once: {f.delivered_once()}   twice or more: {len(f.twice())}   "
        f"never (though accepted): {len(f.never())}"
    )
    mismatched = f.mismatched()
    print(f"  tasks whose ending differs from the expected one: {len(mismatched)} {mismatched[:5]}")
    print(f"  final states: {dict(Counter(f.states.values()))}")
    print(f"  status requests: {f.status_requests} ({f.status_requests / f.tasks:.1f} per task)")
    print(f"  provider done -> sendVideo: {latency_text(f.latencies)}")
    print(
        f"  unhandled exceptions in the log: {len(f.unhandled)}; admin bug reports: "
        f"{len(f.bug_reports)}; python-telegram-bot's rate limiter gave up after its 3 retries "
        f"(4 answers 429 in a row, logged with its own traceback): {f.limiter_gave_up}"
    )
    for line in f.unhandled[:10]:
        print(f"    {line}")
    if clean is not None:
        print(
            f"  time: {f.seconds:.1f} s with faults, {clean.seconds:.1f} s without "
            f"({f.seconds / clean.seconds:.2f}×); without faults: {clean.delivered_once()} of "
            f"{clean.tasks} delivered once, {len(clean.unhandled)} unhandled exceptions, "
            f"provider done -> sendVideo {latency_text(clean.latencies)}"
        )
    else:
        print(f"  time: {f.seconds:.1f} s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--only", choices=("restart", "submit-kill", "faults"))
    parser.add_argument(
        "--spread", type=float, default=20.0, help="restart drill: seconds over which tasks finish"
    )
    parser.add_argument("--provider-faults", type=float, default=0.3)
    parser.add_argument("--telegram-faults", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.only in (None, "restart"):
        restart = await restart_drill(args.tasks, args.users, spread=args.spread, seed=args.seed)
        report_restart(restart)
        print()
    if args.only in (None, "submit-kill"):
        report_submit_kill(await submit_kill_drill(seed=args.seed))
        print()
    if args.only in (None, "faults"):
        clean = await fault_drill(
            args.tasks, args.users, provider_rate=0, telegram_rate=0, seed=args.seed
        )
        faults = await fault_drill(
            args.tasks,
            args.users,
            provider_rate=args.provider_faults,
            telegram_rate=args.telegram_faults,
            seed=args.seed,
        )
        report_faults(faults, clean)


if __name__ == "__main__":
    asyncio.run(main())
