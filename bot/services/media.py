"""MediaStore: uploaded videos (and first-frame images) on disk, served to the provider until a
while after the task ends.

A file's name is its token: 192 random bits and the file's extension, so its URL cannot be
guessed and still looks like a video (or an image) to a provider. Files are deleted, and their
URLs answer 404, an hour (MEDIA_KEEP_SECONDS) after their task ends, or a day after an upload
that never became a task. The folder has a size cap; expired files go first to make room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.media import MediaRepository

log = logging.getLogger(__name__)

UNSUBMITTED_KEEP_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}\.(mp4|mov|avi|webm|mkv|jpg|png|webp)$")
_VIDEO_EXTENSIONS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-msvideo": "avi",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
}
# First-frame images: their type is known from their first bytes, never from their name alone.
IMAGE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass(frozen=True, slots=True)
class Slot:
    """Room reserved for one upload: download it to `path`, at most `size` bytes."""

    token: str
    path: Path
    size: int


class MediaStore:
    def __init__(
        self,
        repo: MediaRepository,
        folder: Path,
        *,
        max_total_bytes: int,
        keep_after_task: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._folder = folder
        self._max_total = max_total_bytes
        self._keep_after_task = keep_after_task
        self._clock = clock
        self._reserved: dict[str, int] = {}  # downloads under way: counted against the cap
        self._lock = asyncio.Lock()

    async def reserve(self, size: int, mime_type: str | None, file_name: str | None) -> Slot | None:
        """Room for a file of `size` bytes, or None when the folder is full even after a sweep."""
        await self.sweep()
        async with self._lock:
            in_use = await self._repo.total_size() + sum(self._reserved.values())
            if in_use + size > self._max_total:
                return None
            token = f"{secrets.token_urlsafe(24)}.{_extension(mime_type, file_name)}"
            self._reserved[token] = size
        self._folder.mkdir(parents=True, exist_ok=True)
        return Slot(token, self._folder / token, size)

    async def keep(self, slot: Slot, user_id: int, size: int) -> None:
        """The file is downloaded and checked: record it (kept a day unless a task uses it)."""
        now = self._clock()
        await self._repo.add(slot.token, user_id, size, now, now + UNSUBMITTED_KEEP_SECONDS)
        self._reserved.pop(slot.token, None)

    def retype(self, slot: Slot, mime_type: str) -> Slot:
        """The downloaded file turned out to be `mime_type` (an image's first bytes said so):
        the same room under the name that type's extension gives (before it is kept)."""
        token = f"{Path(slot.token).stem}.{_extension(mime_type, None)}"
        if token == slot.token:
            return slot
        path = slot.path.replace(self._folder / token)
        self._reserved[token] = self._reserved.pop(slot.token, slot.size)
        return Slot(token, path, slot.size)

    def discard(self, slot: Slot) -> None:
        slot.path.unlink(missing_ok=True)
        self._reserved.pop(slot.token, None)

    async def path_of(self, token: str) -> Path | None:
        """The file behind a media URL, while it may be served."""
        if not _TOKEN.match(token) or not await self._repo.live(token, self._clock()):
            return None
        path = self._folder / token
        return path if path.is_file() else None

    def local_path(self, token: str) -> Path:
        return self._folder / token

    async def release(self, token: str | None) -> None:
        if token:
            await self._repo.release(token, self._clock() + self._keep_after_task)

    async def reuse(self, token: str) -> bool:
        """A new card uses an upload again (a follow-up of its task): keep it as long as a new
        upload is kept unsubmitted. False when it is gone."""
        now = self._clock()
        return await self._repo.keep_until_at_least(token, now + UNSUBMITTED_KEEP_SECONDS, now)

    async def drop(self, token: str | None) -> None:
        """An upload whose card was replaced or cancelled: gone at the next sweep (unless a
        task holds it)."""
        if token:
            await self._repo.expire_unheld(token, self._clock())

    async def sweep(self) -> None:
        """Delete expired files, and files no row knows (a download a crash cut off)."""
        for token in await self._repo.expired(self._clock()):
            (self._folder / token).unlink(missing_ok=True)
            await self._repo.remove(token)
        if not self._folder.is_dir():
            return
        known = await self._repo.known()
        cutoff = self._clock() - 3600
        for path in self._folder.iterdir():
            with contextlib.suppress(OSError):
                if path.name not in known and path.stat().st_mtime < cutoff:
                    path.unlink()
                    log.info("Removed the stray upload %s", path.name)


def _extension(mime_type: str | None, file_name: str | None) -> str:
    if mime_type in _VIDEO_EXTENSIONS:
        return _VIDEO_EXTENSIONS[mime_type]
    if mime_type in IMAGE_EXTENSIONS:
        return IMAGE_EXTENSIONS[mime_type]
    suffix = Path(file_name or "").suffix.lower().lstrip(".")
    return suffix if suffix in _VIDEO_EXTENSIONS.values() else "mp4"
