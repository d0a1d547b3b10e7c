"""The several-instances drill: three `python -m bot` processes on one PostgreSQL database, in
webhook mode behind a round-robin relay (bench.drill.relay) that spreads Telegram's updates and
the provider's callbacks over them.

Users submit their tasks through the chat while earlier ones finish; the fake KIE keeps its own
limits (20 submits per 10 s, and no more than MAX_CONCURRENT_TASKS generating at once: anything
over is refused, and counted). When half the videos have been sent, the instance holding the most
tasks gets SIGKILL; the others take over what it held (INSTANCE_TIMEOUT_SECONDS plus a
heartbeat), and it is started again `restart_after` seconds after the kill.

Every task must be delivered, none submitted twice; a task delivered twice must be one the killed
instance held with its video at Telegram but its row not yet "delivered" (README, "Several
instances": the one window for duplicates), read from the database right after the kill. The
fakes count the provider's submits in any 10 s, its tasks generating at once, and Telegram's
calls to a chat in any second (Telegram allows about 30).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.drill.harness import RESULT_SIZE, Finisher, drill_environment
from bench.drill.outcomes import admin_bug_reports, videos_per_task, wait_settled
from bench.drill.payments import (
    LedgerAudit,
    audit_ledger,
    payment_settings,
    report_ledger,
    seed_credits,
)
from bench.drill.process import BotProcess
from bench.drill.relay import Relay
from bench.drill.users import submit_cards, users_for
from bench.scale.measures import free_port
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram

ACTIVE_STATES = ("queued", "submitting", "processing", "succeeded", "delivering")
KIE_RATE = (20, 10.0)  # KIE.ai: 20 submits in any 10 s
TELEGRAM_RATE = 30  # Telegram: about 30 messages a second per bot


@dataclass
class ClusterFigures:
    tasks: int
    users: int
    instances: int
    max_concurrent: int
    once: int
    twice: int  # or more
    never: int
    duplicates: list[int]
    in_window: list[int]  # held by the killed instance: video at Telegram, row not "delivered"
    held_at_kill: int  # unfinished tasks the killed instance held
    states_at_kill: dict[str, int]  # ... by state
    dead_after: float  # the kill to the database judging the instance dead
    taken_after: dict[str, float]  # the kill to the last of them, by state, in other hands
    submits: int  # submit requests the provider received
    accepted: int  # ... and accepted (each a task of its own)
    submitted_twice: list[str]  # video links the provider accepted more than once
    busiest_10s: int  # most submit requests in any 10 s (KIE allows 20)
    peak_generating: int  # most tasks generating at the provider at once
    telegram_busiest_second: int  # most calls to a chat in any 1 s window
    telegram_calls: int
    states: dict[str, int]
    unknown: list[int]  # tasks ended "outcome unknown"
    unknown_never_sent: list[int]  # ... of which the provider never received the request
    forwarded: dict[int, int]  # relay: requests each instance answered
    skipped: dict[int, int]  # relay: requests an instance refused (it was dead)
    lost: dict[int, int]  # relay: requests sent to an instance that died with them (502)
    relay_refused: int
    callbacks_failed: int  # callbacks no instance answered with 200 (a safety poll then)
    seconds: float
    unhandled: list[str]
    bug_reports: list[str]
    exit_codes: list[int]
    log: str = field(default="", repr=False)
    ledger: LedgerAudit | None = None  # payments on: the ledger against the tasks' endings

    @property
    def unexplained_duplicates(self) -> list[int]:
        return [t for t in self.duplicates if t not in self.in_window]


class Cluster:
    """The instances (BotProcess each, in a folder of its own), the relay in front of them."""

    def __init__(self, count: int, env: dict[str, str], workdir: Path) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.relay = Relay([f"http://127.0.0.1:{port}" for port in self.ports])
        self.env = env
        self.bots: list[BotProcess] = []
        for index, port in enumerate(self.ports):
            folder = workdir / f"instance-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            own = {"PUBLIC_URL": self.relay.url, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port)}
            self.bots.append(BotProcess(env | own, folder))

    async def wait_ready(self, index: int, within: float = 60.0) -> None:
        """Until the instance answers /healthz with 200."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(f"http://127.0.0.1:{self.ports[index]}/healthz")
                    if answer.status_code == 200:
                        return
                if self.bots[index].process.poll() is not None:
                    raise AssertionError(f"instance {index} exited at start")
                if time.monotonic() > deadline:
                    raise AssertionError(f"instance {index} not ready after {within:g} s")
                await asyncio.sleep(0.1)

    def close(self) -> None:
        for bot in self.bots:
            bot.close()


