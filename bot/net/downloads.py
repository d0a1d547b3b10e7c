"""Streaming an HTTP body into a file, never writing more than a limit, never holding it whole.

The bot's clients ask for bodies uncompressed (Accept-Encoding: identity); one that comes
compressed all the same is refused rather than unpacked, which could make gigabytes of a
megabyte, a chunk at a time on the event loop, before any limit is seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

_PLAIN = frozenset({"identity", ""})


class TooBigError(Exception):
    """The body went past the limit (what came before it was written: the caller removes it)."""


class CompressedError(TooBigError):
    """The body is compressed (though none was asked for): unpacked, it could be any size, so it
    is not taken, like one too big."""


async def save_body(
    response: httpx.Response,
    target: Path,
    limit: int,
    arrived: Callable[[int], None] | None = None,
) -> int:
    """Write `response`'s body to `target` as it arrives; the bytes written. TooBigError as soon
    as it passes `limit`: no byte past the limit is written; CompressedError at once for a
    compressed body. `arrived(n)` hears of each chunk written (e.g. to keep a pace)."""
    if response.headers.get("content-encoding", "identity").strip().lower() not in _PLAIN:
        raise CompressedError
    written = 0
    with target.open("wb") as file:
        async for chunk in response.aiter_raw():  # as sent: nothing to unpack
            written += len(chunk)
            if written > limit:
                raise TooBigError
            file.write(chunk)
            if arrived is not None:
                arrived(len(chunk))
    return written


_COPY_CHUNK = 1024 * 1024


async def copy_file(source: Path, target: Path, limit: int) -> int:
    """Copy a file on this machine (a local Bot API server's) into `target`, in a thread, a chunk
    at a time; the bytes copied. TooBigError as soon as it passes `limit`."""
    return await asyncio.to_thread(_copy, source, target, limit)


def _copy(source: Path, target: Path, limit: int) -> int:
    written = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(_COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                raise TooBigError
            writer.write(chunk)
    return written
