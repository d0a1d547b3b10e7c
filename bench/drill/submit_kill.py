"""Kill while submits wait: more tasks submitted at once than KIE's window takes (20 submits per
10 s), so that some wait in the bot; SIGKILL while they wait, and a start again. A task whose
request never left must not end as "outcome unknown"."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.drill.harness import open_drill
from bench.drill.payments import LedgerAudit, report_ledger


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
    ledger: LedgerAudit | None = None  # payments on: the ledger against the tasks' endings


async def submit_kill_drill(
    tasks: int = 25,
    users: int = 25,
    *,
    seed: int = 7,
    workdir: Path | None = None,
    payments: bool = False,
) -> SubmitKillFigures:
    """SIGKILL while submissions wait for the provider's rate limit (KIE: 20 per 10 s).

    More than 20 tasks are submitted at once (one per user, all users at the same time: cards
    made one after another could spread over the 10 s window); the first 20 go out at once,
    the others wait in the bot for the window to reopen. The bot is killed while they wait, and
    started again. A task whose request never left is not "outcome unknown": it should simply
    be sent after the restart, and delivered.
    """
    async with open_drill(
        "submit-kill", tasks, users, seed=seed, workdir=workdir, payments=payments
    ) as drill:
        drill.bot.start()
        await drill.submit()
        await drill.kie.wait_for_task(count=min(tasks, 20), timeout=60)
        await asyncio.sleep(1.0)  # the rest wait for the provider's window to reopen
        await drill.bot.kill()
        at_provider = {t.video_url for t in drill.kie.tasks.values()}
        submitting = sorted(t for t, (s, _) in drill.rows().items() if s == "submitting")
        drill.bot.start()
        drill.finisher.all_within(1.0)
        final = await drill.settled(within=120)
        await asyncio.sleep(1.0)
        await drill.bot.stop()
    unknown = sorted(t for t, (s, _) in final.items() if s == "unknown")
    sent_ever = {t.video_url for t in drill.kie.tasks.values()}
    return SubmitKillFigures(
        tasks=tasks,
        at_provider_at_kill=len(at_provider),
        submitting_at_kill=submitting,
        unknown=unknown,
        unknown_never_sent=[t for t in unknown if final[t][1] not in sent_ever],
        states=dict(Counter(s for s, _ in final.values())),
        videos=drill.videos(),
        unhandled=drill.bot.unhandled(),
        ledger=await drill.ledger_audit(),
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
    report_ledger(f.ledger)
