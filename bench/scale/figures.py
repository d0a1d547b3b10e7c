"""The tracking bench's figures, taken from what the fakes saw: deliveries and their latency
next to the wait Telegram's limit alone imposes, send rates, and status requests per task."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.scale.load import Job
from bench.scale.options import Options
from bot.app import (
    SEND_CATCH_UP_SECONDS,
    TELEGRAM_SENDS_IN_ANY_SECOND,
    TELEGRAM_SENDS_PER_SECOND,
)
from tests.fakes.kie import STATUS_PATH, FakeKie
from tests.fakes.telegram import FakeTelegram

TELEGRAM_RATE = 30.0  # messages a second Telegram allows
# How the bot paces its sends (bot/app.py, bot/net/pacing.py): TELEGRAM_SENDS_PER_SECOND on a
# schedule, a send that went late made up for within SEND_CATCH_UP_SECONDS.
SEND_RATE = float(TELEGRAM_SENDS_PER_SECOND)
CATCH_UP = SEND_CATCH_UP_SECONDS
WINDOW_COUNT = TELEGRAM_SENDS_IN_ANY_SECOND
BEST_EFFORT = "sendChatAction"  # never waits for a turn (bot/sends.py)
# Bot API methods that count towards Telegram's per-second limit (those naming a chat).
CHAT_METHODS = frozenset(
    {
        "sendMessage",
        "sendVideo",
        "sendDocument",
        "sendChatAction",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
    }
)


@dataclass(frozen=True)
class Tracked:
    """The tracking phase as the run saw it: the children's reports (one per bot instance),
    this process's CPU time."""

    children_ready: list[dict[str, Any]]  # each child's READY report
    children: list[dict[str, Any]]  # each one's STATS report
    ready_at: float  # time.monotonic() when the last child said it was ready
    parent_cpu: float  # this process's CPU seconds from then until the last delivery
    server_cpu: float = 0.0  # the PostgreSQL server's CPU seconds meanwhile (0: SQLite)
    others: float = 0.0  # CPUs the machine's other processes kept busy meanwhile (noise)


@dataclass
class Figures:
    mode: str
    tasks: int
    ready_at: float
    children_ready: list[dict[str, Any]]  # one per bot instance
    children: list[dict[str, Any]]
    parent_cpu: float
    server_cpu: float
    others: float
    delivered: int
    duplicates: int
    latencies: list[float]  # s, per task
    imposed: list[float]  # s, per task: what Telegram's limit alone would make it wait
    status_per_task: list[int]
    bounds: list[float]  # polling target per task
    poll_gaps: list[float]
    early_check_rate: float  # status requests a second while every task was still running
    max_rate_calendar: int
    max_rate_sliding: int
    window_counts: list[int]  # arrivals at the fake in the 1 s from each arrival on
    gaps: list[tuple[float, float]]  # the longest gaps between paced sends: (s, at s since ready)
    bot_rates: tuple[int, int]  # the same, by when the bot started the requests
    send_span: tuple[int, float]  # calls to chats at the fake, and first -> last of them (s)
    chat_calls: dict[str, int]
    seconds: float


@dataclass
class ChatSends:
    """The calls that count towards Telegram's limit, since the bot was ready."""

    first_video: dict[int, float] = field(default_factory=dict)  # chat -> its first sendVideo
    videos: dict[int, int] = field(default_factory=dict)  # chat -> sendVideo calls
    times: list[float] = field(default_factory=list)
    paced: list[float] = field(default_factory=list)  # the calls that wait for a turn
    calls: dict[str, int] = field(default_factory=dict)  # by method


def chat_sends(telegram: FakeTelegram, since: float) -> ChatSends:
    sends = ChatSends()
    for call in telegram.calls:
        if call.at < since or call.method not in CHAT_METHODS:
            continue
        sends.times.append(call.at)
        if call.method != BEST_EFFORT:
            sends.paced.append(call.at)
        sends.calls[call.method] = sends.calls.get(call.method, 0) + 1
        if call.method == "sendVideo":
            chat = int(call.params["chat_id"])
            sends.videos[chat] = sends.videos.get(chat, 0) + 1
            sends.first_video.setdefault(chat, call.at)
    return sends


def status_requests(kie: FakeKie) -> dict[str, list[float]]:
    """When the fake was asked for each job's status, by job id."""
    polls: dict[str, list[float]] = {}
    for request in kie.requests:
        if request.path == STATUS_PATH:
            polls.setdefault(request.query.get("taskId", ""), []).append(request.at)
    return polls