@contextlib.asynccontextmanager
async def open_cluster(
    count: int, database: TestDatabase, env: dict[str, str], workdir: Path, kie: FakeKie
) -> AsyncIterator[tuple[FakeTelegram, Cluster]]:
    telegram = FakeTelegram()
    async with telegram, kie:
        cluster = Cluster(count, drill_environment(telegram, kie, database, **env), workdir)
        async with cluster.relay:
            try:
                yield telegram, cluster
            finally:
                cluster.close()


async def cluster_drill(
    database: TestDatabase,
    tasks: int = 300,
    users: int = 60,
    *,
    instances: int = 3,
    max_concurrent: int = 40,
    finish: tuple[float, float] = (20.0, 40.0),
    restart_after: float = 40.0,
    seed: int = 7,
    workdir: Path | None = None,
    env: dict[str, str] | None = None,
    payments: bool = False,
) -> ClusterFigures:
    """`database`: a fresh PostgreSQL database with the bot's schema. Each task finishes at the
    provider `finish` s (at random) after its creation, and its callback is sent then.
    `payments`: PAYMENTS=stars, each user given exactly enough credits for their tasks, and the
    ledger audited at the end (bench.drill.payments)."""
    rng = random.Random(seed)
    user_ids, per_user = users_for(tasks, users)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="drill-cluster-"))
    kie = FakeKie(rate_limit=KIE_RATE, max_active_tasks=max_concurrent, result_size=RESULT_SIZE)
    settings = (
        {"MAX_CONCURRENT_TASKS": str(max_concurrent)}
        | (payment_settings() if payments else {})
        | (env or {})
    )
    granted = await seed_credits(database, user_ids, per_user) if payments else None
    async with open_cluster(instances, database, settings, workdir, kie) as (telegram, cluster):
        started = time.monotonic()
        for index, bot in enumerate(cluster.bots):
            bot.start()
            await cluster.wait_ready(index)
        finisher = Finisher(kie, rng)
        finisher.each_after_creation(*finish, callbacks=True)
        submitting = asyncio.create_task(submit_cards(telegram, user_ids, per_user, within=900))
        try:
            kill = await kill_busiest(telegram, cluster, database, user_ids, tasks)
            timeout = float(cluster.env.get("INSTANCE_TIMEOUT_SECONDS", "20"))
            watching = asyncio.create_task(
                watch_takeover(database, kill, timeout, within=max(60.0, 10 * timeout))
            )
            await asyncio.sleep(max(0.0, restart_after - (time.monotonic() - kill.at)))
            cluster.bots[kill.index].start()
            await cluster.wait_ready(kill.index)
            takeover = await watching
            await submitting
            final = await wait_settled(database, tasks, within=600)
            seconds = time.monotonic() - started
            await asyncio.sleep(3.0)  # room for a late duplicate to show, were there one
            codes = [await bot.stop() for bot in cluster.bots]
        finally:
            submitting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await submitting
            await finisher.stop()
        counts = videos_per_task(telegram, user_ids)
        numbers = range(1, tasks + 1)
        busiest, calls = telegram_busiest(telegram)
        submits = kie.submit_requests()
        links = Counter(t.video_url for t in kie.tasks.values())
        return ClusterFigures(
            tasks=tasks,
            users=len(user_ids),
            instances=instances,
            max_concurrent=max_concurrent,
            once=sum(1 for t in numbers if counts[t] == 1),
            twice=sum(1 for t in numbers if counts[t] >= 2),
            never=sum(1 for t in numbers if counts[t] == 0),
            duplicates=sorted(t for t in numbers if counts[t] >= 2),
            in_window=kill.in_window,
            held_at_kill=sum(kill.held.values()),
            states_at_kill=dict(kill.held),
            dead_after=takeover.dead_after,
            taken_after=takeover.by_state,
            submits=len(submits),
            accepted=len(kie.tasks),
            submitted_twice=sorted(link for link, n in links.items() if n > 1),
            busiest_10s=busiest_window([r.at for r in submits], KIE_RATE[1]),
            peak_generating=peak_generating(kie),
            telegram_busiest_second=busiest,
            telegram_calls=calls,
            states=dict(Counter(s for s, _ in final.values())),
            unknown=sorted(t for t, (s, _) in final.items() if s == "unknown"),
            unknown_never_sent=sorted(
                t for t, (s, link) in final.items() if s == "unknown" and link not in links
            ),
            forwarded=dict(cluster.relay.forwarded),
            skipped=dict(cluster.relay.skipped),
            lost=dict(cluster.relay.lost),
            relay_refused=cluster.relay.refused,
            callbacks_failed=finisher.callbacks_failed,
            seconds=seconds,
            unhandled=[line for bot in cluster.bots for line in bot.unhandled()],
            bug_reports=admin_bug_reports(telegram),
            exit_codes=codes,
            log="\n".join(bot.log_text() for bot in cluster.bots),
            ledger=None if granted is None else await audit_ledger(database, user_ids, granted),
        )


