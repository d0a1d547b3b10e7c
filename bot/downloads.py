"""Streaming an HTTP body into a file, never writing more than a limit, never holding it whole."""

from __future__ import annotations

from pathlib import Path

import httpx

CHUNK = 1 << 16


class TooBigError(Exception):
    """The body went past the limit (what came before it was written: the caller removes it)."""


async def save_body(response: httpx.Response, target: Path, limit: int) -> int:
    """Write `response`'s body to `target`, a chunk at a time; the bytes written. TooBigError
    as soon as it passes `limit`: no byte past the limit is written."""
    written = 0
    with target.open("wb") as file:
        async for chunk in response.aiter_bytes(CHUNK):
            written += len(chunk)
            if written > limit:
                raise TooBigError
            file.write(chunk)
    return written