def take_figures(
    mode: str,
    options: Options,
    jobs: list[Job],
    fakes: tuple[FakeTelegram, FakeKie],
    tracked: Tracked,
    seconds: float,
) -> Figures:
    """The figures of one run (`seconds` long, the child's start included)."""
    ready_at = tracked.ready_at
    sends = chat_sends(fakes[0], ready_at)
    delivered = [j for j in jobs if j.user in sends.first_video]
    polls = status_requests(fakes[1])
    window = max(1.0, options.finish[0] - 1.0)
    early = sum(1 for times in polls.values() for at in times if at - ready_at < window)
    calendar, sliding = max_rates(sends.times, ready_at)
    return Figures(
        mode=mode,
        tasks=len(jobs),
        ready_at=ready_at,
        children_ready=tracked.children_ready,
        children=tracked.children,
        parent_cpu=tracked.parent_cpu,
        server_cpu=tracked.server_cpu,
        others=tracked.others,
        delivered=len(delivered),
        duplicates=sum(n - 1 for n in sends.videos.values()),
        latencies=[sends.first_video[j.user] - j.done_at for j in delivered],
        imposed=telegram_wait([j.done_at for j in delivered], options.calls_per_task),
        status_per_task=[len(polls.get(j.provider_id, [])) for j in jobs],
        bounds=[(j.done_at - ready_at) / options.poll + 1 for j in jobs],
        poll_gaps=[b - a for times in polls.values() for a, b in itertools.pairwise(times)],
        early_check_rate=early / window,
        max_rate_calendar=calendar,
        max_rate_sliding=sliding,
        window_counts=window_counts(sends.times),
        gaps=longest_gaps(sends.paced, ready_at),
        bot_rates=max_rates(
            [t for child in tracked.children for t in child["sends"] if t >= ready_at], ready_at
        ),
        chat_calls=sends.calls,
        send_span=(len(sends.times), max(sends.times, default=0) - min(sends.times, default=0)),
        seconds=seconds,
    )


def telegram_wait(arrivals: Sequence[float], calls_per_task: int) -> list[float]:
    """Per task (in the order given), how long Telegram's limit alone makes its video (its first
    call) wait: the bot's pacing (bot.net.pacing.SendPacer) with every send taking no time, tasks
    served first come first served, each taking `calls_per_task` turns the moment it finishes:
    SEND_RATE sends a second on a schedule, up to CATCH_UP seconds ahead of it after a quiet
    spell, and never more than WINDOW_COUNT in any second."""
    interval = 1.0 / SEND_RATE
    order = sorted(range(len(arrivals)), key=lambda i: arrivals[i])
    waits = [0.0] * len(arrivals)
    due = float("-inf")  # when the next send is due by the schedule
    sent: deque[float] = deque(maxlen=WINDOW_COUNT)  # the latest sends
    for i in order:
        for call in range(calls_per_task):
            at = max(arrivals[i], due - CATCH_UP)
            if len(sent) == WINDOW_COUNT:
                at = max(at, sent[0] + 1.0)
            due = max(due, at) + interval
            sent.append(at)
            if call == 0:
                waits[i] = at - arrivals[i]
    return waits


def longest_gaps(
    times: Sequence[float], origin: float, count: int = 5
) -> list[tuple[float, float]]:
    """The `count` longest gaps between consecutive calls: (gap, its start since `origin`).
    While results wait, a gap much over 1 / SEND_RATE is time the bot did not send."""
    ordered = sorted(times)
    gaps = [(b - a, a - origin) for a, b in itertools.pairwise(ordered)]
    return sorted(gaps, reverse=True)[:count]


def window_counts(times: Sequence[float]) -> list[int]:
    """For each call, how many calls (itself included) came within 1 s from it on: the
    fullest of all 1 s windows is among them."""
    ordered = sorted(times)
    counts, end = [], 0
    for start, at in enumerate(ordered):
        while end < len(ordered) and ordered[end] - at < 1.0:
            end += 1
        counts.append(end - start)
    return counts


def max_rates(times: Sequence[float], origin: float) -> tuple[int, int]:
    """The most calls in one second: by whole seconds since `origin`, and in any 1 s window."""
    per_second: dict[int, int] = {}
    for at in times:
        second = int(at - origin)
        per_second[second] = per_second.get(second, 0) + 1
    ordered = sorted(times)
    sliding, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= 1.0:
            start += 1
        sliding = max(sliding, end - start + 1)
    return max(per_second.values(), default=0), sliding
