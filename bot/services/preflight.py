"""Checking a video before any credit is spent: reachable, a video, within size and length.

For a link: a HEAD request (or, where HEAD is refused, a GET of the first bytes), following a
few redirects through bot.net.netguard, so only public addresses are asked. The first megabytes are
read when the container's header can say the length cheaply; nothing more is downloaded. For an
upload, the file is on disk and is read directly. Each refusal is one sentence for the user.
When the server will not say (no HEAD, no ranges, a time-out), the card goes ahead with a note.

FFmpeg reads a header in threads of the preflight's own, never on the event loop: a few MB of
crafted 8K video take it a good part of a second (it decodes frames to learn the streams), and
on the loop that stalled every chat. It reads a bounded number of bytes, and is waited for at
most HEADER_READ_SECONDS; past that, the video counts as not checked.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from bot import texts
from bot.domain.capabilities import Capabilities
from bot.domain.numbers import SIZE_MAX, ascii_int
from bot.net.netguard import BlockedLinkError, GuardedClient
from bot.net.user_threads import PerUserPool, UserBusyError

if TYPE_CHECKING:
    from av.container import InputContainer

log = logging.getLogger(__name__)

PROBE_BYTES = 2 * 1024 * 1024  # of a link: only its first bytes are downloaded
FILE_PROBE_BYTES = 2 * PROBE_BYTES  # of an upload, read from anywhere (an MP4's index may be last)
HEADER_READ_SECONDS = 2.0
# FFmpeg's own bounds while it looks for the streams (defaults: 5 MB, 5 s of media, 20 frames).
_PROBE_OPTIONS = {
    "probesize": str(PROBE_BYTES),
    "analyzeduration": "2000000",
    "fpsprobesize": "1",
    "max_streams": "8",  # a phone's video has 2 to 5 (video, sound, metadata, timecode)
}
# The decoders' own: no picture over 720p is decoded while the streams are looked for. The header
# says what the check needs (container, length, a video stream) without a decoded frame; one
# 8192x8192 frame costs ~1 s and 250 MB, and 2 MB of them held a thread 9 s and 1.5 GB.
_DECODE_OPTIONS = {"max_pixels": str(1280 * 720)}
# Process-wide, like asyncio's default pool: a header read is bounded in bytes, so it ends soon
# even when no one waits for it any more, and the threads idle between checks.
_HEADER_READERS = PerUserPool(2, "video-header")
_HEAD_REFUSED = frozenset({400, 403, 405, 501})  # servers that answer GET but not HEAD
_FORMAT_BY_TYPE = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-msvideo": "avi",
    "video/avi": "avi",
    "video/msvideo": "avi",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "video/mpeg": "mpeg",
    "video/3gpp": "3gp",
}
_FORMAT_BY_EXTENSION = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".qt": "mov", ".avi": "avi",
    ".webm": "webm", ".mkv": "mkv", ".mpg": "mpeg", ".mpeg": "mpeg", ".3gp": "3gp",
}  # fmt: skip
# Types that are certainly not a video file: refused from the headers alone. Anything else
# that is not video/* (application/octet-stream, application/mp4, force-download, ...) is
# judged by its first bytes.
_NOT_VIDEO_PREFIXES = ("text/", "image/", "audio/", "font/", "multipart/")
_NOT_VIDEO_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/xhtml+xml",
        "application/pdf",
        "application/zip",
        "application/javascript",
        "application/vnd.apple.mpegurl",
        "application/x-mpegurl",
        "application/dash+xml",
    }
)
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?["']?([^"';]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    problem: str | None = None  # refuse: this sentence says why
    note: str | None = None  # go ahead, but tell the user this


@dataclass(frozen=True, slots=True)
class _Header:
    """What the first bytes (or the whole file) of a video say about it."""

    formats: frozenset[str]  # FFmpeg's names for the container, e.g. {"mov", "mp4", ...}
    duration: float | None
    has_video: bool


class Preflight:
    def __init__(
        self, client: GuardedClient, capabilities: Capabilities, *, timeout: float = 8.0
    ) -> None:
        self._client = client
        self._capabilities = capabilities
        self._timeout = timeout

    async def check_link(self, url: str) -> Verdict:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._check_link(url)
        except BlockedLinkError as exc:
            return Verdict(problem=texts.link_blocked(exc.reason, exc.host, exc.max_redirects))
        except (TimeoutError, UserBusyError):  # busy: the user's previous link is still slow
            return Verdict(note=texts.preflight_unchecked())
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            log.info("Preflight: %s not reachable: %s", url, exc)
            return Verdict(problem=texts.link_unreachable(urlsplit(url).hostname or url))
        except httpx.HTTPError as exc:
            log.info("Preflight of %s could not decide: %s", url, exc)
            return Verdict(note=texts.preflight_unchecked())

    async def _check_link(self, url: str) -> Verdict:
        path = urlsplit(url).path
        async with self._client.stream("HEAD", url) as head:
            status, headers = head.status_code, head.headers
        head_answered = 200 <= status < 300
        if not head_answered and status not in _HEAD_REFUSED:
            return self._refusal(status)
        if head_answered:
            early = self._judge(headers, path, None)
            if early.problem:  # the headers alone settle it (too big, not a video)
                return early
        # The first bytes tell the container, and its header often the length.
        ranged = await self._first_bytes(url)
        if ranged is None:
            if head_answered:
                return self._judge(headers, path, None)
            return Verdict(note=texts.preflight_unchecked())
        status, headers, data = ranged
        if not 200 <= status < 300:
            return self._refusal(status)
        header = await _off_loop(partial(_read_header, data)) if data else None
        return self._judge(headers, path, header)

    async def _first_bytes(self, url: str) -> tuple[int, httpx.Headers, bytes] | None:
        """GET the first PROBE_BYTES (stopping there even if the server sends it all)."""
        range_header = {"Range": f"bytes=0-{PROBE_BYTES - 1}"}
        async with self._client.stream("GET", url, range_header) as response:
            if response.status_code in (405, 501, 416):
                return None
            data = bytearray()
            # Bytes as they come: a compressed body (asked for none) is no video's first bytes,
            # and unpacking it could make a gigabyte of a megabyte, here on the event loop.
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if 200 <= response.status_code < 300 and encoding in ("identity", ""):
                async for chunk in response.aiter_raw():
                    data += chunk
                    if len(data) >= PROBE_BYTES:
                        break
            return response.status_code, response.headers, bytes(data[:PROBE_BYTES])

    def _refusal(self, status: int) -> Verdict:
        if status in (401, 403):
            return Verdict(problem=texts.link_not_public(status))
        if status in (404, 410):
            return Verdict(problem=texts.link_not_found(status))
        if status >= 500 or status == 429:
            return Verdict(note=texts.preflight_unchecked())
        return Verdict(problem=texts.link_refused(status))

    def _judge(self, headers: httpx.Headers, path: str, header: _Header | None) -> Verdict:
        return self._judge_video(
            content_type=_content_type(headers),
            known_format=self._known_format(headers, path),
            header=header,
            size=_total_size(headers),
        )

    def _known_format(self, headers: httpx.Headers, path: str) -> str | None:
        """The container the headers or the name say: type, else the file name's extension
        (Content-Disposition's, else the link's)."""
        disposition = _FILENAME.search(headers.get("content-disposition", ""))
        name = disposition.group(1) if disposition else path
        return _FORMAT_BY_TYPE.get(_content_type(headers)) or _FORMAT_BY_EXTENSION.get(
            PurePosixPath(name).suffix.lower()
        )

    def _judge_video(
        self,
        *,
        content_type: str,
        known_format: str | None,
        header: _Header | None,
        size: int | None,
    ) -> Verdict:
        capabilities = self._capabilities
        if (
            (header is not None and header.has_video)
            or content_type.startswith("video/")
            or known_format is not None
        ):
            kind_known = True
        elif content_type.startswith(_NOT_VIDEO_PREFIXES) or content_type in _NOT_VIDEO_TYPES:
            return Verdict(problem=texts.not_a_video(content_type))
        else:
            kind_known = False  # "some bytes": only the bytes themselves can tell
        shown_format = known_format or _format_from(header)
        if shown_format is not None and shown_format not in capabilities.formats:
            return Verdict(problem=texts.format_not_taken(shown_format, capabilities))
        if size is not None and size > capabilities.max_size_mb * 1024 * 1024:
            return Verdict(
                problem=texts.video_too_big(size / 1024 / 1024, capabilities.max_size_mb)
            )
        duration = header.duration if header is not None else None
        if duration is not None and duration > capabilities.max_duration_seconds + 0.05:
            return Verdict(
                problem=texts.video_too_long(duration, capabilities.max_duration_seconds)
            )
        return Verdict() if kind_known else Verdict(note=texts.preflight_unchecked())

    async def check_file(self, path: Path, size: int, mime_type: str | None) -> Verdict:
        """Check an uploaded file (it is on disk: its header is read from it directly)."""
        try:
            header = await _off_loop(partial(_read_file_header, path))
        except (TimeoutError, UserBusyError):  # refused: unchecked, a credit spent blind
            return Verdict(problem=texts.upload_too_slow_to_read())
        if header is None or not header.has_video:
            return Verdict(problem=texts.upload_not_a_video())
        return self._judge_video(
            content_type=(mime_type or "").lower(),
            known_format=_format_from(header),
            header=header,
            size=size,
        )


def _content_type(headers: httpx.Headers) -> str:
    value: str = headers.get("content-type", "")
    return value.split(";")[0].strip().lower()


def _total_size(headers: httpx.Headers) -> int | None:
    """The whole file's size: from Content-Range (a ranged answer) or Content-Length."""
    content_range = headers.get("content-range", "")
    if content_range:  # "bytes 0-99/1234", or ".../*" when the server does not know
        return ascii_int(content_range.rpartition("/")[2], high=SIZE_MAX)
    return ascii_int(headers.get("content-length", ""), high=SIZE_MAX)


