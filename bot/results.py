"""Fetching a finished task's video into a file: from the provider's URL, or (the sandbox) from a
file on this machine, but only from under the folder the provider declared for its results."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from bot.netguard import BlockedLinkError, GuardedClient

log = logging.getLogger(__name__)

CHUNK = 1 << 16


class Fetched(Enum):
    OK = auto()
    TOO_BIG = auto()  # larger than the limit: nothing (or only part) was written
    GONE = auto()  # the result no longer exists, or its URL cannot be fetched at all
    RETRY = auto()  # a passing problem


@dataclass(frozen=True, slots=True)
class Download:
    outcome: Fetched
    size: int | None = None  # bytes written (OK) or declared (TOO_BIG), when known


class ResultFetcher:
    def __init__(self, client: GuardedClient, local_root: Path | None = None) -> None:
        self._client = client
        self._local_root = local_root.resolve() if local_root else None

    async def fetch(self, url: str, target: Path, limit: int) -> Download:
        """Write the result at `url` to `target`; stop as soon as it is known to pass `limit`."""
        if url.startswith("file:"):
            return self._copy_local(url, target, limit)
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
                received = 0
                with target.open("wb") as file:
                    async for chunk in response.aiter_bytes(CHUNK):
                        received += len(chunk)
                        if received > limit:
                            return Download(Fetched.TOO_BIG, declared)
                        file.write(chunk)
                return Download(Fetched.OK, received)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, BlockedLinkError) as exc:
            log.warning("The result URL %s cannot be fetched: %s", url, exc)
            return Download(Fetched.GONE)
        except httpx.HTTPError as exc:
            log.warning("Downloading the result %s failed: %s", url, exc)
            return Download(Fetched.RETRY)
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
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None
