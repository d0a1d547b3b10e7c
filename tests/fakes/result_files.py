"""The result files the fake providers serve: MP4s of any size, made up as they are streamed.

`result_response(request, size)` answers a GET (streamed, `Content-Length` always sent) or a HEAD
for a file of `size` bytes; `result_file_bytes(size)` is the same file at once, for tests to
compare with what the bot delivered (build only small ones).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

__all__ = ["FILE_CHUNK", "result_file_bytes", "result_response"]

FILE_CHUNK = 64 * 1024

_PATTERN = bytes(range(256)) * (FILE_CHUNK // 256)


def _mp4_header(size: int) -> bytes:
    """An `ftyp` box (24 bytes) followed by an `mdat` box header covering the rest of the file."""
    ftyp = b"\x00\x00\x00\x18ftypmp42" + b"\x00\x00\x00\x00" + b"mp42isom"
    mdat_size = max(size - len(ftyp), 8)
    mdat = (mdat_size if mdat_size <= 0xFFFFFFFF else 1).to_bytes(4, "big") + b"mdat"
    return ftyp + mdat


def _chunks(size: int) -> list[tuple[int, int]]:
    return [(off, min(FILE_CHUNK, size - off)) for off in range(0, size, FILE_CHUNK)]


def _chunk(size: int, offset: int, length: int) -> bytes:
    chunk = _PATTERN[:length]
    if offset == 0:
        header = _mp4_header(size)
        chunk = (header + chunk[len(header) :])[:length]
    return chunk


def result_file_bytes(size: int) -> bytes:
    """The exact bytes the fake serves for a result of `size` bytes (build only small ones)."""
    return b"".join(_chunk(size, off, n) for off, n in _chunks(size))


def result_response(request: Request, size: int) -> Response:
    """The answer to a GET (the file, streamed) or a HEAD (its length and type) of the file."""
    headers = {"Content-Length": str(size)}
    if request.method == "HEAD":
        return Response(b"", headers=headers, media_type="video/mp4")

    async def chunks() -> AsyncIterator[bytes]:
        for offset, length in _chunks(size):
            yield _chunk(size, offset, length)

    return StreamingResponse(chunks(), headers=headers, media_type="video/mp4")