def _format_from(header: _Header | None) -> str | None:
    """The bot's name for the container FFmpeg found (mov and mp4 read alike: say mp4)."""
    if header is None:
        return None
    names = header.formats
    if "mp4" in names or "mov" in names:
        return "mp4" if "mp4" in names else "mov"
    if "webm" in names or "matroska" in names:
        return "webm" if "webm" in names else "mkv"
    if "avi" in names:
        return "avi"
    return None


async def _off_loop(read: Callable[[], _Header | None]) -> _Header | None:
    """Run a header read in the preflight's threads; TimeoutError past HEADER_READ_SECONDS
    (the wait for a free thread included), UserBusyError while the user's last one still runs."""
    try:
        async with asyncio.timeout(HEADER_READ_SECONDS):
            return await _HEADER_READERS.run(read)
    except TimeoutError:
        log.info("Preflight: a video header took over %g s to read", HEADER_READ_SECONDS)
        raise


def _read_header(data: bytes) -> _Header | None:
    """What the first bytes of a link say (an MP4 whose index is at the end: nothing)."""
    return _probe(io.BytesIO(data))


def _read_file_header(path: Path) -> _Header | None:
    try:
        with _ReadLimit(path, FILE_PROBE_BYTES) as file:
            return _probe(file)
    except OSError:
        return None


