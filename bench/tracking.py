"""Tracking at scale: thousands of tasks in flight at once, finishing at random times.

    python3 manage.py bench tracking [--tasks 5000] [--mode both|polling|webhook] [--cards]
                                     [--database sqlite|postgresql] [--instances N]
                                     [--poll S] [--status-latency S] [--concurrency N]

What: the real bot (BotApp) tracks --tasks tasks at once against the fake KIE and Telegram
servers on loopback, in two modes:
1. polling only: a status check every --poll seconds (1 s; 15 s in production), the tasks
   finishing at random 10-60 s after the bot has started (2-20 minutes in production);
2. webhook mode: the same, but each task finishes by a provider callback sent at that moment;
   the safety poll (SAFETY_POLL_DELAY_SECONDS) is due only long after the run.
For each it prints: the peak memory of the bot's process; status requests per task against the
target (polling: at most processing time / poll interval + 1; callbacks: under 0.1); database
time per tracker round; completion -> sendVideo latency (p50, p99) next to the wait that
Telegram's 30 messages a second imposes on that load; the most sends the fake Telegram saw in
any 1 s window.

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
  one Bot API call that waits for a turn of the bot's pacing, the video ("sending video…",
  sendChatAction, goes only when a turn is free and on schedule: in a burst, never), so 5,000
  results pass the bot's 25 sends a second in about 200 s, about 4 minutes a mode (`--mode
  webhook` runs one). With --cards each has a card, created at the fake before the bot
  starts, edited once more on delivery: two calls per task.
- Status cards are not refreshed while tasks run (--card-interval 3600 s): at 5,000 tasks and
  the production STATUS_EDIT_INTERVAL_SECONDS of 30 s, the refreshes alone would ask for 167
  edits a second, more than five times what Telegram allows. The script prints that figure.
- Database time: the child wraps every TaskRepository method with a timer. Time spent in the
  tracker's own task (its rounds: due_submissions, due, next_wake_at, count_at_provider) is
  summed per round; the wall time of an await, so waiting for the one shared aiosqlite
  connection behind the per-task work counts too.
- Memory: VmHWM (/proc/self/status) is the peak resident set of the bot's process since it
  started, the interpreter and every library included: what the machine must have. Not
  ru_maxrss: Linux folds into it the peak of the memory the process had before execve, which
  for a child started from Python (vfork, then exec) is its parent's, and this process holds
  every upload the fake Telegram received (issue 18's "396 MB" webhook peak, after a polling
  run, was this process's, not the bot's). The resident set is sampled every 0.1 s, and every
  rise of the peak is printed with what the bot was doing. --tracemalloc adds the peak of the
  Python allocations made during the tracking phase alone (it slows the bot, so the latency
  figures of such a run are not comparable).
- Latency: from the moment the fake's task became complete (polling) or its callback was sent
  (webhook) to the moment the fake Telegram received the task's sendVideo. The wait Telegram's
  limit imposes is computed per task: the bot's pacing (bot.net.pacing: TELEGRAM_SENDS_PER_SECOND
  on a schedule that may run SEND_CATCH_UP_SECONDS ahead, at most TELEGRAM_SENDS_IN_ANY_SECOND
  in any second) serving each finished task's calls (the video, the card's edit) first come
  first served the moment it finishes, every send taking no time; "beyond" is the latency minus
  that wait. The longest gaps between sends are printed: while results wait, a gap is time the
  bot did not send.
- Sends at the fake: the most calls in any 1 s window, and how many windows (one from each
  call on) held how many calls; Telegram allows about 30.
- --status-latency makes each of the fake KIE's status answers take that long (a real
  provider's answer time): in polling mode the tracker then makes at most TRACKER_CONCURRENCY
  / latency checks a second.

- Database: a SQLite file (the default), or with --database postgresql a fresh database on a
  throwaway PostgreSQL server the bench starts (bench/engines) and stops at the end; the rows
  put in are the same. The server runs in processes of its own: its CPU time is not in the
  bot's, and is printed beside it (psutil, over the same window as the fakes' and driver's).
- Instances: one bot process by default; with --instances N (PostgreSQL only) N processes share
  the work on the one database, each task's callback going to them in turn (as a round-robin
  load balancer would); memory and tracker figures are printed for each.

The parts are in bench/scale/: the bot's process (child), the load (load), one run (run), the
figures (figures) and the report (report).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys

from bench.engines.engine import POSTGRESQL, Engine, add_option, exit_on_sigterm
from bench.scale.child import child_main
from bench.scale.figures import TELEGRAM_RATE
from bench.scale.options import LONG, Options
from bench.scale.report import report
from bench.scale.run import run

PRODUCTION_CARD_INTERVAL = 30.0  # STATUS_EDIT_INTERVAL_SECONDS by default


def parser() -> argparse.ArgumentParser:
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
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="bot processes sharing the work on one database (more than one: PostgreSQL only)",
    )
    parser.add_argument(
        "--status-latency",
        type=float,
        default=0.0,
        help="seconds the fake KIE takes to answer a status request (a real one's latency)",
    )
    add_option(parser)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        tasks=args.tasks,
        poll=args.poll,
        finish=(args.finish[0], args.finish[1]),
        cards=args.cards,
        card_interval=args.card_interval,
        concurrency=args.concurrency,
        result_bytes=args.result_kb * 1024,
        tracemalloc=args.tracemalloc,
        instances=args.instances,
        status_latency=args.status_latency,
    )


async def main() -> None:
    args = parser().parse_args()
    if args.child:
        await child_main()
        return
    logging.basicConfig(level=logging.WARNING)
    random.seed(args.seed)
    options = options_from(args)
    if options.instances > 1 and args.database != POSTGRESQL:
        raise SystemExit("--instances above 1 needs --database postgresql (SQLite is one process)")
    modes = ["polling", "webhook"] if args.mode == "both" else [args.mode]
    exit_on_sigterm()
    print(
        f"{options.tasks} tasks in flight, inserted as 'processing'; "
        f"{options.instances} bot instance{'s' if options.instances > 1 else ''}; "
        f"{'with' if options.cards else 'without'} status cards; TRACKER_CONCURRENCY "
        f"{options.concurrency}; results of {args.result_kb} KB; status answers take "
        f"{options.status_latency * 1000:.0f} ms; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    refreshes = options.tasks / PRODUCTION_CARD_INTERVAL
    print(
        f"(Status cards are not refreshed during the run: at STATUS_EDIT_INTERVAL_SECONDS="
        f"{PRODUCTION_CARD_INTERVAL:g}, {options.tasks} cards would ask for {refreshes:.0f} "
        f"edits a second; Telegram allows {TELEGRAM_RATE:g}.)\n",
        flush=True,
    )
    engine = await asyncio.to_thread(Engine.start, args.database)
    try:
        print(f"The bot's database: {engine.describe()}\n", flush=True)
        for mode in modes:
            figures = await run(mode, options, engine)
            report(figures, options, engine.postgres)
            print(flush=True)
    finally:
        await asyncio.to_thread(engine.close)


if __name__ == "__main__":
    asyncio.run(main())
