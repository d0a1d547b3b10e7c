"""The fault drill: the provider answers a share of its submit and status calls with HTTP 500,
429 or no answer, and Telegram a share of the sends with 429 (bench.drill.inject). A submit is
resent only when it certainly was not accepted (a 429): a task whose submit got a 500 fails, one
whose submit got no answer is "outcome unknown"; every other task must be delivered exactly once.
Printed beside the same run without faults."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.drill.harness import Drill, open_drill
from bench.drill.inject import Injected, install_faults
from bench.drill.outcomes import delivery_latencies
from bench.drill.payments import LedgerAudit, report_ledger
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


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
    ledger: LedgerAudit | None = None  # payments on: the ledger against the tasks' endings

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
    payments: bool = False,
) -> FaultFigures:
    """Each task finishes `processing` s after the provider accepted it; faults all along.
    `payments`: PAYMENTS=stars, and the ledger audited at the end (bench.drill.payments)."""
    injected: list[Injected] = []

    def prepare(telegram: FakeTelegram, kie: FakeKie, rng: random.Random) -> None:
        install_faults(
            telegram,
            kie,
            rng,
            provider_rate=provider_rate,
            telegram_rate=telegram_rate,
            telegram_max_in_a_row=telegram_max_in_a_row,
            record=injected.append,
        )

    settings = {"PROVIDER_TIMEOUT_SECONDS": "1"} | (env or {})
    async with open_drill(
        "faults",
        tasks,
        users,
        seed=seed,
        workdir=workdir,
        env=settings,
        prepare=prepare,
        payments=payments,
    ) as drill:
        started = time.monotonic()
        drill.bot.start()
        drill.finisher.each_after_creation(*processing)
        await drill.submit()
        rows = await drill.settled(within=300 + 2 * tasks)
        seconds = time.monotonic() - started
        await drill.stop_bot(linger=1.0)
    figures = fault_figures(drill, rows, injected, seconds, (provider_rate, telegram_rate))
    figures.ledger = await drill.ledger_audit()
    return figures


def fault_figures(
    drill: Drill,
    rows: dict[int, tuple[str, str]],
    injected: list[Injected],
    seconds: float,
    rates: tuple[float, float],
) -> FaultFigures:
    """The figures of a run with `rates` of provider and Telegram faults."""
    accepted = {t.video_url for t in drill.kie.tasks.values()}
    return FaultFigures(
        tasks=drill.tasks,
        users=len(drill.user_ids),
        provider_rate=rates[0],
        telegram_rate=rates[1],
        injected=injected,
        expected=expected_endings(rows, injected, accepted),
        states={t: s for t, (s, _) in rows.items()},
        videos=drill.videos(),
        seconds=seconds,
        unhandled=drill.bot.unhandled(),
        limiter_gave_up=drill.bot.limiter_gave_up(),
        bug_reports=drill.bug_reports(),
        status_requests=len(drill.kie.status_requests()),
        latencies=delivery_latencies(drill.telegram, drill.database, drill.finisher.completed),
        log=drill.bot.log_text(),
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
    if clean is not None and clean.ledger is not None:
        print("  without faults:")
        report_ledger(clean.ledger)
        print("  with faults:")
    report_ledger(f.ledger)
