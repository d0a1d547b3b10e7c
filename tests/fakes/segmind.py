"""A fake Segmind "Luma Modify Video" async (v2) API server for tests (starlette, on loopback).

It follows the wire contract in `reference/providers.md` section 2 to the letter: the key travels
in `x-api-key`, errors are real HTTP statuses with an `{"error": ...}` body, a FAILED request
(content blocks included) is served as **HTTP 422** `{"status": "FAILED", "error": ...,
"request_id": ...}`, an unknown or expired request id is a 404 `{"error": "Request <id> not
found"}`, and the result body carries the file URL in `output` or (per job, unconfirmed shape)
in `video.url`. Result files are served from the fake itself. Segmind has no callbacks and no
documented credits endpoint, so neither exists here.

Typical use in a test::

    async with FakeSegmind() as segmind:                # or: await segmind.start() ... stop()
        env = {"PROVIDER": "segmind", "PROVIDER_BASE_URL": segmind.url,
               "PROVIDER_API_KEY": TEST_SEGMIND_KEY}
        ...                                             # drive the bot so that it submits a job
        [job] = await segmind.wait_for_job()            # the job reached the provider
        segmind.complete(job.request_id)                # or complete_after_polls=N at construction
        segmind.fail(job.request_id, "Content blocked") # or: a FAILED job (HTTP 422 on polls)
        segmind.expire(job.request_id)                  # or retention_seconds=... at construction
        assert segmind.file_downloads[job.request_id] == 1

A job starts QUEUED. Status polls (`GET /v2/requests/{id}/status`) count in `FakeJob.polls`;
`processing_after_polls=N` moves a QUEUED job to PROCESSING on its N-th poll and
`complete_after_polls=N` completes it on its N-th poll (fetching the result body does not count).

Faults are scripted ahead of the request they affect and consume themselves, FIFO:
`refuse_next_submit`, `hang_next_submit`, `close_next_submit` (one shared queue for the submit
endpoint), `fail_next_status` (status endpoint) and `fail_next_result` (result endpoint). A
scripted fault takes precedence over normal handling (even over the key check), but every request
is still recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.kie import (
    Recorded,
    _DropConnection,
    _is_http_url,
    _result_chunk,
    _result_chunks,
    result_file_bytes,
)
from tests.fakes.server import LoopbackServer, StartStop

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "REQUESTS_PATH",
    "SUBMIT_PATH",
    "TEST_SEGMIND_KEY",
    "FakeJob",
    "FakeSegmind",
    "JobStatus",
    "OutputShape",
    "Recorded",
    "result_file_bytes",
]

TEST_SEGMIND_KEY = "segmind-test-key-0123456789"

SUBMIT_PATH = "/v2/modify-video"
REQUESTS_PATH = "/v2/requests"  # status: f"{REQUESTS_PATH}/{id}/status", result: .../{id}

MODES = tuple(f"{kind}_{n}" for kind in ("adhere", "flex", "reimagine") for n in (1, 2, 3))
DEFAULT_MODE = "adhere_1"

JobStatus = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]
OutputShape = Literal["output", "video"]

_JOB_STATUSES: tuple[str, ...] = ("QUEUED", "PROCESSING", "COMPLETED", "FAILED")
_HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(http_status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=http_status)


@dataclass
class FakeJob:
    """A modify-video request as the fake provider sees it."""

    request_id: str
    video_url: str
    prompt: str | None
    mode: str  # as sent, or DEFAULT_MODE when the request left it out
    first_frame_url: str | None
    status: JobStatus = "QUEUED"
    error: str | None = None  # the FAILED detail
    result_size: int = 200_000  # bytes of the result file served at result_url
    polls: int = 0  # status-endpoint calls seen for this job
    created_at: float = field(default_factory=time.time)  # epoch seconds
    completed_at: float | None = None  # epoch seconds, set on COMPLETED and on FAILED
    output_shape: OutputShape = "output"  # where the result body puts the file URL
    expired: bool = False  # expire() or retention_seconds: every endpoint answers 404


@dataclass
class _SubmitFault:
    kind: Literal["refuse", "hang", "close"]
    http_status: int = 0
    error: str = ""
    seconds: float = 0.0
    accept: bool = True


@dataclass
class _PollFault:
    http_status: int
    error: str


class FakeSegmind(StartStop):
    """The fake Segmind v2 API. `url` is its root (use it as PROVIDER_BASE_URL)."""

    def __init__(
        self,
        api_key: str = TEST_SEGMIND_KEY,
        *,
        complete_after_polls: int | None = None,
        processing_after_polls: int | None = None,
        result_size: int = 200_000,
        output_shape: OutputShape = "output",
        rate_limit: tuple[int, float] | None = None,
        retention_seconds: float | None = None,
    ) -> None:
        if complete_after_polls is not None and complete_after_polls < 1:
            raise ValueError("complete_after_polls must be >= 1")
        if processing_after_polls is not None and processing_after_polls < 1:
            raise ValueError("processing_after_polls must be >= 1")
        if output_shape not in ("output", "video"):
            raise ValueError(f"output_shape must be 'output' or 'video', got {output_shape!r}")
        self.api_key = api_key
        self.complete_after_polls = complete_after_polls
        self.processing_after_polls = processing_after_polls
        self.result_size = result_size
        self.output_shape: OutputShape = output_shape
        self.rate_limit = rate_limit
        self.retention_seconds = retention_seconds

        self.requests: list[Recorded] = []
        self.jobs: dict[str, FakeJob] = {}
        self.file_downloads: dict[str, int] = {}

        self._submit_faults: deque[_SubmitFault] = deque()
        self._status_faults: deque[_PollFault] = deque()
        self._result_faults: deque[_PollFault] = deque()
        self._submit_times: deque[float] = deque()
        self._stopping = asyncio.Event()

        self.app = Starlette(
            routes=[
                Route(SUBMIT_PATH, self._submit, methods=["POST"]),
                Route(REQUESTS_PATH + "/{request_id}/status", self._status, methods=["GET"]),
                Route(REQUESTS_PATH + "/{request_id}", self._result, methods=["GET"]),
                Route("/files/{name}", self._file, methods=["GET", "HEAD"]),
                Route("/{path:path}", self._not_found, methods=_HTTP_METHODS),
            ]
        )
        self._server = LoopbackServer(self.app)
        self.url: str = self._server.url

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        self._stopping.set()  # wakes requests parked by hang_next_submit
        await self._server.stop()

    # ------------------------------------------------------------------ inspection

    def result_url(self, request_id: str) -> str:
        return f"{self.url}/files/{request_id}.mp4"

    def status_url(self, request_id: str) -> str:
        return f"{self.url}{REQUESTS_PATH}/{request_id}/status"

    def response_url(self, request_id: str) -> str:
        return f"{self.url}{REQUESTS_PATH}/{request_id}"

    def submit_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == SUBMIT_PATH]

    def status_requests(self, request_id: str | None = None) -> list[Recorded]:
        """Requests to `GET /v2/requests/{id}/status` (for one id, or all)."""
        return [r for r in self.requests if self._is_poll(r, request_id, status=True)]

    def result_requests(self, request_id: str | None = None) -> list[Recorded]:
        """Requests to `GET /v2/requests/{id}` (for one id, or all)."""
        return [r for r in self.requests if self._is_poll(r, request_id, status=False)]

    @staticmethod
    def _is_poll(rec: Recorded, request_id: str | None, *, status: bool) -> bool:
        prefix = REQUESTS_PATH + "/"
        if not rec.path.startswith(prefix):
            return False
        rest = rec.path.removeprefix(prefix)
        if status:
            if not rest.endswith("/status"):
                return False
            rest = rest.removesuffix("/status")
        if not rest or "/" in rest:
            return False
        return request_id is None or rest == request_id

    def only_job(self) -> FakeJob:
        assert len(self.jobs) == 1, f"expected exactly one job, got {len(self.jobs)}: {self.jobs}"
        return next(iter(self.jobs.values()))

    async def wait_for_job(self, count: int = 1, timeout: float = 10.0) -> list[FakeJob]:
        """Wait until at least `count` jobs were created; returns all jobs in submission order."""
        await self._wait(lambda: len(self.jobs) >= count, timeout, f"{count} job(s)")
        return list(self.jobs.values())

    async def wait_for_requests(
        self, path_prefix: str, count: int = 1, timeout: float = 10.0
    ) -> list[Recorded]:
        """Wait until at least `count` requests whose path starts with `path_prefix` arrived."""

        def matching() -> list[Recorded]:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

        await self._wait(
            lambda: len(matching()) >= count, timeout, f"{count} request(s) to {path_prefix}*"
        )
        return matching()

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                seen = [f"{r.method} {r.path}" for r in self.requests]
                raise AssertionError(
                    f"fake Segmind: timed out after {timeout}s waiting for {what}; "
                    f"jobs={len(self.jobs)}, requests seen: {seen}"
                )
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ scripting

    def _job(self, request_id: str) -> FakeJob:
        job = self.jobs.get(request_id)
        if job is None:
            raise KeyError(f"fake Segmind: no job {request_id!r}; known: {list(self.jobs)}")
        return job

    def complete(
        self,
        request_id: str,
        *,
        result_size: int | None = None,
        output_shape: OutputShape | None = None,
    ) -> None:
        """Finish a job successfully (COMPLETED); output_shape None keeps the job's shape."""
        job = self._job(request_id)
        if output_shape is not None:
            if output_shape not in ("output", "video"):
                raise ValueError(f"output_shape must be 'output' or 'video', got {output_shape!r}")
            job.output_shape = output_shape
        if result_size is not None:
            job.result_size = result_size
        job.status = "COMPLETED"
        job.error = None
        job.completed_at = time.time()

    def fail(self, request_id: str, error: str = "Inference failed") -> None:
        """Finish a job as FAILED (e.g. a content block): its polls answer HTTP 422."""
        job = self._job(request_id)
        job.status = "FAILED"
        job.error = error
        job.completed_at = time.time()

    def set_status(self, request_id: str, status: JobStatus) -> None:
        """Put a job in `status`; COMPLETED and FAILED go through complete() / fail()."""
        if status not in _JOB_STATUSES:
            raise ValueError(f"status must be one of {_JOB_STATUSES}, got {status!r}")
        if status == "COMPLETED":
            self.complete(request_id)
        elif status == "FAILED":
            self.fail(request_id)
        else:
            job = self._job(request_id)
            job.status = status
            job.error = None
            job.completed_at = None

    def expire(self, request_id: str) -> None:
        """Forget a job as Segmind does after its retention: status/result/file answer 404."""
        self._job(request_id).expired = True

    def refuse_next_submit(self, http_status: int, error: str, *, times: int = 1) -> None:
        """Answer the next submit(s) with HTTP `http_status` and `{"error": error}`; no job."""
        for _ in range(times):
            self._submit_faults.append(_SubmitFault("refuse", http_status=http_status, error=error))

    def hang_next_submit(self, seconds: float, *, accept: bool = True, times: int = 1) -> None:
        """Sleep `seconds` before answering the next submit request(s).

        accept=True: the request is handled normally at once (the job is created if valid, so
        the provider "got it") and that answer is sent after the delay. accept=False: no job is
        created and the answer after the delay is HTTP 504 `{"error": "Request timed out"}`.
        If the client disconnects (or the fake stops) during the delay, the wait ends early.
        """
        for _ in range(times):
            self._submit_faults.append(_SubmitFault("hang", seconds=seconds, accept=accept))

    def close_next_submit(self, *, times: int = 1) -> None:
        """Drop the connection of the next submit request(s) without a complete answer."""
        for _ in range(times):
            self._submit_faults.append(_SubmitFault("close"))

    def fail_next_status(
        self, http_status: int = 500, error: str = "Internal server error", *, times: int = 1
    ) -> None:
        """Answer the next status request(s) with HTTP `http_status` and `{"error": error}`."""
        for _ in range(times):
            self._status_faults.append(_PollFault(http_status, error))

    def fail_next_result(
        self, http_status: int = 500, error: str = "Internal server error", *, times: int = 1
    ) -> None:
        """Answer the next result request(s) with HTTP `http_status` and `{"error": error}`."""
        for _ in range(times):
            self._result_faults.append(_PollFault(http_status, error))

    # ------------------------------------------------------------------ HTTP handlers

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

    def _auth_error(self, request: Request) -> JSONResponse | None:
        key = request.headers.get("x-api-key", "").strip()
        if not key:
            return _error(401, "Missing API key: send it in the x-api-key header")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return _error(401, "Invalid API key")
        return None

    async def _submit(self, request: Request) -> Response:
        rec = await self._record(request)
        fault = self._submit_faults.popleft() if self._submit_faults else None
        if fault is None:
            return self._handle_submit(request, rec)
        if fault.kind == "refuse":
            return _error(fault.http_status, fault.error)
        if fault.kind == "close":
            return _DropConnection()
        # hang
        response = self._handle_submit(request, rec) if fault.accept else None
        await self._park(request, fault.seconds)
        return response if response is not None else _error(504, "Request timed out")

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

    def _handle_submit(self, request: Request, rec: Recorded) -> JSONResponse:
        auth = self._auth_error(request)
        if auth is not None:
            return auth
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _error(400, "Content-Type must be application/json")
        if not isinstance(rec.json, dict):
            return _error(400, "The request body must be a JSON object")
        body: dict[str, Any] = rec.json

        if self.rate_limit is not None:
            limit, window = self.rate_limit
            now = time.monotonic()
            while self._submit_times and now - self._submit_times[0] >= window:
                self._submit_times.popleft()
            if len(self._submit_times) >= limit:
                return _error(429, "Rate limit exceeded: too many requests, try again later")
            self._submit_times.append(now)

        video_url = body.get("video_url")
        prompt = body.get("prompt")
        mode = body.get("mode")
        first_frame_url = body.get("first_frame_url")
        if not _is_http_url(video_url):
            return _error(400, "video_url is required and must be a valid http(s) URL")
        if prompt is not None and not isinstance(prompt, str):
            return _error(400, "prompt must be a string")
        if mode is not None and mode not in MODES:
            return _error(400, f"mode must be one of: {', '.join(MODES)}")
        if first_frame_url is not None and not _is_http_url(first_frame_url):
            return _error(400, "first_frame_url must be a valid http(s) URL")
        assert isinstance(video_url, str)

        request_id = str(uuid.uuid4())
        self.jobs[request_id] = FakeJob(
            request_id=request_id,
            video_url=video_url,
            prompt=prompt,
            mode=mode if isinstance(mode, str) else DEFAULT_MODE,
            first_frame_url=first_frame_url,
            result_size=self.result_size,
            output_shape=self.output_shape,
        )
        return JSONResponse(
            {
                "request_id": request_id,
                "status": "QUEUED",
                "status_url": self.status_url(request_id),
                "response_url": self.response_url(request_id),
            }
        )

    def _live_job(self, request_id: str) -> FakeJob | None:
        """The job, unless it is unknown or expired (explicitly or by retention_seconds)."""
        job = self.jobs.get(request_id)
        if job is None:
            return None
        if (
            not job.expired
            and self.retention_seconds is not None
            and job.completed_at is not None
            and time.time() - job.completed_at >= self.retention_seconds
        ):
            job.expired = True
        return None if job.expired else job

    @staticmethod
    def _metrics(job: FakeJob) -> dict[str, Any]:
        # The contents of `metrics` are undocumented; clients must not depend on them.
        return {"created_at": _iso(job.created_at), "completed_at": _iso(job.completed_at)}

    def _poll_error(self, request: Request, faults: deque[_PollFault]) -> Response | FakeJob:
        if faults:
            f = faults.popleft()
            return _error(f.http_status, f.error)
        auth = self._auth_error(request)
        if auth is not None:
            return auth
        request_id: str = request.path_params["request_id"]
        job = self._live_job(request_id)
        if job is None:
            return _error(404, f"Request {request_id} not found")
        return job

    @staticmethod
    def _failed(job: FakeJob) -> JSONResponse:
        return JSONResponse(
            {
                "status": "FAILED",
                "error": job.error or "Inference failed",
                "request_id": job.request_id,
            },
            status_code=422,
        )

    async def _status(self, request: Request) -> Response:
        await self._record(request)
        found = self._poll_error(request, self._status_faults)
        if not isinstance(found, FakeJob):
            return found
        job = found
        job.polls += 1
        if (
            self.processing_after_polls is not None
            and job.status == "QUEUED"
            and job.polls >= self.processing_after_polls
        ):
            job.status = "PROCESSING"
        if (
            self.complete_after_polls is not None
            and job.status in ("QUEUED", "PROCESSING")
            and job.polls >= self.complete_after_polls
        ):
            self.complete(job.request_id)
        if job.status == "FAILED":
            return self._failed(job)
        return JSONResponse(
            {"status": job.status, "request_id": job.request_id, "metrics": self._metrics(job)}
        )

    async def _result(self, request: Request) -> Response:
        await self._record(request)
        found = self._poll_error(request, self._result_faults)
        if not isinstance(found, FakeJob):
            return found
        job = found
        if job.status == "FAILED":
            return self._failed(job)
        body: dict[str, Any] = {"status": job.status}
        if job.status == "COMPLETED":
            url = self.result_url(job.request_id)
            if job.output_shape == "video":
                body["video"] = {
                    "url": url,
                    "content_type": "video/mp4",
                    "file_name": f"{job.request_id}.mp4",
                    "file_size": job.result_size,
                }
            else:
                body["output"] = url
        body["metrics"] = self._metrics(job)
        return JSONResponse(body)

    async def _file(self, request: Request) -> Response:
        await self._record(request)
        name: str = request.path_params["name"]
        job = self._live_job(name.removesuffix(".mp4")) if name.endswith(".mp4") else None
        if job is None or job.status != "COMPLETED":
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        size = job.result_size
        headers = {"Content-Length": str(size)}
        if request.method == "HEAD":
            return Response(b"", headers=headers, media_type="video/mp4")
        self.file_downloads[job.request_id] = self.file_downloads.get(job.request_id, 0) + 1

        async def chunks() -> AsyncIterator[bytes]:
            for offset, length in _result_chunks(size):
                yield _result_chunk(size, offset, length)

        return StreamingResponse(chunks(), headers=headers, media_type="video/mp4")

    async def _not_found(self, request: Request) -> Response:
        await self._record(request)
        return _error(404, "Not Found")
