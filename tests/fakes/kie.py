"""A fake KIE.ai / Apikley "Luma Modify" API server for tests (starlette, served on loopback).

It follows the wire contract in `reference/providers.md` section 1 to the letter: errors travel
*inside* an HTTP 200 body (`{"code": 401, "msg": ...}`), `record-info` answers in either
documented shape (`successFlag` with a JSON-string `paramJson`, or seed 003's flat `status`
shape), result files are served from the fake itself, and callbacks can be sent in the envelope
or the flat shape, optionally HMAC-signed.

Typical use in a test::

    async with FakeKie() as kie:                       # or: await kie.start() ... await kie.stop()
        env = {"PROVIDER": "kie", "PROVIDER_BASE_URL": kie.url, "PROVIDER_API_KEY": TEST_KIE_KEY}
        ...                                            # drive the bot so that it submits a job
        [task] = await kie.wait_for_task()             # the job reached the provider
        kie.complete(task.task_id)                     # or complete_after_polls=N at construction
        await kie.send_callback(task.task_id, hmac_key="secret")   # webhook mode
        assert kie.file_downloads[task.task_id] == 1

Faults are scripted ahead of the request they affect and consume themselves, FIFO:
`refuse_next_generate`, `hang_next_generate`, `close_next_generate` (one shared queue for the
generate endpoint) and `fail_next_status` (record-info). A scripted fault takes precedence over
normal handling (even over the key check), but every request is still recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.server import LoopbackServer, StartStop

TEST_KIE_KEY = "kie-test-key-0123456789abcdef"

GENERATE_PATH = "/api/v1/modify/generate"
STATUS_PATH = "/api/v1/modify/record-info"
CREDIT_PATH = "/api/v1/chat/credit"
DOWNLOAD_URL_PATH = "/api/v1/common/download-url"

MAX_PROMPT_CHARS = 800
RESULT_DURATION_S = 8
FILE_CHUNK = 64 * 1024

SUCCESS_FLAGS = (1, 4)  # 4 = "callback failed": the result is still valid
FAILURE_FLAGS = (2, 3)

_HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


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


@dataclass
class FakeTask:
    """A generation task as the fake provider sees it."""

    task_id: str
    prompt: str
    video_url: str
    callback_url: str | None
    watermark: str | None
    # 0 generating, 1 success, 2 create failed, 3 generate failed, 4 callback failed
    success_flag: int = 0
    error_code: int | str | None = None
    error_message: str | None = None
    result_size: int = 200_000  # bytes of the result file served at result_url
    polls: int = 0  # record-info calls seen for this task
    create_time_ms: int = field(default_factory=_now_ms)
    complete_time_ms: int | None = None
    model: str | None = None  # the optional `model` field of the request, as sent


@dataclass
class _Fault:
    kind: Literal["refuse", "hang", "close"]
    code: int = 0
    msg: str = ""
    http_status: int = 200
    seconds: float = 0.0
    accept: bool = True


@dataclass
class _StatusFault:
    http_status: int
    code: int
    msg: str


class _DropConnection(Response):
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


def _kie(code: int, msg: str, data: Any = None, *, with_data: bool = False) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if with_data:
        body["data"] = data
    return JSONResponse(body)


def _ok(data: Any) -> JSONResponse:
    return _kie(200, "success", data, with_data=True)


class FakeKie(StartStop):
    """The fake KIE.ai / Apikley API. `url` is its root (use it as PROVIDER_BASE_URL)."""

    def __init__(
        self,
        api_key: str = TEST_KIE_KEY,
        *,
        status_shape: Literal["successFlag", "status"] = "successFlag",
        complete_after_polls: int | None = None,
        result_size: int = 200_000,
        rate_limit: tuple[int, float] | None = (20, 10.0),
        max_active_tasks: int | None = None,
    ) -> None:
        if complete_after_polls is not None and complete_after_polls < 1:
            raise ValueError("complete_after_polls must be >= 1")
        self.api_key = api_key
        self.status_shape: Literal["successFlag", "status"] = status_shape
        self.complete_after_polls = complete_after_polls
        self.result_size = result_size
        self.rate_limit = rate_limit
        self.max_active_tasks = max_active_tasks
        self.credits: int = 100

        self.requests: list[Recorded] = []
        self.tasks: dict[str, FakeTask] = {}
        self.file_downloads: dict[str, int] = {}

        self._generate_faults: deque[_Fault] = deque()
        self._status_faults: deque[_StatusFault] = deque()
        self._generate_times: deque[float] = deque()
        self._stopping = asyncio.Event()

        self.app = Starlette(
            routes=[
                Route(GENERATE_PATH, self._generate, methods=["POST"]),
                Route(STATUS_PATH, self._record_info, methods=["GET"]),
                Route(CREDIT_PATH, self._credit, methods=["GET"]),
                Route(DOWNLOAD_URL_PATH, self._download_url, methods=["POST"]),
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
        self._stopping.set()  # wakes requests parked by hang_next_generate
        await self._server.stop()

    # ------------------------------------------------------------------ inspection

    def result_url(self, task_id: str) -> str:
        return f"{self.url}/files/{task_id}.mp4"

    def generate_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == GENERATE_PATH]

    def status_requests(self, task_id: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path == STATUS_PATH and (task_id is None or r.query.get("taskId") == task_id)
        ]

    def only_task(self) -> FakeTask:
        assert len(self.tasks) == 1, (
            f"expected exactly one task, got {len(self.tasks)}: {self.tasks}"
        )
        return next(iter(self.tasks.values()))

    async def wait_for_task(self, count: int = 1, timeout: float = 10.0) -> list[FakeTask]:
        """Wait until at least `count` tasks were created; returns all tasks in submission order."""
        await self._wait(lambda: len(self.tasks) >= count, timeout, f"{count} task(s)")
        return list(self.tasks.values())

    async def wait_for_requests(
        self, path: str, count: int = 1, timeout: float = 10.0
    ) -> list[Recorded]:
        """Wait until at least `count` requests to `path` arrived; returns them in order."""

        def matching() -> list[Recorded]:
            return [r for r in self.requests if r.path == path]

        await self._wait(lambda: len(matching()) >= count, timeout, f"{count} request(s) to {path}")
        return matching()

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                seen = [f"{r.method} {r.path}" for r in self.requests]
                raise AssertionError(
                    f"fake KIE: timed out after {timeout}s waiting for {what}; "
                    f"tasks={len(self.tasks)}, requests seen: {seen}"
                )
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ scripting

    def complete(
        self,
        task_id: str,
        *,
        success_flag: int = 1,
        result_size: int | None = None,
        error_code: int | str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Finish a task: 1 success, 2 create failed, 3 generate failed, 4 callback failed."""
        if task_id not in self.tasks:
            raise KeyError(f"fake KIE: no task {task_id!r}; known: {list(self.tasks)}")
        if success_flag not in (0, 1, 2, 3, 4):
            raise ValueError(f"success_flag must be 0..4, got {success_flag}")
        task = self.tasks[task_id]
        task.success_flag = success_flag
        if result_size is not None:
            task.result_size = result_size
        task.error_code = error_code
        task.error_message = error_message
        task.complete_time_ms = None if success_flag == 0 else _now_ms()

    def refuse_next_generate(
        self, code: int, msg: str, *, http_status: int = 200, times: int = 1
    ) -> None:
        """Answer the next generate request(s) with `{"code": code, "msg": msg}` (no data)."""
        for _ in range(times):
            self._generate_faults.append(
                _Fault("refuse", code=code, msg=msg, http_status=http_status)
            )

    def hang_next_generate(self, seconds: float, *, accept: bool = True, times: int = 1) -> None:
        """Sleep `seconds` before answering the next generate request(s).

        accept=True: the request is handled normally at once (the task is created if valid, so
        the provider "got it") and that answer is sent after the delay. accept=False: no task is
        created and the answer after the delay is `{"code": 500, "msg": "Server Error"}`.
        If the client disconnects (or the fake stops) during the delay, the wait ends early.
        """
        for _ in range(times):
            self._generate_faults.append(_Fault("hang", seconds=seconds, accept=accept))

    def close_next_generate(self, *, times: int = 1) -> None:
        """Drop the connection of the next generate request(s) without a complete answer."""
        for _ in range(times):
            self._generate_faults.append(_Fault("close"))

    def fail_next_status(
        self, *, http_status: int = 200, code: int = 500, msg: str = "Server Error", times: int = 1
    ) -> None:
        """Answer the next record-info request(s) with `{"code": code, "msg": msg}`."""
        for _ in range(times):
            self._status_faults.append(_StatusFault(http_status, code, msg))

    # ------------------------------------------------------------------ callbacks

    def callback_body(
        self, task_id: str, shape: Literal["envelope", "flat"] = "envelope"
    ) -> dict[str, Any]:
        """The callback body KIE would POST for this task in its current (finished) state."""
        task = self.tasks[task_id]
        if task.success_flag not in SUCCESS_FLAGS + FAILURE_FLAGS:
            raise ValueError(f"task {task_id} is still generating: complete() it first")
        success = task.success_flag in SUCCESS_FLAGS
        if shape == "flat":
            return {
                "taskId": task.task_id,
                "status": task.success_flag,
                "videoUrl": self.result_url(task_id) if success else None,
                "duration": RESULT_DURATION_S,
                "completedAt": _iso(task.complete_time_ms),
            }
        if success:
            return {
                "code": 200,
                "msg": "Modify record generated successfully.",
                "data": {
                    "taskId": task.task_id,
                    "promptJson": self._param_json(task),
                    "resultUrls": [self.result_url(task_id)],
                },
            }
        return {
            "code": 500,
            "msg": "Modify record generation failed.",
            "data": {"taskId": task.task_id, "promptJson": self._param_json(task)},
        }

    async def send_callback(
        self,
        task_id: str,
        *,
        shape: Literal["envelope", "flat"] = "envelope",
        url: str | None = None,
        hmac_key: str | None = None,
        timestamp: int | None = None,
        body_override: bytes | None = None,
    ) -> httpx.Response:
        """POST the task's callback to its callBackUrl (or `url`) and return the response.

        With `hmac_key`, adds `X-Webhook-Timestamp` (seconds) and `X-Webhook-Signature` =
        base64(HMAC-SHA256(taskId + "." + timestamp, key)). `body_override` replaces the body
        (the task then need not exist or be finished, but `url` is required if it doesn't exist).
        """
        task = self.tasks.get(task_id)
        target = url or (task.callback_url if task is not None else None)
        if not target:
            raise ValueError(f"no callback URL for task {task_id!r}: pass url=")
        if body_override is not None:
            body = body_override
        else:
            body = _compact(self.callback_body(task_id, shape)).encode()
        headers = {"Content-Type": "application/json"}
        if hmac_key is not None:
            ts = int(time.time()) if timestamp is None else timestamp
            digest = hmac.new(
                hmac_key.encode(), f"{task_id}.{ts}".encode(), hashlib.sha256
            ).digest()
            headers["X-Webhook-Timestamp"] = str(ts)
            headers["X-Webhook-Signature"] = base64.b64encode(digest).decode()
        async with httpx.AsyncClient(timeout=15.0) as client:
            return await client.post(target, content=body, headers=headers)

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
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            return _kie(401, "You do not have access permissions")
        return None

    def _post_error(self, request: Request, rec: Recorded) -> JSONResponse | None:
        auth = self._auth_error(request)
        if auth is not None:
            return auth
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _kie(400, "Content-Type must be application/json")
        if not isinstance(rec.json, dict):
            return _kie(400, "The request body must be a JSON object")
        return None

    async def _generate(self, request: Request) -> Response:
        rec = await self._record(request)
        fault = self._generate_faults.popleft() if self._generate_faults else None
        if fault is None:
            return self._handle_generate(request, rec)
        if fault.kind == "refuse":
            return JSONResponse(
                {"code": fault.code, "msg": fault.msg}, status_code=fault.http_status
            )
        if fault.kind == "close":
            return _DropConnection()
        # hang
        response = self._handle_generate(request, rec) if fault.accept else None
        await self._park(request, fault.seconds)
        return response if response is not None else _kie(500, "Server Error")

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

    def _handle_generate(self, request: Request, rec: Recorded) -> JSONResponse:
        error = self._post_error(request, rec)
        if error is not None:
            return error
        body: dict[str, Any] = rec.json

        if self.rate_limit is not None:
            limit, window = self.rate_limit
            now = time.monotonic()
            while self._generate_times and now - self._generate_times[0] >= window:
                self._generate_times.popleft()
            if len(self._generate_times) >= limit:
                return _kie(429, "Rate limit exceeded: too many requests, please try again later")
            self._generate_times.append(now)

        prompt = body.get("prompt")
        video_url = body.get("videoUrl")
        callback_url = body.get("callBackUrl")
        watermark = body.get("watermark")
        model = body.get("model")
        if not isinstance(prompt, str) or not prompt.strip():
            return _kie(422, "prompt is required and must be a non-empty string")
        if len(prompt) > MAX_PROMPT_CHARS:
            return _kie(422, f"prompt must be at most {MAX_PROMPT_CHARS} characters")
        if not _is_http_url(video_url):
            return _kie(422, "videoUrl is required and must be a valid http(s) URL")
        if callback_url is not None and not _is_http_url(callback_url):
            return _kie(422, "callBackUrl must be a valid http(s) URL")
        if watermark is not None and not isinstance(watermark, str):
            return _kie(422, "watermark must be a string")
        if model is not None and model != "luma-modify":
            return _kie(422, "model must be 'luma-modify'")
        assert isinstance(video_url, str)

        if self.max_active_tasks is not None:
            active = sum(1 for t in self.tasks.values() if t.success_flag == 0)
            if active >= self.max_active_tasks:
                return _kie(429, "The number of concurrent tasks exceeds the limit")

        task_id = secrets.token_hex(16)
        self.tasks[task_id] = FakeTask(
            task_id=task_id,
            prompt=prompt,
            video_url=video_url,
            callback_url=callback_url,
            watermark=watermark,
            result_size=self.result_size,
            model=model,
        )
        return _ok({"taskId": task_id})

    def _param_json(self, task: FakeTask) -> str:
        return _compact(
            {
                "callBackUrl": task.callback_url or "",
                "prompt": task.prompt,
                "videoUrl": task.video_url,
                "waterMark": task.watermark or "",
            }
        )

    async def _record_info(self, request: Request) -> Response:
        await self._record(request)
        if self._status_faults:
            f = self._status_faults.popleft()
            return JSONResponse({"code": f.code, "msg": f.msg}, status_code=f.http_status)
        auth = self._auth_error(request)
        if auth is not None:
            return auth
        task_id = request.query_params.get("taskId", "")
        if not task_id:
            return _kie(422, "taskId is required")
        task = self.tasks.get(task_id)
        if task is None:
            return _kie(404, f"Task not found: {task_id}")

        task.polls += 1
        if (
            self.complete_after_polls is not None
            and task.success_flag == 0
            and task.polls >= self.complete_after_polls
        ):
            self.complete(task_id)

        flag = task.success_flag
        has_result = flag in SUCCESS_FLAGS
        if self.status_shape == "status":
            data: dict[str, Any] = {
                "taskId": task.task_id,
                "status": flag,
                "videoUrl": self.result_url(task_id) if has_result else None,
                "duration": RESULT_DURATION_S,
                "createdAt": _iso(task.create_time_ms),
                "completedAt": _iso(task.complete_time_ms),
            }
            if flag in FAILURE_FLAGS and task.error_message is not None:
                data["errorMessage"] = task.error_message
            return _ok(data)

        response: dict[str, Any] | None = None
        if flag != 0:
            response = {"taskId": task.task_id, "originUrls": [task.video_url]}
            if has_result:
                response["resultUrls"] = [self.result_url(task_id)]
        return _ok(
            {
                "taskId": task.task_id,
                "paramJson": self._param_json(task),
                "completeTime": task.complete_time_ms,
                "response": response,
                "successFlag": flag,
                "createTime": task.create_time_ms,
                "errorCode": task.error_code,
                "errorMessage": task.error_message,
            }
        )

    async def _credit(self, request: Request) -> Response:
        await self._record(request)
        auth = self._auth_error(request)
        if auth is not None:
            return auth
        return _ok(self.credits)

    async def _download_url(self, request: Request) -> Response:
        rec = await self._record(request)
        error = self._post_error(request, rec)
        if error is not None:
            return error
        url = rec.json.get("url")
        if not isinstance(url, str) or not url.startswith(f"{self.url}/files/"):
            return _kie(422, "Only KIE result URLs can be converted to download links")
        return _ok(url + "?dl=1")

    def _result_task(self, name: str) -> FakeTask | None:
        if not name.endswith(".mp4"):
            return None
        task = self.tasks.get(name.removesuffix(".mp4"))
        if task is None or task.success_flag not in SUCCESS_FLAGS:
            return None
        return task

    async def _file(self, request: Request) -> Response:
        await self._record(request)
        task = self._result_task(request.path_params["name"])
        if task is None:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        size = task.result_size
        headers = {"Content-Length": str(size)}
        if request.method == "HEAD":
            return Response(b"", headers=headers, media_type="video/mp4")
        self.file_downloads[task.task_id] = self.file_downloads.get(task.task_id, 0) + 1

        async def chunks() -> AsyncIterator[bytes]:
            for offset, length in _result_chunks(size):
                yield _result_chunk(size, offset, length)

        return StreamingResponse(chunks(), headers=headers, media_type="video/mp4")

    async def _not_found(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"code": 404, "msg": "Not Found"}, status_code=404)
