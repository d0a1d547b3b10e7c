"""Drills: the bot killed with SIGKILL half-way, and the bot under provider and Telegram faults.

    python3 manage.py bench drills [--tasks 200] [--users 40]
                                   [--only restart|submit-kill|faults|cluster] [--payments]

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

4. Several instances (`--only cluster`, not part of the default run): 3 instances on one
   throwaway PostgreSQL server behind a round-robin relay, `--cluster-tasks` (300) tasks from
   `--cluster-users` (60) users; the busiest instance gets SIGKILL half-way and is started again
   later. See bench/drill/cluster.py.

With `--payments` every drill runs with PAYMENTS=stars: each task costs 10 credits, and each
user is given exactly enough for their tasks before the bot starts (a price reserved twice would
leave a Submit refused). At the end the ledger is audited against how each task ended: delivered
charged once, failed returned, nothing held but "outcome unknown", each balance the grant less
what was spent and held, every cached balance the sum of its rows (bench/drill/payments.py).

The drills are in bench/drill/: one module each (restart, submit_kill, faults, cluster), the set-up
they share (harness: the fakes, the settings, the bot's process, the database, the users), the
fault middleware (inject), the relay in front of several instances, and the payments' seeding and
audit (payments).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.drill.cluster import ClusterFigures, cluster_drill, report_cluster
from bench.drill.faults import FaultFigures, fault_drill, report_faults
from bench.drill.restart import RestartFigures, report_restart, restart_drill
from bench.drill.submit_kill import SubmitKillFigures, report_submit_kill, submit_kill_drill
from bench.engines.engine import POSTGRESQL, Engine, exit_on_sigterm

__all__ = [
    "ClusterFigures",
    "FaultFigures",
    "RestartFigures",
    "SubmitKillFigures",
    "cluster_drill",
    "fault_drill",
    "restart_drill",
    "submit_kill_drill",
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--only", choices=("restart", "submit-kill", "faults", "cluster"))
    parser.add_argument("--cluster-tasks", type=int, default=300)
    parser.add_argument("--cluster-users", type=int, default=60)
    parser.add_argument(
        "--spread", type=float, default=20.0, help="restart drill: seconds over which tasks finish"
    )
    parser.add_argument("--provider-faults", type=float, default=0.3)
    parser.add_argument("--telegram-faults", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--payments",
        action="store_true",
        help="PAYMENTS=stars, each user given exactly enough credits; the ledger audited",
    )
    args = parser.parse_args()
    paid = args.payments
    exit_on_sigterm()
    if args.only in (None, "restart"):
        restart = await restart_drill(
            args.tasks, args.users, spread=args.spread, seed=args.seed, payments=paid
        )
        report_restart(restart)
        print()
    if args.only in (None, "submit-kill"):
        report_submit_kill(await submit_kill_drill(seed=args.seed, payments=paid))
        print()
    if args.only in (None, "faults"):
        clean = await fault_drill(
            args.tasks, args.users, provider_rate=0, telegram_rate=0, seed=args.seed, payments=paid
        )
        faults = await fault_drill(
            args.tasks,
            args.users,
            provider_rate=args.provider_faults,
            telegram_rate=args.telegram_faults,
            seed=args.seed,
            payments=paid,
        )
        report_faults(faults, clean)
    if args.only == "cluster":
        engine = await asyncio.to_thread(Engine.start, POSTGRESQL)
        try:
            folder = Path(tempfile.mkdtemp(prefix="drill-cluster-"))
            database = await asyncio.to_thread(engine.database, folder)
            print(f"Database: {engine.describe()}")
            figures = await cluster_drill(
                database,
                args.cluster_tasks,
                args.cluster_users,
                seed=args.seed,
                workdir=folder,
                payments=paid,
            )
            report_cluster(figures)
        finally:
            await asyncio.to_thread(engine.close)


if __name__ == "__main__":
    asyncio.run(main())
