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

Faults, scripted as tests/fakes/provider_base.py says: `refuse_next_submit`, `hang_next_submit`,
`close_next_submit` (one queue for the submit endpoint), `fail_next_status` (status endpoint) and
`fail_next_result` (result endpoint).
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import Answer, ScriptedAnswers
from tests.fakes.provider_base import FakeProvider, Options, Recorded, require_positive
from tests.fakes.wire import is_http_url, utc_text

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
]

TEST_SEGMIND_KEY = "segmind-test-key-0123456789"

SUBMIT_PATH = "/v2/modify-video"
REQUESTS_PATH = "/v2/requests"  # status: f"{REQUESTS_PATH}/{id}/status", result: .../{id}

MODES = tuple(f"{kind}_{n}" for kind in ("adhere", "flex", "reimagine") for n in (1, 2, 3))
DEFAULT_MODE = "adhere_1"

JobStatus = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]
OutputShape = Literal["output", "video"]

_JOB_STATUSES: tuple[str, ...] = ("QUEUED", "PROCESSING", "COMPLETED", "FAILED")


def _error(http_status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=http_status)


def _answer(http_status: int, message: str) -> Answer:
    """A scripted answer: HTTP `http_status` with `{"error": message}`."""
    return lambda: _error(http_status, message)


def _check_output_shape(output_shape: str) -> None:
    if output_shape not in ("output", "video"):
        raise ValueError(f"output_shape must be 'output' or 'video', got {output_shape!r}")


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


def _submit_problem(body: dict[str, Any]) -> str | None:
    """Why Segmind refuses the submit's fields (HTTP 400), or None when they are good."""
    video_url, prompt = body.get("video_url"), body.get("prompt")
    mode, first_frame_url = body.get("mode"), body.get("first_frame_url")
    if not is_http_url(video_url):
        return "video_url is required and must be a valid http(s) URL"
    if prompt is not None and not isinstance(prompt, str):
        return "prompt must be a string"
    if mode is not None and mode not in MODES:
        return f"mode must be one of: {', '.join(MODES)}"
    if first_frame_url is not None and not is_http_url(first_frame_url):
        return "first_frame_url must be a valid http(s) URL"
    return None


