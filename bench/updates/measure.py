"""One measurement of the throughput bench: a warm-up load, then the measured one, queued at
the running bot (or echo bot); its wall time, this process's CPU time, the fake's, and with
PostgreSQL the server's (processes of its own)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.engines.engine import Engine
from bench.updates.bots import echo_bot, real_bot
from bench.updates.fake import Fake, Load

ECHO, BOT = "echo bot", "the bot"


@dataclass(frozen=True)
class Measurement:
    messages: int
    seconds: float  # first message queued -> last answer
    cpu: float  # this process's CPU time, first message queued -> all work done
    fake_cpu: float
    fake_window: float
    calls: dict[str, int]
    others: float  # CPUs the machine's other processes kept busy meanwhile (noise)
    db_cpu: float = 0.0  # the PostgreSQL server's CPU time meanwhile (0 with SQLite)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def wall_ms(self) -> float:
        return self.seconds / self.messages * 1000

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.messages * 1000

    @property
    def db_cpu_ms(self) -> float:
        return self.db_cpu / self.messages * 1000

    @property
    def total_cpu_ms(self) -> float:
        """The bot's process and the database server's, per message."""
        return self.cpu_ms + self.db_cpu_ms

    @property
    def fake_busy(self) -> float:
        return self.fake_cpu / self.fake_window

    def calls_per_message(self) -> float:
        sends = sum(n for m, n in self.calls.items() if m not in ("getUpdates",))
        return sends / self.messages


async def measure(
    fake: Fake, load: Load, warmup: Load, engine: Engine, *, cards: bool
) -> Measurement:
    """Queue `warmup`, then `load`, at the running bot; measure the second."""
    await fake.serve(warmup)
    gc.collect()
    machine = machine_busy()
    db_cpu = engine.server_cpu()
    cpu = time.process_time()
    started = time.monotonic()
    served = await fake.serve(load)
    cpu = time.process_time() - cpu
    window = time.monotonic() - started
    db_cpu = engine.server_cpu() - db_cpu
    others = (machine_busy() - machine - cpu - served.fake_cpu - db_cpu) / window
    if served.answers != load.messages or (cards and served.cards != load.messages):
        raise RuntimeError(
            f"{load.messages} messages got {served.answers} answers, {served.cards} with buttons"
        )
    return Measurement(
        load.messages,
        served.seconds,
        cpu,
        served.fake_cpu,
        served.fake_window,
        served.calls,
        max(0.0, others),
        db_cpu,
    )


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (Linux; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def measure_one(
    which: str, fake: Fake, urls: tuple[str, str], args: argparse.Namespace, engine: Engine
) -> Measurement:
    """One measurement of `which` bot; the bot on a fresh database of `engine`."""
    per_user = max(1, args.messages // args.users)
    load = fake.load(args.users, per_user)
    warmup = fake.load(max(1, args.warmup // per_user), per_user)
    if which == ECHO:
        async with echo_bot(urls[0], args.flood_limit, args.echo_answer == "card"):
            return await measure(fake, load, warmup, engine, cards=False)
    with tempfile.TemporaryDirectory() as directory:
        database = await asyncio.to_thread(engine.database, Path(directory))
        try:
            async with real_bot(urls[0], urls[1], database, args.flood_limit, args.metrics):
                return await measure(fake, load, warmup, engine, cards=True)
        finally:
            await asyncio.to_thread(engine.drop, database)


def describe(m: Measurement, engine: Engine) -> str:
    server = f" + PostgreSQL {m.db_cpu_ms:5.2f}" if engine.postgres else ""
    return (
        f"{m.rate:6.0f} msg/s, {m.wall_ms:5.2f} ms/msg wall, {m.cpu_ms:5.2f}{server} ms/msg CPU, "
        f"{m.calls_per_message():.2f} Bot API calls/msg, fake busy {m.fake_busy:4.0%}, "
        f"other processes {m.others:.1f} CPUs"
    )
