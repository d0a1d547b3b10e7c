"""A fake KIE.ai / Apikley "Luma Modify" API server for tests (starlette, served on loopback).

It follows the wire contract in `reference/providers.md` section 1 to the letter: errors travel
*inside* an HTTP 200 body (`{"code": 401, "msg": ...}`), `record-info` answers in either
documented shape (`successFlag` with a JSON-string `paramJson`, or seed 003's flat `status`
shape), result files are served from the fake itself, and callbacks can be sent in the envelope
or the flat shape, optionally HMAC-signed.

It also fakes KIE's File Upload API (`reference/providers.md`, "File Upload API"): a multipart
`POST /api/file-stream-upload` (`file`, `uploadPath`, optional `fileName`) stores the file in
`uploads` (by filePath; the same fileName in the same uploadPath overwrites) and answers its
`downloadUrl`, where the fake serves it back (`/uploads/<filePath>`, GET and HEAD, no key), so a
job submitted with that videoUrl can be fetched like any other link. Unlike the rest of KIE, that
API answers errors with the HTTP status equal to the code: `{"success": false, "code": 400 |
401 | 500, "msg": ...}`. Bodies over `max_upload_bytes` are read and dropped (never held), and
refused with 400.

Typical use in a test::

    async with FakeKie() as kie:                       # or: await kie.start() ... await kie.stop()
        env = {"PROVIDER": "kie", "PROVIDER_BASE_URL": kie.url, "PROVIDER_API_KEY": TEST_KIE_KEY}
        ...                                            # drive the bot so that it submits a job
        [upload] = await kie.wait_for_upload()         # a user's video went up (file upload)
        assert kie.uploads[upload.file_path].content == video_bytes
        assert upload.download_url == kie.upload_url(upload.file_path)  # {kie.url}/uploads/...
        [task] = await kie.wait_for_task()             # the job reached the provider
        kie.complete(task.task_id)                     # or complete_after_polls=N at construction
        await kie.send_callback(task.task_id, hmac_key="secret")   # webhook mode
        assert kie.file_downloads[task.task_id] == 1

Faults, scripted as tests/fakes/provider_base.py says: `refuse_next_generate`,
`hang_next_generate`, `close_next_generate` (one queue for the generate endpoint),
`fail_next_status` (record-info), and `refuse_next_upload`, `hang_next_upload`,
`close_next_upload` (one queue for file-stream-upload). A wrong key needs no script: send another
key. `expire_uploads` forgets stored files, as KIE does after ~24 h.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, Unpack
from urllib.parse import quote

import httpx
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive

from tests.fakes.faults import Answer, DropConnection, SubmitFault, park
from tests.fakes.provider_base import FakeProvider, Options, Recorded
from tests.fakes.result_files import result_file_bytes
from tests.fakes.wire import compact_json, is_http_url, utc_text

__all__ = [
    "CREDIT_PATH",
    "DOWNLOAD_URL_PATH",
    "FAILURE_FLAGS",
    "GENERATE_PATH",
    "MAX_PROMPT_CHARS",
    "MAX_UPLOAD_BYTES",
    "RESULT_DURATION_S",
    "STATUS_PATH",
    "SUCCESS_FLAGS",
    "TEST_KIE_KEY",
    "UPLOADS_PREFIX",
    "UPLOAD_PATH",
    "FakeKie",
    "FakeTask",
    "Recorded",
    "UploadedFile",
    "result_file_bytes",
]

TEST_KIE_KEY = "kie-test-key-0123456789abcdef"

GENERATE_PATH = "/api/v1/modify/generate"
STATUS_PATH = "/api/v1/modify/record-info"
CREDIT_PATH = "/api/v1/chat/credit"
DOWNLOAD_URL_PATH = "/api/v1/common/download-url"
UPLOAD_PATH = "/api/file-stream-upload"
UPLOADS_PREFIX = "/uploads"  # where the fake serves uploaded files: /uploads/<filePath>

MAX_PROMPT_CHARS = 800
RESULT_DURATION_S = 8

SUCCESS_FLAGS = (1, 4)  # 4 = "callback failed": the result is still valid
FAILURE_FLAGS = (2, 3)

# The fake's bound on an upload's body (KIE documents none for file-stream-upload): above what a
# bot may download from Telegram (20 MB), small enough that a test cannot blow up memory.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int | None) -> str | None:
    return utc_text(None if ms is None else ms / 1000)


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


@dataclass(frozen=True)
class UploadedFile:
    """A file the fake received on file-stream-upload and stored (and serves at download_url)."""

    content: bytes
    upload_path: str  # the form's uploadPath, without surrounding slashes
    file_name: str  # the form's fileName, or the unique name the fake made
    mime_type: str  # the file part's Content-Type (application/octet-stream if it had none)
    fields: tuple[str, ...]  # the names of the form's fields and files, in the order received
    authorization: str | None  # the Authorization header the request carried
    part_filename: str | None  # the filename the file part carried, if any
    download_url: str
    uploaded_at: str  # ISO 8601 UTC, as answered

    @property
    def file_path(self) -> str:
        """`<uploadPath>/<fileName>`: the key in FakeKie.uploads."""
        return f"{self.upload_path}/{self.file_name}"

    @property
    def file_size(self) -> int:
        return len(self.content)


def _kie(code: int, msg: str, data: Any = None, *, with_data: bool = False) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if with_data:
        body["data"] = data
    return JSONResponse(body)


def _ok(data: Any) -> JSONResponse:
    return _kie(200, "success", data, with_data=True)


def _answer(http_status: int, code: int, msg: str) -> Answer:
    """A scripted answer: `{"code": code, "msg": msg}` (no data) with HTTP `http_status`."""
    return lambda: JSONResponse({"code": code, "msg": msg}, status_code=http_status)


_UPLOAD_REASONS = {
    400: "Bad parameters",
    401: "You do not have access permissions",
    500: "Server Error",
}


def _upload_error(code: int, msg: str) -> JSONResponse:
    """An error of the File Upload API: HTTP status = code, `{"success": false, ...}`."""
    return JSONResponse({"success": False, "code": code, "msg": msg}, status_code=code)


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` bytes: then the rest is read and
    dropped (never held), so that the client still gets an answer."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        else:
            chunks.clear()
    return b"".join(chunks) if size <= limit else None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that delivers `body` in one message, then defers to `receive` (which
    then reports the client's disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _folder_problem(upload_path: str) -> str | None:
    """Why `upload_path` (surrounding slashes stripped) is not a folder path, or None."""
    if not upload_path:
        return "uploadPath is required"
    if any(part in ("", ".", "..") for part in upload_path.split("/")):
        return "uploadPath must be a folder path such as videos/user-uploads"
    return None


def _name_problem(file_name: str) -> str | None:
    """Why `file_name` is not a plain file name, or None."""
    if "/" in file_name or "\\" in file_name or file_name in (".", ".."):
        return "fileName must be a file name, not a path"
    return None


def _unique_name(part_filename: str | None) -> str:
    """A fresh file name that keeps the extension of the part's filename, if it has a sane one."""
    suffix = PurePosixPath((part_filename or "").replace("\\", "/")).suffix
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,16}", suffix):
        suffix = ""
    return f"{_now_ms()}-{secrets.token_hex(6)}{suffix}"


