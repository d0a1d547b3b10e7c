"""Update throughput: how many link + prompt messages a second the bot turns into cards, and
what each costs next to a bare python-telegram-bot echo bot.

    python3 manage.py bench throughput [--messages 2000] [--users 200] [--rounds 3]
                                       [--database sqlite|postgresql] [--metrics]

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
  (`overall_max_rate=0`, `group_max_rate=0`), the bot also through its SendPacer with its
  limits out of reach: the limiters' code runs for both, but neither waits for Telegram's 30
  messages a second, which would make both take 67 s per 2,000 answers whatever they cost. On
  PostgreSQL the bot also takes, for each send to a chat, a turn of the pacing shared by every
  instance on the database (storage/send_turns.py: a read and a claim on `send_turns`, and its
  answer written); it takes the SendPacer's rules, so its limits are lifted too, its statements
  kept. Those are the only changes to the bot as shipped (made by patching
  `bot.app.AIORateLimiter` and `bot.app.SendPacer` while the bot is built and started).
  `--flood-limit` keeps the limits for both (the echo bot's: 25 a second, one at a time).
- Logging at WARNING for both (at its INFO default the bot logs nothing per message either).

`--database postgresql` runs the bot on a fresh database (one per measurement) on a throwaway
PostgreSQL server the bench starts (bench/engines) instead of a SQLite file. The server runs in
processes of its own, so the bot's CPU time leaves out the statements' cost on the server's
side: the server's CPU time over the same window (psutil, every process of the server) is
printed beside it, and the ratio of the two together to the echo bot's.

`--metrics` runs the bot with /metrics served (METRICS_PORT set), so that it counts every Bot
API call, task and tracker round in prometheus-client's counters (issue 17): the cost of the
metrics on this hot path is the difference from a run without it.

`--echo-answer card` makes the echo bot answer with a card of the bot's shape (HTML with a
link, Submit and Cancel buttons) instead of the text: that part of the bot's cost is the card's,
not the bot's work. `--only bot` (or `echo`) measures one of the two, e.g. under a profiler.

The parts are in bench/updates/: the fake's process (fake), the two bots (bots), one
measurement (measure); the database in bench/engines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import platform
import statistics
from pathlib import Path

from bench.engines.engine import Engine, add_option, exit_on_sigterm
from bench.updates.fake import Fake, fake_process
from bench.updates.measure import BOT, ECHO, Measurement, describe, measure_one

NOISY = 0.5  # CPUs kept busy by other processes above which the figures are flagged


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


async def run(args: argparse.Namespace, fake: Fake, urls: tuple[str, str], engine: Engine) -> None:
    per_user = max(1, args.messages // args.users)
    messages = args.users * per_user
    limiter = "Telegram's limits kept" if args.flood_limit else "limits lifted"
    print(
        f"{messages} messages from {args.users} users ({per_user} each), {args.rounds} rounds, "
        f"warm-up {args.warmup}; {limiter}"
    )
    print(
        f"Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
    )
    print(f"The bot's database: {engine.describe()}", flush=True)
    print(f"The bot's metrics: {'on (METRICS_PORT)' if args.metrics else 'off'}\n", flush=True)
    kinds = {"echo": (ECHO,), "bot": (BOT,)}.get(args.only, (ECHO, BOT))
    results: dict[str, list[Measurement]] = {which: [] for which in kinds}
    ratios: list[tuple[float, float, float]] = []
    for number in range(1, args.rounds + 1):
        ratio = await one_round(number, results, args, fake, urls, engine)
        if ratio is not None:
            ratios.append(ratio)
    print_medians(args.rounds, results, ratios, args.target, engine)
    print_fake(results)


async def one_round(
    number: int,
    results: dict[str, list[Measurement]],
    args: argparse.Namespace,
    fake: Fake,
    urls: tuple[str, str],
    engine: Engine,
) -> tuple[float, float, float] | None:
    """Measure each bot once, in turns; the cost ratio bot/echo (wall, CPU, CPU with the
    database server's) if both ran."""
    kinds = tuple(results)
    order = kinds if number % 2 else kinds[::-1]  # alternate which goes first
    print(f"Round {number}:")
    for which in order:
        results[which].append(await measure_one(which, fake, urls, args, engine))
        print(f"  {which:9} {describe(results[which][-1], engine)}", flush=True)
    if len(kinds) != 2:
        return None
    echo_m, bot_m = results[ECHO][-1], results[BOT][-1]
    ratio = (
        bot_m.wall_ms / echo_m.wall_ms,
        bot_m.cpu_ms / echo_m.cpu_ms,
        bot_m.total_cpu_ms / echo_m.cpu_ms,
    )
    noisy = max(echo_m.others, bot_m.others) > NOISY
    server = f", {ratio[2]:.2f} CPU with PostgreSQL's" if engine.postgres else ""
    print(
        f"  cost ratio bot/echo: {ratio[0]:.2f} wall, {ratio[1]:.2f} CPU{server}"
        + (" (noisy: other processes were busy)" if noisy else "")
    )
    return ratio


def print_medians(
    rounds: int,
    results: dict[str, list[Measurement]],
    ratios: list[tuple[float, float, float]],
    target: float,
    engine: Engine,
) -> None:
    def median(which: str, value: str) -> float:
        return float(statistics.median(getattr(m, value) for m in results[which]))

    print(f"\nMedian of {rounds} rounds ({engine.name}):")
    server = "  PostgreSQL CPU ms/msg" if engine.postgres else ""
    print(
        f"            msg/s  wall ms/msg  CPU ms/msg{server}  Bot API calls/msg  fake busy  others"
    )
    for which in results:
        calls = statistics.median(m.calls_per_message() for m in results[which])
        db = f"  {median(which, 'db_cpu_ms'):21.2f}" if engine.postgres else ""
        print(
            f"  {which:9} {median(which, 'rate'):5.0f}  {median(which, 'wall_ms'):11.2f}  "
            f"{median(which, 'cpu_ms'):10.2f}{db}  {calls:17.2f}  "
            f"{median(which, 'fake_busy'):9.0%}  {median(which, 'others'):6.1f}"
        )
    if ratios:
        wall = statistics.median(r[0] for r in ratios)
        cpu = statistics.median(r[1] for r in ratios)
        verdict = "within" if max(wall, cpu) <= target else "ABOVE"
        print(
            f"  cost ratio bot/echo: {wall:.2f} wall, {cpu:.2f} CPU "
            f"({verdict} the target of {target:g})"
        )
        if engine.postgres:
            both = statistics.median(r[2] for r in ratios)
            print(
                f"  with the PostgreSQL server's CPU added to the bot's: {both:.2f} CPU "
                "(the server runs in processes of its own, not in the bot's CPU time)"
            )


def print_fake(results: dict[str, list[Measurement]]) -> None:
    """What the fake could serve against what the bots asked, and how noisy the machine was."""
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


def parser() -> argparse.ArgumentParser:
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
        "--metrics",
        action="store_true",
        help="the bot with /metrics served (METRICS_PORT) and so counting every Bot API call, "
        "task and round (off by default in long polling, as shipped)",
    )
    parser.add_argument(
        "--only",
        choices=("echo", "bot"),
        help="measure only one of the two (to run it under a profiler)",
    )
    add_option(parser)
    return parser


def main() -> None:
    args = parser().parse_args()
    logging.basicConfig(level=logging.WARNING)
    exit_on_sigterm()
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    child = context.Process(target=fake_process, args=(child_conn,), daemon=True)
    child.start()
    engine: Engine | None = None
    try:
        engine = Engine.start(args.database)
        urls: tuple[str, str] = conn.recv()
        asyncio.run(run(args, Fake(conn), urls, engine))
    finally:
        conn.send(None)
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
        if engine is not None:
            engine.close()


if __name__ == "__main__":
    main()
