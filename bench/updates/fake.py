"""The throughput bench's fake Telegram (and an idle fake KIE), in a process of its own so that
the CPU time measured is the bot's alone: it queues each load it is sent over a pipe and
answers with what it saw of it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram

FIRST_USER = 200_000
QUIET = 0.1  # seconds without a call after the last answer: the trailing work is done


@dataclass(frozen=True)
class Load:
    """Messages to queue at once: `per_user` from each of `users` users, round-robin."""

    first_user: int
    users: int
    per_user: int

    @property
    def messages(self) -> int:
        return self.users * self.per_user


@dataclass(frozen=True)
class Served:
    """What the fake saw of one load."""

    seconds: float  # first message queued -> last answer (sendMessage) received
    fake_cpu: float  # the fake process's CPU time from the first message queued until quiet
    fake_window: float  # first message queued -> last call to the load's chats
    answers: int  # sendMessage calls to the load's chats
    cards: int  # ... of which carry an inline keyboard
    calls: dict[str, int] = field(default_factory=dict)  # every call in the window, by method


def text_of(user: int, n: int) -> str:
    return f"https://v.example.com/{user}/clip{n}.mp4 make it look like chalk, take {n}"


class Progress:
    """Counts the calls the fake received since it was made (each call looked at once)."""

    def __init__(self, telegram: FakeTelegram, load: Load) -> None:
        self._telegram = telegram
        self._chats = range(load.first_user, load.first_user + load.users)
        self._expected = load.messages
        self._index = len(telegram.calls)
        self.calls: Counter[str] = Counter()
        self.answers = 0
        self.cards = 0
        self.last_answer_at = 0.0
        self.last_call_at = 0.0

    def scan(self) -> None:
        calls = self._telegram.calls
        while self._index < len(calls):
            call = calls[self._index]
            self._index += 1
            self.calls[call.method] += 1
            if call.params.get("chat_id") not in self._chats:
                continue
            self.last_call_at = call.at
            if call.method == "sendMessage":
                self.answers += 1
                self.last_answer_at = call.at
                if call.params.get("reply_markup"):
                    self.cards += 1

    def answered(self) -> bool:
        self.scan()
        return self.answers >= self._expected


async def serve_load(telegram: FakeTelegram, load: Load) -> Served:
    progress = Progress(telegram, load)
    cpu = time.process_time()
    started = time.monotonic()
    for n in range(load.per_user):
        for user in range(load.first_user, load.first_user + load.users):
            telegram.send_message(user, text_of(user, n), username=f"user{user}")
    await telegram.wait_until(
        progress.answered, timeout=60 + load.messages / 10, what=f"{load.messages} answers"
    )
    while True:  # the trailing work (card edits) ends when the calls stop
        progress.scan()
        idle = time.monotonic() - progress.last_call_at
        if idle >= QUIET:
            break
        await asyncio.sleep(QUIET - idle)
    cpu = time.process_time() - cpu
    return Served(
        seconds=progress.last_answer_at - started,
        fake_cpu=cpu,
        fake_window=progress.last_call_at - started,
        answers=progress.answers,
        cards=progress.cards,
        calls=dict(progress.calls),
    )


async def fake_main(conn: Connection) -> None:
    async with FakeTelegram() as telegram, FakeKie() as kie:
        conn.send((telegram.url, kie.url))
        loop = asyncio.get_running_loop()
        while True:
            load = await loop.run_in_executor(None, conn.recv)
            if load is None:
                return
            try:
                conn.send(await serve_load(telegram, load))
            except Exception as exc:  # reported to the benchmark, which stops
                conn.send(f"{type(exc).__name__}: {exc}")


def fake_process(conn: Connection) -> None:
    """The child process: the fake Telegram and KIE, queuing each load it is sent."""
    asyncio.run(fake_main(conn))


class Fake:
    """The benchmark's end of the pipe to the fake's process."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._next_user = FIRST_USER

    def load(self, users: int, per_user: int) -> Load:
        load = Load(self._next_user, users, per_user)
        self._next_user += users
        return load

    async def serve(self, load: Load) -> Served:
        self._conn.send(load)
        answer: Served | str = await asyncio.get_running_loop().run_in_executor(
            None, self._conn.recv
        )
        if isinstance(answer, str):
            raise RuntimeError(f"the fake gave up: {answer}")
        return answer
