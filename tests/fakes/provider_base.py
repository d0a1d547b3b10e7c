"""What the fake provider servers (FakeKie, FakeSegmind, FakeLuma) have in common.

A `FakeProvider` is a starlette app served on loopback (`url` is its root) that

* records every request it receives in `requests` (`Recorded`, JSON bodies parsed);
* serves each finished item's result as a streamed MP4 at `/files/{id}.mp4` (GET and HEAD, no key
  needed, `Content-Length` always sent; each GET counts in `file_downloads[id]`);
* answers any other path with its provider's 404 body (`_not_found_body`);
* plays faults scripted for its submit endpoint, FIFO, each consumed by the request it affects:
  a canned answer, a hang (optionally after handling the request normally; the wait ends early
  when the client disconnects or the fake stops) or a dropped connection. A scripted fault comes
  before normal handling, even before the key check, but the request is still recorded.
  `ScriptedAnswers` is the same for endpoints that only ever get canned answers (status polls).

A fake supplies its routes, its items (tasks, jobs, generations: `_items`), its key check
(`_auth_error`), how it answers a submit (`_handle_submit`), what a hang without accept answers
(`_hang_answer`) and the size of an item's result file, if it has one (`_result_size`). The public
methods stay on each fake, under that provider's names and signatures; they delegate to the
helpers here.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from tests.fakes.server import LoopbackServer, StartStop

__all__ = [
    "FILE_CHUNK",
    "Answer",
    "DropConnection",
    "FakeProvider",
    "Recorded",
    "ScriptedAnswers",
    "compact_json",
    "is_http_url",
    "require_positive",
    "result_file_bytes",
    "utc_text",
]

FILE_CHUNK = 64 * 1024

_HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

ItemT = TypeVar("ItemT")

Answer = Callable[[], Response]
"""Builds a scripted answer; called once per request it answers."""


# ---------------------------------------------------------------------- small helpers


def require_positive(name: str, value: int | None) -> None:
    """A constructor check: an optional count such as `complete_after_polls` must be >= 1."""
    if value is not None and value < 1:
        raise ValueError(f"{name} must be >= 1")


def is_http_url(value: object) -> bool:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def compact_json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def utc_text(epoch_seconds: float | None) -> str | None:
    """`2025-08-13T09:48:00Z` (whole seconds, UTC), or None."""
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------- result files


def _mp4_header(size: int) -> bytes:
    """An `ftyp` box (24 bytes) followed by an `mdat` box header covering the rest of the file."""
    ftyp = b"\x00\x00\x00\x18ftypmp42" + b"\x00\x00\x00\x00" + b"mp42isom"
    mdat_size = max(size - len(ftyp), 8)
    mdat = (mdat_size if mdat_size <= 0xFFFFFFFF else 1).to_bytes(4, "big") + b"mdat"
    return ftyp + mdat


_PATTERN = bytes(range(256)) * (FILE_CHUNK // 256)


def _result_chunks(size: int) -> list[tuple[int, int]]:
    return [(off, min(FILE_CHUNK, size - off)) for off in range(0, size, FILE_CHUNK)]


def _result_chunk(size: int, offset: int, length: int) -> bytes:
    chunk = _PATTERN[:length]
    if offset == 0:
        header = _mp4_header(size)
        chunk = (header + chunk[len(header) :])[:length]
    return chunk


def result_file_bytes(size: int) -> bytes:
    """The exact bytes the fake serves for a result of `size` bytes (build only small ones)."""
    return b"".join(_result_chunk(size, off, n) for off, n in _result_chunks(size))


# ---------------------------------------------------------------------- requests and faults


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case header names
    json: Any  # parsed JSON body or None
    raw: bytes  # the raw body
    at: float  # time.monotonic()


class DropConnection(Response):
    """Starts a response that promises a body, then returns: the server closes the connection.

    The client sees a protocol error (httpx.RemoteProtocolError: "peer closed connection without
    sending complete message body") and never learns an answer.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )


class ScriptedAnswers:
    """Canned answers for one endpoint, FIFO: the next request gets the first one instead of the
    normal handling (even the key check), and that answer is used up."""

    def __init__(self) -> None:
        self._queue: deque[Answer] = deque()

    def add(self, answer: Answer, times: int) -> None:
        self._queue.extend(answer for _ in range(times))

    def next(self) -> Response | None:
        """The answer for this request if one is scripted (and use it up), else None."""
        return self._queue.popleft()() if self._queue else None


@dataclass(frozen=True)
class _SubmitFault:
    answer: Answer  # sent instead of the normal answer (after a hang: only if not accept)
    hang_seconds: float | None = None
    accept: bool = False  # hang only: handle the request normally first, send that answer


# ---------------------------------------------------------------------- the base class


class FakeProvider(StartStop, Generic[ItemT]):
    """The plumbing of a fake provider API; see the module docstring."""

    _label: ClassVar[str]  # the provider in messages: "fake KIE: ..."
    _noun: ClassVar[str]  # what a submit creates: "task", "job", "generation"
    _not_found_body: ClassVar[dict[str, Any]]  # the JSON of a 404 for an unknown path

    def __init__(
        self,
        *,
        routes: Sequence[BaseRoute],
        api_key: str,
        complete_after_polls: int | None,
        result_size: int,
        rate_limit: tuple[int, float] | None,
    ) -> None:
        self.api_key = api_key
        self.complete_after_polls = complete_after_polls
        self.result_size = result_size
        self.rate_limit = rate_limit

        self.requests: list[Recorded] = []
        self.file_downloads: dict[str, int] = {}

        self._submit_faults: deque[_SubmitFault] = deque()
        self._submit_times: deque[float] = deque()
        self._stopping = asyncio.Event()

        self.app = Starlette(
            routes=[
                *routes,
                Route("/files/{name}", self._file, methods=["GET", "HEAD"]),
                Route("/{path:path}", self._not_found, methods=_HTTP_METHODS),
            ]
        )
        self._server = LoopbackServer(self.app)
        self.url: str = self._server.url

    # ------------------------------------------------------------------ what a fake supplies

    def _items(self) -> dict[str, ItemT]:
        """The fake's items by id, in submission order (its `tasks`, `jobs`, `generations`)."""
        raise NotImplementedError

    def _auth_error(self, request: Request) -> Response | None:
        """The provider's refusal when the request lacks the right key, else None."""
        raise NotImplementedError

    def _handle_submit(self, request: Request, rec: Recorded) -> Response:
        """The normal answer to a submit request (which may create an item)."""
        raise NotImplementedError

    def _hang_answer(self) -> Response:
        """What a submit gets after a scripted hang without accept (no item is created)."""
        raise NotImplementedError

    def _result_size(self, item_id: str) -> int | None:
        """The size of the item's result file, or None when it has none to serve (yet)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        self._stopping.set()  # wakes requests parked by a scripted hang
        await self._server.stop()

    # ------------------------------------------------------------------ inspection

    def _file_url(self, item_id: str) -> str:
        return f"{self.url}/files/{item_id}.mp4"

    def _get(self, item_id: str) -> ItemT:
        items = self._items()
        if item_id not in items:
            raise KeyError(f"fake {self._label}: no {self._noun} {item_id!r}; known: {list(items)}")
        return items[item_id]

    def _only(self) -> ItemT:
        items = self._items()
        assert len(items) == 1, f"expected exactly one {self._noun}, got {len(items)}: {items}"
        return next(iter(items.values()))

    async def _wait_for_items(self, count: int, timeout: float) -> list[ItemT]:
        """Wait until at least `count` items exist; returns all in submission order."""
        items = self._items
        await self._wait(lambda: len(items()) >= count, timeout, f"{count} {self._noun}(s)")
        return list(items().values())

    async def _wait_for_requests(
        self, match: Callable[[Recorded], bool], where: str, count: int, timeout: float
    ) -> list[Recorded]:
        """Wait until at least `count` recorded requests `match`; returns them in order."""

        def matching() -> list[Recorded]:
            return [r for r in self.requests if match(r)]

        await self._wait(
            lambda: len(matching()) >= count, timeout, f"{count} request(s) to {where}"
        )
        return matching()

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                seen = [f"{r.method} {r.path}" for r in self.requests]
                raise AssertionError(
                    f"fake {self._label}: timed out after {timeout}s waiting for {what}; "
                    f"{self._noun}s={len(self._items())}, requests seen: {seen}"
                )
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ submit faults

    def _refuse_next(self, answer: Answer, times: int) -> None:
        """The next `times` submit requests get `answer()`; no item is created."""
        self._submit_faults.extend(_SubmitFault(answer) for _ in range(times))

    def _hang_next(self, seconds: float, *, accept: bool = True, times: int = 1) -> None:
        """Sleep `seconds` before answering the next submit request(s).

        accept=True: the request is handled normally at once (the item is created if the request
        is valid, so the provider "got it") and that answer is sent after the delay.
        accept=False: nothing is created and the answer after the delay is the provider's
        server-error answer (see the fake's `_hang_answer`).
        If the client disconnects (or the fake stops) during the delay, the wait ends early.
        """
        fault = _SubmitFault(self._hang_answer, hang_seconds=seconds, accept=accept)
        self._submit_faults.extend(fault for _ in range(times))

    def _close_next(self, *, times: int = 1) -> None:
        """Drop the connection of the next submit request(s) without a complete answer."""
        self._submit_faults.extend(_SubmitFault(DropConnection) for _ in range(times))

    async def _submit(self, request: Request) -> Response:
        """The submit route: record, then a scripted fault if one is queued, else normal."""
        rec = await self._record(request)
        fault = self._submit_faults.popleft() if self._submit_faults else None
        if fault is None:
            return self._handle_submit(request, rec)
        if fault.hang_seconds is None:
            return fault.answer()
        response = self._handle_submit(request, rec) if fault.accept else fault.answer()
        await self._park(request, fault.hang_seconds)
        return response

    async def _park(self, request: Request, seconds: float) -> None:
        """Sleep up to `seconds`; end early when the client disconnects or the fake stops."""

        async def disconnected() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        waiters = [
            asyncio.ensure_future(disconnected()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    # ------------------------------------------------------------------ request checks

    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        rec = Recorded(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            raw=raw,
            at=time.monotonic(),
        )
        self.requests.append(rec)
        return rec

    async def _record_checked(
        self, request: Request, faults: ScriptedAnswers | None = None
    ) -> Response | None:
        """Record the request, then what it gets instead of the normal answer: a scripted answer
        from `faults`, else the key check's refusal; None when it may be handled normally."""
        await self._record(request)
        scripted = faults.next() if faults is not None else None
        return scripted if scripted is not None else self._auth_error(request)

    def _has_bearer_key(self, request: Request) -> bool:
        """`Authorization: Bearer <api_key>` (the scheme in any case)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        )

    @staticmethod
    def _json_object_problem(request: Request, rec: Recorded) -> str | None:
        """Why the body is not a JSON object sent as application/json, or None when it is."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return "Content-Type must be application/json"
        if not isinstance(rec.json, dict):
            return "The request body must be a JSON object"
        return None

    def _rate_limited(self) -> int | None:
        """Count a submit against `rate_limit` (at most N in a sliding window of S seconds).

        Returns None when it is within the limit (and counts it), else the seconds until a
        submit would be allowed again (a Retry-After value, at least 1; not counted).
        """
        if self.rate_limit is None:
            return None
        limit, window = self.rate_limit
        now = time.monotonic()
        while self._submit_times and now - self._submit_times[0] >= window:
            self._submit_times.popleft()
        if len(self._submit_times) >= limit:
            return max(1, math.ceil(window - (now - self._submit_times[0])))
        self._submit_times.append(now)
        return None

    # ------------------------------------------------------------------ shared routes

    async def _file(self, request: Request) -> Response:
        await self._record(request)
        name: str = request.path_params["name"]
        item_id = name.removesuffix(".mp4")
        size = self._result_size(item_id) if name.endswith(".mp4") else None
        if size is None:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        headers = {"Content-Length": str(size)}
        if request.method == "HEAD":
            return Response(b"", headers=headers, media_type="video/mp4")
        self.file_downloads[item_id] = self.file_downloads.get(item_id, 0) + 1

        async def chunks() -> AsyncIterator[bytes]:
            for offset, length in _result_chunks(size):
                yield _result_chunk(size, offset, length)

        return StreamingResponse(chunks(), headers=headers, media_type="video/mp4")

    async def _not_found(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse(self._not_found_body, status_code=404)