@dataclass(frozen=True)
class Kill:
    index: int
    instance_id: str
    at: float  # time.monotonic()
    tasks: dict[int, str]  # the unfinished tasks it held, and their states
    in_window: list[int]

    @property
    def held(self) -> Counter[str]:
        return Counter(self.tasks.values())


async def kill_busiest(
    telegram: FakeTelegram,
    cluster: Cluster,
    database: TestDatabase,
    users: Sequence[int],
    tasks: int,
) -> Kill:
    """SIGKILL, once half the tasks have a video, the instance holding the most unfinished
    tasks; what it held, read right after."""
    await telegram.wait_until(
        lambda: sum(videos_per_task(telegram, users).values()) >= tasks // 2,
        timeout=900,
        what=f"{tasks // 2} videos",
    )
    ids = instance_ids(database, cluster)
    holding = holdings(database)
    index = max(range(len(cluster.bots)), key=lambda i: holding[ids[i]])
    await cluster.bots[index].kill()
    at = time.monotonic()
    await asyncio.sleep(0.5)  # a sendVideo it had under way lands at the fake, or never
    videos = videos_per_task(telegram, users)
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT id, state FROM tasks WHERE lease_owner = ?", (ids[index],)
        ).fetchall()
    held = {int(t): str(state) for t, state in rows if state in ACTIVE_STATES}
    in_window = sorted(int(t) for t, state in rows if state != "delivered" and videos[int(t)])
    return Kill(index, ids[index], at, held, in_window)


def instance_ids(database: TestDatabase, cluster: Cluster) -> list[str]:
    """Each instance's id in the database (instances.id), by its process id."""
    with connect(database) as conn:
        by_pid = {int(pid): str(i) for i, pid in conn.execute("SELECT id, pid FROM instances")}
    return [by_pid[bot.process.pid] for bot in cluster.bots]


def holdings(database: TestDatabase) -> Counter[str]:
    """Instance id -> how many unfinished tasks it holds."""
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT lease_owner, COUNT(*) FROM tasks WHERE lease_owner IS NOT NULL AND state IN "
            "('queued', 'submitting', 'processing', 'succeeded', 'delivering') GROUP BY 1"
        ).fetchall()
    return Counter({str(owner): int(count) for owner, count in rows})


@dataclass(frozen=True)
class Takeover:
    dead_after: float  # the kill to the database judging the instance dead
    # The kill to the last of its tasks in each state (at the kill) being held by another
    # instance or ended. Queued ones are free once it is dead, but wait their turn in the queue.
    by_state: dict[str, float]


