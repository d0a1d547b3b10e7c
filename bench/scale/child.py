"""The bot's process of the tracking bench (`python -m bench.tracking --child`): the real bot
(BotApp) run with the settings read from stdin, a timer on every TaskRepository call and tracker
round, its memory sampled, the sends it starts noted; "READY {...}" on stdout once it runs,
"STATS {...}" once told to stop."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.request import HTTPXRequest

from bench.scale.figures import CHAT_METHODS
from bench.scale.measures import (
    cpu_seconds,
    current_rss_kb,
    inherited_max_rss_kb,
    max_rss_kb,
    summary,
)
from bot.app import BotApp
from bot.config import load_settings
from bot.services.tasks.tracker import Tracker
from storage.tasks import TaskRepository

READY = "READY "
STATS = "STATS "


@dataclass
class DbTimer:
    """Wall time of every TaskRepository call; per tracker round for the tracker's own."""

    measuring: bool = False
    in_round: float = 0.0
    round_started: float = 0.0
    rounds_db: list[float] = field(default_factory=list)
    rounds_busy: list[float] = field(default_factory=list)  # round start -> next_wake_at done
    picked: list[int] = field(default_factory=list)  # tasks due() returned, per round
    tracker_calls: dict[str, list[float]] = field(default_factory=dict)  # name -> [n, seconds]
    other_calls: dict[str, list[float]] = field(default_factory=dict)

    def record(self, name: str, seconds: float, result: object) -> None:
        if not self.measuring:
            return
        task = asyncio.current_task()
        in_tracker = task is not None and task.get_name() == "tracker"
        calls = self.tracker_calls if in_tracker else self.other_calls
        entry = calls.setdefault(name, [0.0, 0.0])
        entry[0] += 1
        entry[1] += seconds
        if in_tracker:
            self.in_round += seconds
            if name == "due" and isinstance(result, list):
                self.picked.append(len(result))
            if name == "next_wake_at":
                self.rounds_busy.append(time.perf_counter() - self.round_started)

    def install(self) -> None:
        for name, method in list(vars(TaskRepository).items()):
            if not name.startswith("_") and asyncio.iscoroutinefunction(method):
                setattr(TaskRepository, name, self._timed(name, method))
        run_round = Tracker._round

        async def timed_round(tracker: Tracker) -> None:
            self.in_round = 0.0
            self.round_started = time.perf_counter()
            await run_round(tracker)
            if self.measuring:
                self.rounds_db.append(self.in_round)

        Tracker._round = timed_round  # type: ignore[method-assign, assignment]

    def _timed(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = None
            try:
                result = await method(*args, **kwargs)
                return result
            finally:
                self.record(name, time.perf_counter() - started, result)

        return timed


@dataclass
class MemoryWatch:
    """Samples the resident set every 0.1 s (and with tracemalloc the traced Python heap);
    notes each rise of the peak (VmHWM) of more than RISE_KB, with what the process was doing
    then: a spike between two samples still shows up as a rise of the peak."""

    traced: bool
    rss_max_kb: int = 0
    files_max: int = 0  # open file descriptors
    traced_best: int = 0
    snapshot: tracemalloc.Snapshot | None = None
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # s, MB, asyncio tasks
    # s, peak MB, resident MB, asyncio tasks, open files: each time the peak rose
    rises: list[tuple[float, int, int, int, int]] = field(default_factory=list)

    RISE_KB = 8 * 1024

    async def run(self) -> None:
        started = time.perf_counter()
        peak_kb = max_rss_kb()
        while True:
            rss_kb = current_rss_kb()
            files = len(os.listdir("/proc/self/fd"))
            self.rss_max_kb = max(self.rss_max_kb, rss_kb)
            self.files_max = max(self.files_max, files)
            elapsed = time.perf_counter() - started
            alive = len(asyncio.all_tasks())
            if elapsed >= len(self.timeline) * 10:
                self.timeline.append((elapsed, rss_kb // 1024, alive))
            now_peak_kb = max_rss_kb()
            if now_peak_kb - peak_kb > self.RISE_KB:
                self.rises.append((elapsed, now_peak_kb // 1024, rss_kb // 1024, alive, files))
                peak_kb = now_peak_kb
            if self.traced:
                now, _ = tracemalloc.get_traced_memory()
                if now > self.traced_best * 1.1:  # keep a picture of the heap near its peak
                    self.traced_best = now
                    self.snapshot = tracemalloc.take_snapshot()
            await asyncio.sleep(0.1)

    def top(self, count: int = 8) -> list[str]:
        if self.snapshot is None:
            return []
        lines = []
        for group in ("filename", "lineno"):
            for stat in self.snapshot.statistics(group)[:count]:
                frame = stat.traceback[0]
                where = frame.filename.split("site-packages/")[-1].split("python3.11/")[-1]
                where += f":{frame.lineno}" if group == "lineno" else ""
                lines.append(f"{stat.size / 1e6:7.1f} MB {stat.count:8d} blocks  {where}")
        return lines


def record_sends(times: list[float]) -> None:
    """Note when the bot starts each Bot API request that names a chat (after its limiter)."""
    do_request = HTTPXRequest.do_request

    async def timed(self: HTTPXRequest, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if url.rsplit("/", 1)[-1] in CHAT_METHODS:
            times.append(time.monotonic())
        return await do_request(self, url, *args, **kwargs)

    HTTPXRequest.do_request = timed  # type: ignore[method-assign]


async def child_main() -> None:
    """Run the bot with the settings read from stdin; report on stdout when told to stop."""
    config = json.loads(sys.stdin.readline())
    logging.basicConfig(level=logging.WARNING, format="bot: %(levelname)s %(name)s: %(message)s")
    timer = DbTimer()
    timer.install()
    sends: list[float] = []
    record_sends(sends)
    app = BotApp(load_settings(_env_file=None, **config["settings"]))
    await app.start()
    loop = asyncio.get_running_loop()
    ready = {"pid": os.getpid(), "rss_kb": current_rss_kb(), "max_rss_kb": max_rss_kb()}
    if config["tracemalloc"]:
        tracemalloc.start()
    watch = MemoryWatch(traced=bool(config["tracemalloc"]))
    watcher = asyncio.create_task(watch.run())
    timer.measuring = True
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    print(READY + json.dumps(ready), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop", or the end of the pipe
    timer.measuring = False
    wall = time.perf_counter() - wall0
    stats = tracking_stats(timer, watch, sends, wall, cpu_seconds() - cpu0)
    if config["tracemalloc"]:
        _, peak = tracemalloc.get_traced_memory()
        stats["traced_peak_bytes"] = peak
        stats["traced_top"] = watch.top()
        tracemalloc.stop()
    watcher.cancel()
    stats["max_rss_tracking_kb"] = max_rss_kb()
    await app.stop()
    stats["max_rss_kb"] = max_rss_kb()
    stats["ru_maxrss_kb"] = inherited_max_rss_kb()
    print(STATS + json.dumps(stats), flush=True)


def tracking_stats(
    timer: DbTimer, watch: MemoryWatch, sends: list[float], wall: float, cpu: float
) -> dict[str, Any]:
    """What the tracking phase measured (`wall` and `cpu` seconds long)."""
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "rss_end_kb": current_rss_kb(),
        "rss_sampled_max_kb": watch.rss_max_kb,
        "files_max": watch.files_max,
        "timeline": watch.timeline,
        "rises": watch.rises,
        "rounds": len(timer.rounds_db),
        "round_db": summary(timer.rounds_db),
        "round_busy": summary(timer.rounds_busy),
        "picked": summary([float(n) for n in timer.picked]),
        "tracker_calls": timer.tracker_calls,
        "other_calls": timer.other_calls,
        "sends": sends,
    }