def _submit_problem(body: dict[str, Any]) -> str | None:
    """Why KIE refuses the submit's fields (code 422), or None when they are good."""
    prompt, video_url = body.get("prompt"), body.get("videoUrl")
    callback_url, watermark = body.get("callBackUrl"), body.get("watermark")
    model = body.get("model")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required and must be a non-empty string"
    if len(prompt) > MAX_PROMPT_CHARS:
        return f"prompt must be at most {MAX_PROMPT_CHARS} characters"
    if not is_http_url(video_url):
        return "videoUrl is required and must be a valid http(s) URL"
    if callback_url is not None and not is_http_url(callback_url):
        return "callBackUrl must be a valid http(s) URL"
    if watermark is not None and not isinstance(watermark, str):
        return "watermark must be a string"
    if model is not None and model != "luma-modify":
        return "model must be 'luma-modify'"
    return None


class FakeKie(FakeProvider[FakeTask], label="KIE", noun="task"):
    """The fake KIE.ai / Apikley API. `url` is its root (use it as PROVIDER_BASE_URL)."""

    def __init__(
        self,
        api_key: str = TEST_KIE_KEY,
        *,
        status_shape: Literal["successFlag", "status"] = "successFlag",
        max_active_tasks: int | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        **options: Unpack[Options],
    ) -> None:
        """`options` as for every fake (provider_base.Options); `rate_limit` is KIE's own (20
        submits in 10 s) unless given (uploads don't count). An upload whose body is longer than
        `max_upload_bytes` is refused with 400."""
        options.setdefault("rate_limit", (20, 10.0))
        self.status_shape: Literal["successFlag", "status"] = status_shape
        self.max_active_tasks = max_active_tasks
        self.max_upload_bytes = max_upload_bytes
        self.credits: int = 100
        self.status_delay = 0.0  # seconds each status answer takes (a real provider's latency)
        self.tasks: dict[str, FakeTask] = {}
        self.uploads: dict[str, UploadedFile] = {}  # the stored files, by filePath
        self.upload_history: list[UploadedFile] = []  # every upload stored, overwritten ones too
        self._upload_faults: deque[SubmitFault] = deque()
        super().__init__(
            api_key,
            submit_path=GENERATE_PATH,
            routes=[  # matched before provider_base's catch-all 404
                Route(STATUS_PATH, self._record_info, methods=["GET"]),
                Route(CREDIT_PATH, self._credit, methods=["GET"]),
                Route(DOWNLOAD_URL_PATH, self._download_url, methods=["POST"]),
                Route(UPLOAD_PATH, self._upload, methods=["POST"]),
                Route(
                    UPLOADS_PREFIX + "/{file_path:path}",
                    self._uploaded_file,
                    methods=["GET", "HEAD"],
                ),
            ],
            items=self.tasks,
            **options,
        )

    # ------------------------------------------------------------------ inspection

    generate_requests = FakeProvider.submit_requests

    def status_requests(self, task_id: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path == STATUS_PATH and (task_id is None or r.query.get("taskId") == task_id)
        ]

    # only_task(): the one task. wait_for_task(count=1, timeout=10.0): wait until at least
    # `count` tasks were created; returns all tasks in submission order.
    only_task = FakeProvider._only
    wait_for_task = FakeProvider._wait_for_items

    async def wait_for_requests(
        self, path: str, count: int = 1, timeout: float = 10.0
    ) -> list[Recorded]:
        """Wait until at least `count` requests to `path` arrived; returns them in order."""
        return await self._wait_for_requests(lambda r: r.path == path, path, count, timeout)

    def upload_requests(self) -> list[Recorded]:
        """The requests to file-stream-upload, refused ones too (`raw` is empty for a body over
        `max_upload_bytes`)."""
        return [r for r in self.requests if r.path == UPLOAD_PATH]

    def upload_url(self, file_path: str) -> str:
        """Where the fake serves the file stored at `file_path` (its answer's downloadUrl)."""
        return f"{self.url}{UPLOADS_PREFIX}/{quote(file_path, safe='/')}"

    async def wait_for_upload(self, count: int = 1, timeout: float = 10.0) -> list[UploadedFile]:
        """Wait until at least `count` uploads were stored; returns every upload stored, in
        order (`upload_history`: one that a later one overwrote is still there)."""
        history = self.upload_history
        await self._wait(lambda: len(history) >= count, timeout, f"{count} upload(s)")
        return list(history)

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
        task = self._get(task_id)
        if success_flag not in (0, 1, 2, 3, 4):
            raise ValueError(f"success_flag must be 0..4, got {success_flag}")
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
        self._refuse_next(_answer(http_status, code, msg), times)

    # hang_next_generate(seconds, *, accept=True, times=1): without accept, the answer after the
    # delay is `{"code": 500, "msg": "Server Error"}`. close_next_generate(*, times=1).
    hang_next_generate = FakeProvider.hang_next_submit
    close_next_generate = FakeProvider.close_next_submit

    def refuse_next_upload(
        self, code: int = 500, msg: str | None = None, *, times: int = 1
    ) -> None:
        """Answer the next upload request(s) with HTTP `code` and `{"success": false, "code":
        code, "msg": msg}` (msg None: a usual reason for that code); nothing is stored."""
        reason = msg if msg is not None else _UPLOAD_REASONS.get(code, "Server Error")
        self._upload_faults.extend(
            SubmitFault(lambda: _upload_error(code, reason)) for _ in range(times)
        )

    def hang_next_upload(
        self, seconds: float = 600.0, *, accept: bool = True, times: int = 1
    ) -> None:
        """Answer the next upload request(s) only after `seconds` (by default well past any
        client time-out); the wait ends early when the client disconnects or the fake stops.

        accept=True: the request is handled normally at once (a valid upload is stored, so KIE
        "got it") and that answer is sent after the delay. accept=False: nothing is stored and
        the answer after the delay is `{"success": false, "code": 500, "msg": "Server Error"}`.
        """
        fault = SubmitFault(
            lambda: _upload_error(500, "Server Error"), hang_seconds=seconds, accept=accept
        )
        self._upload_faults.extend(fault for _ in range(times))

    def close_next_upload(self, *, times: int = 1) -> None:
        """Drop the connection of the next upload request(s) without a complete answer; nothing
        is stored."""
        self._upload_faults.extend(SubmitFault(DropConnection) for _ in range(times))

    def expire_uploads(self, *file_paths: str) -> None:
        """Forget the stored files at `file_paths` (all of them when none is given), as KIE does
        after ~24 h: their downloadUrl then answers 404. `upload_history` keeps them."""
        for file_path in file_paths or tuple(self.uploads):
            del self.uploads[file_path]

    def fail_next_status(
        self, *, http_status: int = 200, code: int = 500, msg: str = "Server Error", times: int = 1
    ) -> None:
        """Answer the next record-info request(s) with `{"code": code, "msg": msg}`."""
        self._status_faults.add(_answer(http_status, code, msg), times)

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
        data: dict[str, Any] = {"taskId": task.task_id, "promptJson": self._param_json(task)}
        if not success:
            return {"code": 500, "msg": "Modify record generation failed.", "data": data}
        data["resultUrls"] = [self.result_url(task_id)]
        return {"code": 200, "msg": "Modify record generated successfully.", "data": data}

    async def send_callback(
        self,
        task_id: str,
        *,
        shape: Literal["envelope", "flat"] = "envelope",
        url: str | None = None,
        hmac_key: str | None = None,
        timestamp: int | str | None = None,
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
            body = compact_json(self.callback_body(task_id, shape)).encode()
        headers = {"Content-Type": "application/json"}
        if hmac_key is not None:
            ts = int(time.time()) if timestamp is None else timestamp
            signed = f"{task_id}.{ts}".encode()
            digest = hmac.new(hmac_key.encode(), signed, hashlib.sha256).digest()
            headers["X-Webhook-Timestamp"] = str(ts)
            headers["X-Webhook-Signature"] = base64.b64encode(digest).decode()
        async with httpx.AsyncClient(timeout=15.0) as client:
            # Latin-1, as servers read header bytes: an odd timestamp "²" arrives as "²".
            raw = [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]
            return await client.post(target, content=body, headers=raw)

    # ------------------------------------------------------------------ HTTP handlers

    def _auth_error(self, request: Request) -> JSONResponse | None:
        if self._has_bearer_key(request):
            return None
        return _kie(401, "You do not have access permissions")

    def _bad_body_answer(self, problem: str) -> Response:
        return _kie(400, problem)

    def _rate_limit_answer(self, retry_after: int) -> Response:
        return _kie(429, "Rate limit exceeded: too many requests, please try again later")

    def _not_found_answer(self) -> Response:
        return JSONResponse({"code": 404, "msg": "Not Found"}, status_code=404)

    def _hang_answer(self) -> Response:
        return _kie(500, "Server Error")

    def _accept_submit(self, body: dict[str, Any]) -> Response:
        problem = _submit_problem(body)
        if problem is not None:
            return _kie(422, problem)
        active = sum(1 for t in self.tasks.values() if t.success_flag == 0)
        if self.max_active_tasks is not None and active >= self.max_active_tasks:
            return _kie(429, "The number of concurrent tasks exceeds the limit")
        task = FakeTask(
            task_id=secrets.token_hex(16),
            prompt=body["prompt"],
            video_url=body["videoUrl"],
            callback_url=body.get("callBackUrl"),
            watermark=body.get("watermark"),
            result_size=self.result_size,
            model=body.get("model"),
        )
        self.tasks[task.task_id] = task
        return _ok({"taskId": task.task_id})

    def _param_json(self, task: FakeTask) -> str:
        return compact_json(
            {
                "callBackUrl": task.callback_url or "",
                "prompt": task.prompt,
                "videoUrl": task.video_url,
                "waterMark": task.watermark or "",
            }
        )

    async def _record_info(self, request: Request) -> Response:
        if self.status_delay:
            await asyncio.sleep(self.status_delay)
        refused = await self._record_checked(request, self._status_faults)
        if refused is not None:
            return refused
        task_id = request.query_params.get("taskId", "")
        if not task_id:
            return _kie(422, "taskId is required")
        task = self.tasks.get(task_id)
        if task is None:
            return _kie(404, f"Task not found: {task_id}")
        if self._poll(task, running=task.success_flag == 0):
            self.complete(task_id)
        flat = self.status_shape == "status"
        return _ok(self._flat_record_data(task) if flat else self._record_data(task))

    def _record_data(self, task: FakeTask) -> dict[str, Any]:
        """record-info's `data` as the docs show it (`successFlag`, a JSON-string `paramJson`)."""
        flag = task.success_flag
        response: dict[str, Any] | None = None
        if flag != 0:
            response = {"taskId": task.task_id, "originUrls": [task.video_url]}
            if flag in SUCCESS_FLAGS:
                response["resultUrls"] = [self.result_url(task.task_id)]
        return {
            "taskId": task.task_id,
            "paramJson": self._param_json(task),
            "completeTime": task.complete_time_ms,
            "response": response,
            "successFlag": flag,
            "createTime": task.create_time_ms,
            "errorCode": task.error_code,
            "errorMessage": task.error_message,
        }

    def _flat_record_data(self, task: FakeTask) -> dict[str, Any]:
        """record-info's `data` in seed 003's flat shape (`status`, `videoUrl`)."""
        flag = task.success_flag
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "status": flag,
            "videoUrl": self.result_url(task.task_id) if flag in SUCCESS_FLAGS else None,
            "duration": RESULT_DURATION_S,
            "createdAt": _iso(task.create_time_ms),
            "completedAt": _iso(task.complete_time_ms),
        }
        if flag in FAILURE_FLAGS and task.error_message is not None:
            data["errorMessage"] = task.error_message
        return data

    async def _credit(self, request: Request) -> Response:
        refused = await self._record_checked(request)
        return _ok(self.credits) if refused is None else refused

    async def _download_url(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._post_error(request, rec)
        if refused is not None:
            return refused
        url = rec.json.get("url")
        if not isinstance(url, str) or not url.startswith(f"{self.url}/files/"):
            return _kie(422, "Only KIE result URLs can be converted to download links")
        return _ok(url + "?dl=1")

    async def _upload(self, request: Request) -> Response:
        """file-stream-upload: the body read within `max_upload_bytes` and recorded, then a
        scripted fault if one is queued, else the normal answer."""
        body = await _bounded_body(request, self.max_upload_bytes)
        replayed = Request(request.scope, _replay(body or b"", request.receive))
        await self._record(replayed)
        fault = self._upload_faults.popleft() if self._upload_faults else None
        if fault is None:
            return await self._handle_upload(replayed, body)
        if fault.hang_seconds is None:
            return fault.answer()
        response = await self._handle_upload(replayed, body) if fault.accept else fault.answer()
        await park(request, fault.hang_seconds, self._stopping)
        return response

    async def _handle_upload(self, request: Request, body: bytes | None) -> Response:
        """The normal answer to an upload: the key, the size bound, the form, then the file is
        stored (replacing one at the same filePath)."""
        if not self._has_bearer_key(request):
            return _upload_error(401, "You do not have access permissions")
        if body is None:
            return _upload_error(400, f"File too large: at most {self.max_upload_bytes} bytes")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "multipart/form-data":
            return _upload_error(400, "Content-Type must be multipart/form-data")
        try:
            async with request.form(max_files=1, max_fields=16) as form:
                fields = tuple(name for name, _ in form.multi_items())
                part, folder, name = form.get("file"), form.get("uploadPath"), form.get("fileName")
                if not isinstance(part, UploadFile):
                    return _upload_error(400, "file is required")
                content = await part.read()
                part_filename, mime_type = part.filename, part.content_type
        except (MultiPartException, HTTPException) as exc:
            detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
            return _upload_error(400, f"Invalid multipart body: {detail}")
        if not content:
            return _upload_error(400, "file is empty")
        upload_path = folder.strip().strip("/") if isinstance(folder, str) else ""
        problem = _folder_problem(upload_path)
        file_name = name.strip() if isinstance(name, str) else ""
        if problem is None and file_name:
            problem = _name_problem(file_name)
        if problem is not None:
            return _upload_error(400, problem)
        file_name = file_name or _unique_name(part_filename)
        file_path = f"{upload_path}/{file_name}"
        stored = UploadedFile(
            content=content,
            upload_path=upload_path,
            file_name=file_name,
            mime_type=mime_type or "application/octet-stream",
            fields=fields,
            authorization=request.headers.get("authorization"),
            part_filename=part_filename,
            download_url=self.upload_url(file_path),
            uploaded_at=utc_text(time.time()) or "",
        )
        self.uploads[file_path] = stored
        self.upload_history.append(stored)
        data = {
            "fileName": stored.file_name,
            "filePath": file_path,
            "downloadUrl": stored.download_url,
            "fileSize": stored.file_size,
            "mimeType": stored.mime_type,
            "uploadedAt": stored.uploaded_at,
        }
        return JSONResponse(
            {"success": True, "code": 200, "msg": "File uploaded successfully", "data": data}
        )

    async def _uploaded_file(self, request: Request) -> Response:
        """A stored upload, served without a key (GET: its bytes; HEAD: its length and type)."""
        await self._record(request)
        stored = self.uploads.get(request.path_params["file_path"])
        if stored is None:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        if request.method == "HEAD":
            headers = {"Content-Length": str(stored.file_size)}
            return Response(b"", headers=headers, media_type=stored.mime_type)
        return Response(stored.content, media_type=stored.mime_type)

    def _result_size(self, task_id: str) -> int | None:
        task = self.tasks.get(task_id)
        if task is None or task.success_flag not in SUCCESS_FLAGS:
            return None
        return task.result_size