class _ReadLimit(io.FileIO):
    """A file that reads as if it ended once `budget` bytes were read from it, wherever."""

    def __init__(self, path: Path, budget: int) -> None:
        super().__init__(path, "r")
        self._left = budget

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data = super().read(wanted) or b""
        self._left -= len(data)
        return data


def _probe(file: io.RawIOBase | io.BytesIO) -> _Header | None:
    # Here, not at the top: PyAV loads FFmpeg's libraries (about 20 MB resident), which a bot
    # that never probes a video (preflight off, links of known hosts) need not carry.
    import av

    try:
        with av.open(
            file, "r", container_options=_PROBE_OPTIONS, options=_DECODE_OPTIONS
        ) as container:
            return _describe(container)
    except (av.error.FFmpegError, ValueError, OSError):
        return None


def _describe(container: InputContainer) -> _Header:
    import av  # loaded already (see _probe)

    duration: float | None = None
    if container.duration is not None and container.duration > 0:
        duration = container.duration / av.time_base
    else:
        lengths = [
            float(s.duration * s.time_base)
            for s in container.streams
            if s.duration is not None and s.time_base is not None
        ]
        duration = max(lengths) if lengths else None
    return _Header(
        formats=frozenset(container.format.name.split(",")),
        duration=duration,
        has_video=any(s.type == "video" for s in container.streams),
    )
