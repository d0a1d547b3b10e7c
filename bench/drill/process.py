"""`python -m bot` as a real process for the drills, and what its log says."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

# Log lines that mean an exception nobody handled (the error handler, the tracker's last resort).
UNHANDLED = ("Traceback", "Unhandled", "Unexpected error", "unexpectedly")
LIMITER_GAVE_UP = "AIORateLimiter: Rate limit hit after maximum of"
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def base_environment() -> dict[str, str]:
    """A clean environment: nothing of the developer's own settings leaks in."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


class BotProcess:
    """`python -m bot` in `workdir`, started (and started again) with the same settings."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.runs: list[tuple[subprocess.Popen[bytes], IO[bytes], Path]] = []

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.runs[-1][0]

    def start(self) -> None:
        path = self.workdir / f"bot-{len(self.runs)}.log"
        log = path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=self.workdir, env=self.env, stdout=log, stderr=log
        )
        self.runs.append((process, log, path))

    async def wait_exit(self, within: float = 30.0) -> int:
        deadline = time.monotonic() + within
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError("the bot process did not exit")
            await asyncio.sleep(0.02)
        return code

    async def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        self.process.send_signal(signal.SIGKILL)
        await self.wait_exit()

    async def stop(self) -> int:
        """SIGTERM, as `docker stop` does; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit(within=60.0)

    def close(self) -> None:
        for process, log, _ in self.runs:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            log.close()

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for _, _, path in self.runs)

    def records(self) -> list[str]:
        """The log's records: a line with a time stamp, and any traceback lines under it."""
        records: list[str] = []
        for line in self.log_text().splitlines():
            if LOG_RECORD.match(line) or not records:
                records.append(line)
            else:
                records[-1] += "\n" + line
        return records

    def unhandled(self) -> list[str]:
        """Log records that show an exception nobody handled (first two lines of each).

        python-telegram-bot's rate limiter logs a traceback of its own when it gives up after
        its retries; it then raises RetryAfter to the bot, which handles it, or not: an error
        the bot does not handle shows up as a record of its own ("Unhandled error ...").
        """
        return [
            "\n".join(record.splitlines()[:2])
            for record in self.records()
            if any(marker in record for marker in UNHANDLED) and LIMITER_GAVE_UP not in record
        ]

    def limiter_gave_up(self) -> int:
        """How often python-telegram-bot's rate limiter gave up after its retries."""
        return sum(1 for record in self.records() if LIMITER_GAVE_UP in record)
