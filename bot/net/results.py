"""Fetching a finished task's video into a file: from the provider's URL, or (the sandbox) from a
file on this machine, but only from under the folder the provider declared for its results.

A download has a deadline, and a least rate it must keep over each window of RATE_WINDOW
seconds: httpx's time-outs are per read, so a result trickled a byte at a time held a delivery
slot for as long as the server liked. Past either, the fetch ends TOO_SLOW (delivery then sends
the link, as for a result too big to upload).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from bot.domain.numbers import SIZE_MAX, ascii_int
from bot.net.downloads import TooBigError, save_body
from bot.net.netguard import BlockedLinkError, GuardedClient

log = logging.getLogger(__name__)

RATE_WINDOW = 10.0  # seconds over which a download's rate is measured


class Fetched(Enum):
    OK = auto()
    TOO_BIG = auto()  # larger than the limit: nothing (or only part) was written
    TOO_SLOW = auto()  # past the deadline, slower than the least rate, or cut off after a long
    # while (trying again could hold the slot as long again): only part was written
    GONE = auto()  # the result no longer exists, or its URL cannot be fetched at all
    RETRY = auto()  # a passing problem


@dataclass(frozen=True, slots=True)
class Download:
    outcome: Fetched
    size: int | None = None  # bytes written (OK) or declared (TOO_BIG), when known


class _Pace:
    """Keeps a download's timer at the earlier of its deadline and the end of the current rate
    window. A window that has brought its bytes ends at once and the next one starts, so the
    timer fires when the deadline passes, or when a window passes short of its bytes (even if
    nothing arrives at all)."""

    def __init__(self, timeout: float, min_rate_kbps: float, window: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._min_rate_kbps = min_rate_kbps
        self._window = window
        self._started = self._loop.time()
        self._deadline = self._started + timeout
        self._quota = min_rate_kbps * 1024 * window  # bytes each window must bring; 0: no check
        self._brought = 0
        self.timer = asyncio.timeout_at(self._window_end())

    def _window_end(self) -> float:
        if not self._quota:
            return self._deadline
        return min(self._loop.time() + self._window, self._deadline)

    def arrived(self, count: int) -> None:
        self._brought += count
        if self._quota and self._brought >= self._quota:
            self._brought = 0
            self.timer.reschedule(self._window_end())

    def long_under_way(self) -> bool:
        """Whether the download has gone on for a rate window or more: a failure then is not
        tried again (each try could hold the slot to the deadline), the link is sent."""
        return self._loop.time() - self._started >= self._window

    def why(self) -> str:
        """Why the timer fired, for the log."""
        if self._loop.time() >= self._deadline:
            return f"not done in {self._timeout:g} s (RESULT_DOWNLOAD_TIMEOUT_SECONDS)"
        return f"under {self._min_rate_kbps:g} KB/s over {self._window:g} s (RESULT_MIN_RATE_KBPS)"


class ResultFetcher:
    def __init__(
        self,
        client: GuardedClient,
        local_root: Path | None = None,
        *,
        timeout: float = 300.0,
        min_rate_kbps: float = 32.0,
        rate_window: float = RATE_WINDOW,
    ) -> None:
        """`timeout`: the longest a download may take; `min_rate_kbps` (0: none): the least
        rate it must keep over each `rate_window` seconds."""
        self._client = client
        self._local_root = local_root.resolve() if local_root else None
        self._timeout = timeout
        self._min_rate_kbps = min_rate_kbps
        self._rate_window = rate_window

    async def fetch(self, url: str, target: Path, limit: int) -> Download:
        """Write the result at `url` to `target`; stop as soon as it is known to pass `limit`,
        or to be too slow."""
        if url.startswith("file:"):
            return self._copy_local(url, target, limit)
        pace = _Pace(self._timeout, self._min_rate_kbps, self._rate_window)
        try:
            async with pace.timer:
                return await self._download(url, target, limit, pace)
        except TimeoutError:
            log.warning("Gave up downloading the result %s: %s", url, pace.why())
            return Download(Fetched.TOO_SLOW)

    async def _download(self, url: str, target: Path, limit: int, pace: _Pace) -> Download:
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code in (404, 410):
                    log.warning("Result %s answered HTTP %d", url, response.status_code)
                    return Download(Fetched.GONE)
                if not response.is_success:
                    log.warning("Result %s answered HTTP %d", url, response.status_code)
                    return Download(Fetched.RETRY)
                declared = _content_length(response)
                if declared is not None and declared > limit:
                    return Download(Fetched.TOO_BIG, declared)
                try:
                    received = await save_body(response, target, limit, pace.arrived)
                except TooBigError:
                    return Download(Fetched.TOO_BIG, declared)
                return Download(Fetched.OK, received)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, BlockedLinkError) as exc:
            log.warning("The result URL %s cannot be fetched: %s", url, exc)
            return Download(Fetched.GONE)
        except httpx.HTTPError as exc:
            log.warning("Downloading the result %s failed: %s", url, exc)
            return Download(Fetched.TOO_SLOW if pace.long_under_way() else Fetched.RETRY)
        except OSError as exc:  # the disk, not the network: full, or not writable
            log.error("Cannot write the result to %s: %s", target, exc)
            return Download(Fetched.RETRY)

    def _copy_local(self, url: str, target: Path, limit: int) -> Download:
        path = Path(unquote(urlsplit(url).path)).resolve()
        if self._local_root is None or not path.is_relative_to(self._local_root):
            log.warning("Refused a result file outside the provider's folder: %s", url)
            return Download(Fetched.GONE)
        try:
            size = path.stat().st_size
            if size > limit:
                return Download(Fetched.TOO_BIG, size)
            shutil.copyfile(path, target)
        except FileNotFoundError:
            return Download(Fetched.GONE)
        except OSError as exc:
            log.warning("Copying the result %s failed: %s", path, exc)
            return Download(Fetched.RETRY)
        return Download(Fetched.OK, size)


def _content_length(response: httpx.Response) -> int | None:
    return ascii_int(response.headers.get("content-length", ""), high=SIZE_MAX)