class FakeSegmind(FakeProvider[FakeJob], label="Segmind", noun="job"):
    """The fake Segmind v2 API. `url` is its root (use it as PROVIDER_BASE_URL)."""

    def __init__(
        self,
        api_key: str = TEST_SEGMIND_KEY,
        *,
        processing_after_polls: int | None = None,
        output_shape: OutputShape = "output",
        retention_seconds: float | None = None,
        **options: Unpack[Options],
    ) -> None:
        require_positive("processing_after_polls", processing_after_polls)
        _check_output_shape(output_shape)
        self.processing_after_polls = processing_after_polls
        self.output_shape: OutputShape = output_shape
        self.retention_seconds = retention_seconds
        self.jobs: dict[str, FakeJob] = {}
        self._result_faults = ScriptedAnswers()
        super().__init__(
            api_key,
            submit_path=SUBMIT_PATH,
            routes=[
                Route(REQUESTS_PATH + "/{request_id}/status", self._status, methods=["GET"]),
                Route(REQUESTS_PATH + "/{request_id}", self._result, methods=["GET"]),
            ],
            items=self.jobs,
            **options,
        )

    # ------------------------------------------------------------------ inspection

    def status_url(self, request_id: str) -> str:
        return f"{self.url}{REQUESTS_PATH}/{request_id}/status"

    def response_url(self, request_id: str) -> str:
        return f"{self.url}{REQUESTS_PATH}/{request_id}"

    def status_requests(self, request_id: str | None = None) -> list[Recorded]:
        """Requests to `GET /v2/requests/{id}/status` (for one id, or all)."""
        return self._polls(REQUESTS_PATH, request_id, "/status")

    def result_requests(self, request_id: str | None = None) -> list[Recorded]:
        """Requests to `GET /v2/requests/{id}` (for one id, or all)."""
        return self._polls(REQUESTS_PATH, request_id)

    # only_job(): the one job. wait_for_job(count=1, timeout=10.0): wait until at least `count`
    # jobs were created; returns all jobs in submission order.
    only_job = FakeProvider._only
    wait_for_job = FakeProvider._wait_for_items

    async def wait_for_requests(
        self, path_prefix: str, count: int = 1, timeout: float = 10.0
    ) -> list[Recorded]:
        """Wait until at least `count` requests whose path starts with `path_prefix` arrived."""
        return await self._wait_for_requests(
            lambda r: r.path.startswith(path_prefix), f"{path_prefix}*", count, timeout
        )

    # ------------------------------------------------------------------ scripting

    def complete(
        self,
        request_id: str,
        *,
        result_size: int | None = None,
        output_shape: OutputShape | None = None,
    ) -> None:
        """Finish a job successfully (COMPLETED); output_shape None keeps the job's shape."""
        job = self._get(request_id)
        if output_shape is not None:
            _check_output_shape(output_shape)
            job.output_shape = output_shape
        if result_size is not None:
            job.result_size = result_size
        job.status = "COMPLETED"
        job.error = None
        job.completed_at = time.time()

    def fail(self, request_id: str, error: str = "Inference failed") -> None:
        """Finish a job as FAILED (e.g. a content block): its polls answer HTTP 422."""
        job = self._get(request_id)
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
            job = self._get(request_id)
            job.status = status
            job.error = None
            job.completed_at = None

    def expire(self, request_id: str) -> None:
        """Forget a job as Segmind does after its retention: status/result/file answer 404."""
        self._get(request_id).expired = True

    def refuse_next_submit(self, http_status: int, error: str, *, times: int = 1) -> None:
        """Answer the next submit(s) with HTTP `http_status` and `{"error": error}`; no job."""
        self._refuse_next(_answer(http_status, error), times)

    def fail_next_status(
        self, http_status: int = 500, error: str = "Internal server error", *, times: int = 1
    ) -> None:
        """Answer the next status request(s) with HTTP `http_status` and `{"error": error}`."""
        self._status_faults.add(_answer(http_status, error), times)

    def fail_next_result(
        self, http_status: int = 500, error: str = "Internal server error", *, times: int = 1
    ) -> None:
        """Answer the next result request(s) with HTTP `http_status` and `{"error": error}`."""
        self._result_faults.add(_answer(http_status, error), times)

    # ------------------------------------------------------------------ HTTP handlers

    def _auth_error(self, request: Request) -> JSONResponse | None:
        key = request.headers.get("x-api-key", "").strip()
        if not key:
            return _error(401, "Missing API key: send it in the x-api-key header")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return _error(401, "Invalid API key")
        return None

    def _bad_body_answer(self, problem: str) -> Response:
        return _error(400, problem)

    def _rate_limit_answer(self, retry_after: int) -> Response:
        return _error(429, "Rate limit exceeded: too many requests, try again later")

    def _not_found_answer(self) -> Response:
        return _error(404, "Not Found")

    def _hang_answer(self) -> Response:  # after hang_next_submit(..., accept=False)
        return _error(504, "Request timed out")

    def _accept_submit(self, body: dict[str, Any]) -> Response:
        problem = _submit_problem(body)
        if problem is not None:
            return _error(400, problem)
        mode = body.get("mode")
        job = FakeJob(
            request_id=str(uuid.uuid4()),
            video_url=body["video_url"],
            prompt=body.get("prompt"),
            mode=mode if isinstance(mode, str) else DEFAULT_MODE,
            first_frame_url=body.get("first_frame_url"),
            result_size=self.result_size,
            output_shape=self.output_shape,
        )
        self.jobs[job.request_id] = job
        return JSONResponse(
            {
                "request_id": job.request_id,
                "status": "QUEUED",
                "status_url": self.status_url(job.request_id),
                "response_url": self.response_url(job.request_id),
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
        return {"created_at": utc_text(job.created_at), "completed_at": utc_text(job.completed_at)}

    async def _polled_job(self, request: Request, faults: ScriptedAnswers) -> Response | FakeJob:
        """The live job a poll asks for, or the answer it gets instead (scripted, 401, 404)."""
        refused = await self._record_checked(request, faults)
        if refused is not None:
            return refused
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
        job = await self._polled_job(request, self._status_faults)
        if not isinstance(job, FakeJob):
            return job
        complete = self._poll(job, running=job.status in ("QUEUED", "PROCESSING"))
        if (
            self.processing_after_polls is not None
            and job.status == "QUEUED"
            and job.polls >= self.processing_after_polls
        ):
            job.status = "PROCESSING"
        if complete:
            self.complete(job.request_id)
        if job.status == "FAILED":
            return self._failed(job)
        return JSONResponse(
            {"status": job.status, "request_id": job.request_id, "metrics": self._metrics(job)}
        )

    async def _result(self, request: Request) -> Response:
        job = await self._polled_job(request, self._result_faults)
        if not isinstance(job, FakeJob):
            return job
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

    def _result_size(self, request_id: str) -> int | None:
        job = self._live_job(request_id)
        if job is None or job.status != "COMPLETED":
            return None
        return job.result_size
