"""Update throughput: how many link + prompt messages a second the bot turns into cards, and
what each costs next to a bare python-telegram-bot echo bot.

    python3 manage.py bench throughput [--messages 2000] [--users 200] [--rounds 3]

`--messages` text messages (a video link and a prompt), `--messages / --users` from each user,
are queued at the fake Telegram at once; the real bot (`BotApp`, long polling) answers each with
a confirmation card (and, from a user's second message on, also retires the previous card with
an editMessageText, as it always does; `--users 2000` sends one message per user, without those
edits). In the same run and against the same fake, a bare python-telegram-bot echo bot (an
`Application` with one `MessageHandler` that replies with the text) answers the same messages.
Each is measured `--rounds` times, alternating which goes first, each time after a warm-up load;
the medians are printed:
- messages per second, from the first message queued to the last answer received;
- cost per message: wall time / messages, and CPU time / messages (`time.process_time()` of
  the process the bot runs in, from the first message queued until the calls stop, so the
  trailing card edits count);
- the ratio of the bot's cost per message to the echo bot's (median of the per-round ratios;
  issue 7's target: at most 1.5);
- the fake's CPU time per Bot API call (hence the most calls a second it could answer), and the
  CPUs that other processes on the machine kept busy meanwhile (then the figures are noisy).
The default run takes about 1.5 minutes.

Fairness:
- The fake Telegram (and an idle fake KIE, which a card never calls) run in a child process, so
  the CPU time measured is the bot's alone; the fake's own CPU time is printed too, as its busy
  share of the window: near 100 % would mean the fake, not the bot, sets the pace.
- Both bots have the same Bot API settings: base URL, python-telegram-bot's default HTTP
  client, the bot's `Defaults` (HTML parse mode, no link previews), long polling with the same
  timeout and `allowed_updates`, and up to the same number of updates handled at once (the
  bot's `CONCURRENT_UPDATES`, in its per-chat processor; the echo bot, in PTB's own).
- Both send through an `AIORateLimiter` with its limits lifted
  (`overall_max_rate=0`, `group_max_rate=0`): the limiter's code runs for both, but neither
  waits for Telegram's 30 messages a second, which would make both take 67 s per 2,000
  answers whatever they cost. That is the only change to the bot as shipped (made by patching
  `bot.app.AIORateLimiter` while the bot is built). `--flood-limit` keeps the limits for both.
- Logging at WARNING for both (at its INFO default the bot logs nothing per message either).

`--echo-answer card` makes the echo bot answer with a card of the bot's shape (HTML with a
link, Submit and Cancel buttons) instead of the text: that part of the bot's cost is the card's,
not the bot's work. `--only bot` (or `echo`) measures one of the two, e.g. under a profiler.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from unittest import mock

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

import bot.app
from bot import texts
from bot.app import (
    ALLOWED_UPDATES,
    CONCURRENT_UPDATES,
    LONG_POLL_SECONDS,
    TELEGRAM_SENDS_PER_SECOND,
    BotApp,
)
from bot.config import load_settings
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram

FIRST_USER = 200_000
ADMIN_ID = 900  # as in the tests; never one of the users here
QUIET = 0.1  # seconds without a call after the last answer: the trailing work is done
ECHO, BOT = "echo bot", "the bot"
NOISY = 0.5  # CPUs kept busy by other processes above which the figures are flagged


# ---------------------------------------------------------------------- the fake's process


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


# ---------------------------------------------------------------------- the two bots


def rate_limiter(flood_limit: bool, max_retries: int = 3) -> AIORateLimiter:
    if flood_limit:  # as the bot sets it (bot/app.py)
        return AIORateLimiter(
            overall_max_rate=1,
            overall_time_period=1 / TELEGRAM_SENDS_PER_SECOND,
            max_retries=max_retries,
        )
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)


@contextlib.asynccontextmanager
async def real_bot(
    telegram_url: str, kie_url: str, directory: Path, flood_limit: bool
) -> AsyncIterator[None]:
    settings = load_settings(
        _env_file=None,
        telegram_bot_token=TEST_BOT_TOKEN,
        telegram_api_url=telegram_url,
        provider="kie",
        provider_api_key=TEST_KIE_KEY,
        provider_base_url=kie_url,
        database_path=directory / "bot.sqlite3",
        admin_ids=str(ADMIN_ID),
        # The example links do not resolve: no preflight (as in the tests).
        allow_loopback_urls=True,
        preflight_checks=False,
        log_level="WARNING",
    )
    with mock.patch.object(
        bot.app,
        "AIORateLimiter",
        lambda max_retries=0, **_: rate_limiter(flood_limit, max_retries),
    ):
        app = BotApp(settings)
    await app.start()
    try:
        yield
    finally:
        await app.stop()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


# The same shape as the bot's card (HTML with a link, two buttons), for --echo-answer card.
ECHO_CARD_KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("✅ Submit", callback_data="submit:1"),
            InlineKeyboardButton("✖ Cancel", callback_data="cancel:1"),
        ]
    ]
)


async def echo_card(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        link, _, prompt = message.text.partition(" ")
        card = texts.confirmation_card(link, prompt, None, None)
        await message.reply_text(card, reply_markup=ECHO_CARD_KEYBOARD)


@contextlib.asynccontextmanager
async def echo_bot(telegram_url: str, flood_limit: bool, card: bool) -> AsyncIterator[None]:
    application = (
        Application.builder()
        .token(TEST_BOT_TOKEN)
        .base_url(f"{telegram_url}/bot")
        .base_file_url(f"{telegram_url}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(rate_limiter(flood_limit))
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND, echo_card if card else echo)
    )
    updater = application.updater
    assert updater is not None
    async with application:
        await application.start()
        await updater.start_polling(timeout=LONG_POLL_SECONDS, allowed_updates=ALLOWED_UPDATES)
        try:
            yield
        finally:
            await updater.stop()
            await application.stop()


# ---------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Measurement:
    messages: int
    seconds: float  # first message queued -> last answer
    cpu: float  # this process's CPU time, first message queued -> all work done
    fake_cpu: float
    fake_window: float
    calls: dict[str, int]
    others: float  # CPUs the machine's other processes kept busy meanwhile (noise)

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
    def fake_busy(self) -> float:
        return self.fake_cpu / self.fake_window

    def calls_per_message(self) -> float:
        sends = sum(n for m, n in self.calls.items() if m not in ("getUpdates",))
        return sends / self.messages


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


async def measure(fake: Fake, load: Load, warmup: Load, *, cards: bool) -> Measurement:
    """Queue `warmup`, then `load`, at the running bot; measure the second."""
    await fake.serve(warmup)
    gc.collect()
    machine = machine_busy()
    cpu = time.process_time()
    started = time.monotonic()
    served = await fake.serve(load)
    cpu = time.process_time() - cpu
    window = time.monotonic() - started
    others = (machine_busy() - machine - cpu - served.fake_cpu) / window
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
    which: str, fake: Fake, urls: tuple[str, str], args: argparse.Namespace
) -> Measurement:
    per_user = max(1, args.messages // args.users)
    load = fake.load(args.users, per_user)
    warmup = fake.load(max(1, args.warmup // per_user), per_user)
    if which == ECHO:
        async with echo_bot(urls[0], args.flood_limit, args.echo_answer == "card"):
            return await measure(fake, load, warmup, cards=False)
    with tempfile.TemporaryDirectory() as directory:
        async with real_bot(urls[0], urls[1], Path(directory), args.flood_limit):
            return await measure(fake, load, warmup, cards=True)


def describe(m: Measurement) -> str:
    return (
        f"{m.rate:6.0f} msg/s, {m.wall_ms:5.2f} ms/msg wall, {m.cpu_ms:5.2f} ms/msg CPU, "
        f"{m.calls_per_message():.2f} Bot API calls/msg, fake busy {m.fake_busy:4.0%}, "
        f"other processes {m.others:.1f} CPUs"
    )


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


async def run(args: argparse.Namespace, fake: Fake, urls: tuple[str, str]) -> None:
    per_user = max(1, args.messages // args.users)
    messages = args.users * per_user
    limiter = "Telegram's limits kept" if args.flood_limit else "limits lifted"
    print(
        f"{messages} messages from {args.users} users ({per_user} each), {args.rounds} rounds, "
        f"warm-up {args.warmup}; AIORateLimiter for both, {limiter}"
    )
    print(
        f"Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}\n",
        flush=True,
    )
    kinds = {"echo": (ECHO,), "bot": (BOT,)}.get(args.only, (ECHO, BOT))
    results: dict[str, list[Measurement]] = {which: [] for which in kinds}
    ratios: list[tuple[float, float]] = []
    for number in range(1, args.rounds + 1):
        order = kinds if number % 2 else kinds[::-1]  # alternate which goes first
        print(f"Round {number}:")
        for which in order:
            results[which].append(await measure_one(which, fake, urls, args))
            print(f"  {which:9} {describe(results[which][-1])}", flush=True)
        if len(kinds) == 2:
            echo_m, bot_m = results[ECHO][-1], results[BOT][-1]
            ratios.append((bot_m.wall_ms / echo_m.wall_ms, bot_m.cpu_ms / echo_m.cpu_ms))
            noisy = max(echo_m.others, bot_m.others) > NOISY
            print(
                f"  cost ratio bot/echo: {ratios[-1][0]:.2f} wall, {ratios[-1][1]:.2f} CPU"
                + (" (noisy: other processes were busy)" if noisy else "")
            )

    def median(which: str, value: str) -> float:
        return float(statistics.median(getattr(m, value) for m in results[which]))

    print(f"\nMedian of {args.rounds} rounds:")
    print("            msg/s  wall ms/msg  CPU ms/msg  Bot API calls/msg  fake busy  others")
    for which in kinds:
        calls = statistics.median(m.calls_per_message() for m in results[which])
        print(
            f"  {which:9} {median(which, 'rate'):5.0f}  {median(which, 'wall_ms'):11.2f}  "
            f"{median(which, 'cpu_ms'):10.2f}  {calls:17.2f}  {median(which, 'fake_busy'):9.0%}  "
            f"{median(which, 'others'):6.1f}"
        )
    if ratios:
        wall = statistics.median(r[0] for r in ratios)
        cpu = statistics.median(r[1] for r in ratios)
        verdict = "within" if max(wall, cpu) <= args.target else "ABOVE"
        print(
            f"  cost ratio bot/echo: {wall:.2f} wall, {cpu:.2f} CPU "
            f"({verdict} the target of {args.target:g})"
        )
    every = [m for ms in results.values() for m in ms]
    fake_ms = statistics.median(m.fake_cpu / sum(m.calls.values()) * 1000 for m in every)
    asked = max(sum(m.calls.values()) / m.seconds for m in every)
    print(
        f"  the fake Telegram: {fake_ms:.2f} ms CPU per Bot API call, so about "
        f"{1000 / fake_ms:.0f} calls/s at most on one CPU; the bots asked for up to "
        f"{asked:.0f} calls/s"
    )
    busiest = max(m.others for m in every)
    if busiest > NOISY:
        print(
            f"  NOTE: other processes kept up to {busiest:.1f} of the {os.cpu_count()} CPUs busy "
            "during a measurement: the wall-time figures are noisy (CPU time less so)"
        )
    if BOT in results:
        print(f"  the bot's Bot API calls in the last round: {results[BOT][-1].calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warmup", type=int, default=200, help="messages sent before each measurement"
    )
    parser.add_argument("--target", type=float, default=1.5, help="the highest ratio accepted")
    parser.add_argument(
        "--flood-limit",
        action="store_true",
        help="keep the rate limiter's 30 messages a second for both (each measurement then "
        "takes messages/30 s, and only the CPU figures say anything)",
    )
    parser.add_argument(
        "--echo-answer",
        choices=("text", "card"),
        default="text",
        help="what the echo bot answers: the text (a bare echo bot), or a card of the same "
        "shape as the bot's (HTML, two buttons), which costs more to send and to read back",
    )
    parser.add_argument(
        "--only",
        choices=("echo", "bot"),
        help="measure only one of the two (to run it under a profiler)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    child = context.Process(target=fake_process, args=(child_conn,), daemon=True)
    child.start()
    try:
        urls: tuple[str, str] = conn.recv()
        asyncio.run(run(args, Fake(conn), urls))
    finally:
        conn.send(None)
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


if __name__ == "__main__":
    main()