async def watch_takeover(
    database: TestDatabase, kill: Kill, instance_timeout: float, within: float
) -> Takeover:
    """Until every task the dead instance held has changed hands or ended."""
    waiting = dict(kill.tasks)  # task id -> its state at the kill
    by_state: dict[str, float] = {}
    dead_after: float | None = None
    while waiting or dead_after is None:
        elapsed = time.monotonic() - kill.at
        if elapsed > within:
            raise AssertionError(f"not taken over in {within:g} s: {sorted(waiting)}")
        with connect(database) as conn:
            rows = dict(
                conn.execute(
                    "SELECT id, lease_owner FROM tasks WHERE lease_owner = ? AND state IN "
                    "('queued', 'submitting', 'processing', 'succeeded', 'delivering')",
                    (kill.instance_id,),
                ).fetchall()
            )
            alive = conn.execute(
                "SELECT COUNT(*) FROM instances WHERE id = ? AND seen_at >= "
                "EXTRACT(EPOCH FROM clock_timestamp()) - ?",
                (kill.instance_id, instance_timeout),
            ).fetchone()
        if dead_after is None and alive is not None and int(alive[0]) == 0:
            dead_after = elapsed
        for task in [t for t in waiting if t not in rows]:
            state = waiting.pop(task)
            by_state[state] = max(by_state.get(state, 0.0), elapsed)
        await asyncio.sleep(0.1)
    return Takeover(dead_after, by_state)


def busiest_window(times: Sequence[float], window: float) -> int:
    """The most of `times` within any `window` seconds."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def telegram_busiest(telegram: FakeTelegram) -> tuple[int, int]:
    """The most calls to a chat (those Telegram's ~30/s counts) in any second, and all of them."""
    times = [call.at for call in telegram.calls if "chat_id" in call.params]
    return busiest_window(times, 1.0), len(times)


def peak_generating(kie: FakeKie) -> int:
    """The most tasks generating at the provider at once (from its tasks' own times)."""
    events: list[tuple[int, int]] = []
    for task in kie.tasks.values():
        events.append((task.create_time_ms, 1))
        if task.complete_time_ms is not None:
            events.append((task.complete_time_ms, -1))
    level = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


def report_cluster(f: ClusterFigures) -> None:
    print(
        f"Several instances: {f.instances} on one PostgreSQL behind a round-robin relay "
        f"(webhook mode), {f.tasks} tasks from {f.users} users, MAX_CONCURRENT_TASKS "
        f"{f.max_concurrent}; SIGKILL to the busiest after half the videos, started again later"
    )
    print(f"  held by the killed instance: {f.held_at_kill} {f.states_at_kill}")
    taken = ", ".join(f"{state} {s:.1f} s" for state, s in sorted(f.taken_after.items()))
    print(
        f"  judged dead {f.dead_after:.1f} s after the kill; the last of its tasks in other "
        f"hands (or ended), by state at the kill: {taken}"
    )
    print(f"  delivered once: {f.once}   twice or more: {f.twice}   never: {f.never}")
    print(
        f"  in the window at the kill (its video at Telegram, row not 'delivered'): "
        f"{len(f.in_window)} {f.in_window or ''}; duplicates {f.duplicates or 'none'}, "
        f"unexplained {f.unexplained_duplicates or 'none'}"
    )
    print(
        f"  provider: {f.submits} submits, {f.accepted} accepted, links accepted twice: "
        f"{len(f.submitted_twice)}; most submits in any 10 s: {f.busiest_10s} (KIE allows "
        f"{KIE_RATE[0]}); most generating at once: {f.peak_generating} (cap {f.max_concurrent})"
    )
    print(
        f"  Telegram: {f.telegram_calls} calls to chats, most in any second: "
        f"{f.telegram_busiest_second} (Telegram allows about {TELEGRAM_RATE})"
    )
    print(
        f"  relay: answered by instance {f.forwarded}, refused {f.skipped}, died with the "
        f"request {f.lost}, 502 {f.relay_refused}; callbacks not answered 200: "
        f"{f.callbacks_failed}"
    )
    print(
        f"  'outcome unknown': {f.unknown or 'none'}; of which the provider never received the "
        f"request: {f.unknown_never_sent or 'none'}"
    )
    print(f"  final states: {f.states}; {f.seconds:.1f} s in all; exit codes {f.exit_codes}")
    print(
        f"  unhandled exceptions in the logs: {len(f.unhandled)}; admin bug reports: "
        f"{len(f.bug_reports)}"
    )
    for line in f.unhandled[:10]:
        print(f"    {line}")
    report_ledger(f.ledger)
