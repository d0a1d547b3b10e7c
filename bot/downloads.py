"""Streaming an HTTP body into a file, never writing more than a limit, never holding it whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx


class TooBigError(Exception):
    """The body went past the limit (what came before it was written: the caller removes it)."""


async def save_body(
    response: httpx.Response,
    target: Path,
    limit: int,
    arrived: Callable[[int], None] | None = None,
) -> int:
    """Write `response`'s body to `target` as it arrives; the bytes written. TooBigError as soon
    as it passes `limit`: no byte past the limit is written. `arrived(n)` hears of each chunk
    written (e.g. to keep a pace)."""
    written = 0
    with target.open("wb") as file:
        async for chunk in response.aiter_bytes():
            written += len(chunk)
            if written > limit:
                raise TooBigError
            file.write(chunk)
            if arrived is not None:
                arrived(len(chunk))
    return written
