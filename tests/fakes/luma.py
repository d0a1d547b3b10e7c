"""A fake of Luma Labs' own Dream Machine API ("Modify Video") for tests (starlette, on loopback).

It follows `reference/providers.md` section 3 and the official `lumaai` SDK's types: the API lives
under `/dream-machine/v1` (so the bot's base URL is `fake.base_url`), errors are plain HTTP statuses
with a `{"detail": ...}` body, a submit answers **HTTP 201** with a Generation object, and polling
`GET /generations/{id}` returns the Generation with `state` queued / dreaming / completed / failed,
`assets.video` once completed and `failure_reason` once failed. Result files are served by the
fake itself (`/files/{id}.mp4`, outside the API prefix, no key needed, like a CDN link).

Typical use in a test::

    async with FakeLuma() as luma:                 # or: await luma.start() ... await luma.stop()
        env = {"PROVIDER": "luma", "PROVIDER_BASE_URL": luma.base_url,
               "PROVIDER_API_KEY": TEST_LUMA_KEY}
        ...                                        # drive the bot so that it submits a job
        [gen] = await luma.wait_for_generation()   # the job reached the provider
        luma.set_state(gen.id, "dreaming")
        luma.complete(gen.id)                      # or complete_after_polls=N at construction
        await luma.send_callback(gen.id)           # webhook mode (or auto_callbacks=True)
        assert luma.file_downloads[gen.id] == 1

Faults are scripted ahead of the request they affect and consume themselves, FIFO:
`refuse_next_submit`, `hang_next_submit`, `close_next_submit` (one shared queue for the submit
endpoint) and `fail_next_status` (`GET /generations/{id}`). A scripted fault takes precedence over
normal handling (even over the key check), but every request is still recorded in `requests`.

Error statuses the fake answers on its own (each with `{"detail": "<text>"}`):
400 invalid body (or `validation_status`, e.g. 422), 401 missing/wrong key, 402 insufficient
credits (`credits` <= 0 or below `generation_cost`), 404 unknown generation or path, 429 rate
limited (`rate_limit`, with a `Retry-After` header). The Dream Machine docs name no status for
running out of credits or for rate limiting; 402 and 429 (+ Retry-After) are what Luma documents
for its newer Agents API, and the SDK maps 429 to RateLimitError (402 to a plain APIStatusError).

Callbacks: Luma POSTs the Generation JSON to `callback_url` on each state change (dreaming,
completed, failed), unsigned, with a 5 s timeout, retrying 3 times 100 ms apart when the answer
is not a success. `send_callback` posts once, by hand. With `auto_callbacks=True` every state
change made by the scripting methods (`set_state`, `complete`, `fail`, `complete_after_polls`)
queues a callback that a background worker delivers in order, with those retries; `await
fake.drain()` waits until all queued callbacks were delivered (or gave up). Every attempt, by
hand or automatic, is recorded in `callbacks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.provider_base import (
    Answer,
    FakeProvider,
    Recorded,
    ScriptedAnswers,
    compact_json,
    is_http_url,
    require_positive,
    result_file_bytes,
)

__all__ = [
    "API_PREFIX",
    "CREDITS_PATH",
    "GENERATIONS_PATH",
    "MODELS",
    "MODES",
    "MODIFY_PATH",
    "TEST_LUMA_KEY",
    "FakeGeneration",
    "FakeLuma",
    "Recorded",
    "SentCallback",
    "State",
    "result_file_bytes",
]

TEST_LUMA_KEY = "luma-test-key-0123456789"

API_PREFIX = "/dream-machine/v1"
MODIFY_PATH = f"{API_PREFIX}/generations/video/modify"
GENERATIONS_PATH = f"{API_PREFIX}/generations"  # GET {GENERATIONS_PATH}/{id}
CREDITS_PATH = f"{API_PREFIX}/credits"

GENERATION_TYPE = "modify_video"
MODELS = ("ray-2", "ray-flash-2")
DEFAULT_MODEL = "ray-2"
MODES = tuple(f"{kind}_{n}" for kind in ("adhere", "flex", "reimagine") for n in (1, 2, 3))

State = Literal["queued", "dreaming", "completed", "failed"]
STATES: tuple[State, ...] = get_args(State)
TERMINAL_STATES: tuple[State, ...] = ("completed", "failed")

DEFAULT_FAILURE_REASON = "The generation failed due to an internal error"
CALLBACK_TIMEOUT_S = 5.0
CALLBACK_RETRIES = 3
CALLBACK_RETRY_DELAY_S = 0.1

_DEFAULT_DETAILS = {
    400: "Invalid request",
    401: "Invalid or missing API key",
    402: "Insufficient credits",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable request",
    429: "Too many requests, please slow down",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _detail(
    http_status: int, detail: Any = None, headers: Mapping[str, str] | None = None
) -> Response:
    text = _DEFAULT_DETAILS.get(http_status, "Error") if detail is None else detail
    return JSONResponse({"detail": text}, status_code=http_status, headers=dict(headers or {}))


def _answer(
    http_status: int, detail: Any = None, headers: Mapping[str, str] | None = None
) -> Answer:
    """A scripted answer: `http_status` with `{"detail": detail}` (and `headers`)."""
    headers = dict(headers or {})
    return lambda: _detail(http_status, detail, headers)


@dataclass
class FakeGeneration:
    """A Modify Video generation as the fake provider sees it."""

    id: str
    request: dict[str, Any]  # the request body exactly as sent (parsed JSON)
    media_url: str
    model: str  # as sent, or DEFAULT_MODEL when the request left it out
    mode: str | None
    prompt: str | None
    first_frame_url: str | None
    callback_url: str | None
    state: State = "queued"
    failure_reason: str | None = None
    result_size: int = 200_000  # bytes of the result file served at result_url
    extra_assets: dict[str, str] = field(default_factory=dict)  # e.g. {"image": url}
    polls: int = 0  # GET /generations/{id} calls seen for this generation
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class SentCallback:
    """One callback POST attempt the fake made (by hand or automatically)."""

    generation_id: str
    url: str
    body: bytes
    state: str | None  # the Generation's state in the body (None for an unparsable override)
    attempt: int  # 1 for the first try, 2.. for Luma's retries
    automatic: bool
    status_code: int | None  # None when the request itself failed
    error: str | None  # the transport error, if any


@dataclass
class _QueuedCallback:
    generation_id: str
    url: str
    body: bytes
    state: str


class FakeLuma(FakeProvider[FakeGeneration]):
    """The fake Luma Dream Machine API. `base_url` is what the bot uses as PROVIDER_BASE_URL;
    `url` is the server root (result files live under `{url}/files/`)."""

    _label = "Luma"
    _noun = "generation"
    _not_found_body: ClassVar[dict[str, Any]] = {"detail": "Not Found"}

    def __init__(
        self,
        api_key: str = TEST_LUMA_KEY,
        *,
        complete_after_polls: int | None = None,
        result_size: int = 200_000,
        credits: float = 100.0,
        generation_cost: float = 0.0,
        rate_limit: tuple[int, float] | None = None,
        auto_callbacks: bool = False,
        validation_status: int = 400,
        pending_assets: Literal["null", "empty"] = "null",
    ) -> None:
        require_positive("complete_after_polls", complete_after_polls)
        self.credits: float = credits
        self.generation_cost = generation_cost
        self.auto_callbacks = auto_callbacks
        self.validation_status = validation_status
        self.pending_assets: Literal["null", "empty"] = pending_assets

        self.generations: dict[str, FakeGeneration] = {}
        self.callbacks: list[SentCallback] = []

        self._status_faults = ScriptedAnswers()
        self._callback_queue: asyncio.Queue[_QueuedCallback] = asyncio.Queue()
        self._callback_worker: asyncio.Task[None] | None = None

        super().__init__(
            routes=[
                Route(MODIFY_PATH, self._submit, methods=["POST"]),
                Route(GENERATIONS_PATH + "/{generation_id}", self._status, methods=["GET"]),
                Route(CREDITS_PATH, self._credits, methods=["GET"]),
            ],
            api_key=api_key,
            complete_after_polls=complete_after_polls,
            result_size=result_size,
            rate_limit=rate_limit,
        )
        self.base_url: str = f"{self.url}{API_PREFIX}"

    def _items(self) -> dict[str, FakeGeneration]:
        return self.generations

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await super().start()
        self._callback_worker = asyncio.create_task(self._deliver_callbacks())

    async def stop(self) -> None:
        if self._callback_worker is not None:
            self._callback_worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._callback_worker
            self._callback_worker = None
        await super().stop()

    # ------------------------------------------------------------------ inspection

    def result_url(self, generation_id: str) -> str:
        return self._file_url(generation_id)

    def submit_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == MODIFY_PATH]

    def status_requests(self, generation_id: str | None = None) -> list[Recorded]:
        """GET /generations/{id} requests (all of them, or those for one generation)."""
        prefix = GENERATIONS_PATH + "/"
        return [
            r
            for r in self.requests
            if r.method == "GET"
            and r.path.startswith(prefix)
            and "/" not in r.path.removeprefix(prefix)
            and (generation_id is None or r.path == prefix + generation_id)
        ]

    def only_generation(self) -> FakeGeneration:
        return self._only()

    def generation_json(self, generation_id: str) -> dict[str, Any]:
        """The Generation object as the API serves it now (status answers and callbacks)."""
        gen = self._get(generation_id)
        assets: dict[str, str] | None
        if gen.state == "completed":
            assets = {"video": self.result_url(gen.id), **gen.extra_assets}
        else:
            assets = {} if self.pending_assets == "empty" else None
        return {
            "id": gen.id,
            "generation_type": GENERATION_TYPE,
            "state": gen.state,
            "failure_reason": gen.failure_reason,
            "created_at": _iso(gen.created_at),
            "assets": assets,
            "model": gen.model,
            "request": copy.deepcopy(gen.request),
        }

    async def wait_for_generation(
        self, count: int = 1, timeout: float = 10.0
    ) -> list[FakeGeneration]:
        """Wait until at least `count` generations exist; returns all in submission order."""
        return await self._wait_for_items(count, timeout)

    async def wait_for_requests(
        self, path_suffix: str, count: int = 1, timeout: float = 10.0
    ) -> list[Recorded]:
        """Wait until at least `count` requests whose path ends with `path_suffix` arrived
        (e.g. "/generations/video/modify", "/credits", f"/generations/{id}")."""
        return await self._wait_for_requests(
            lambda r: r.path.endswith(path_suffix), f"*{path_suffix}", count, timeout
        )

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every automatically queued callback was delivered (or gave up)."""
        try:
            await asyncio.wait_for(self._callback_queue.join(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"fake Luma: callbacks not delivered within {timeout}s; "
                f"{self._callback_queue.qsize()} still queued, attempts so far: "
                f"{[(c.generation_id, c.state, c.status_code, c.error) for c in self.callbacks]}"
            ) from None

    # ------------------------------------------------------------------ scripting

    def set_state(
        self,
        generation_id: str,
        state: State,
        *,
        failure_reason: str | None = None,
        result_size: int | None = None,
        extra_assets: Mapping[str, str] | None = None,
    ) -> None:
        """Move a generation to `state`. "failed" sets `failure_reason` (a default if None);
        other states clear it. With auto_callbacks, a change of state queues a callback."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        gen = self._get(generation_id)
        previous = gen.state
        gen.state = state
        if state == "failed":
            gen.failure_reason = failure_reason or DEFAULT_FAILURE_REASON
        else:
            gen.failure_reason = None
        if result_size is not None:
            gen.result_size = result_size
        if extra_assets is not None:
            gen.extra_assets = dict(extra_assets)
        if state != previous:
            self._state_changed(gen)

    def complete(
        self,
        generation_id: str,
        *,
        result_size: int | None = None,
        extra_assets: Mapping[str, str] | None = None,
    ) -> None:
        """Finish a generation successfully: `assets.video` is `result_url(id)`, a streamed MP4 of
        `result_size` bytes; `extra_assets` (e.g. {"image": url}) are added to `assets`."""
        self.set_state(
            generation_id, "completed", result_size=result_size, extra_assets=extra_assets
        )

    def fail(self, generation_id: str, reason: str = DEFAULT_FAILURE_REASON) -> None:
        """Fail a generation with `failure_reason = reason`."""
        self.set_state(generation_id, "failed", failure_reason=reason)

    def refuse_next_submit(
        self,
        http_status: int,
        detail: Any = None,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next submit request(s) with `http_status` and `{"detail": detail}`.

        `detail` defaults to a text that fits the status (402 "Insufficient credits", 429 "Too
        many requests, ..."); it may be any JSON value, e.g. FastAPI's list-of-errors shape.
        `headers` are added to the answer (e.g. {"Retry-After": "2"}). No generation is created.
        """
        self._refuse_next(_answer(http_status, detail, headers), times)

    # hang_next_submit(seconds, *, accept=True, times=1): without accept, the answer after the
    # delay is HTTP 500. close_next_submit(*, times=1).
    hang_next_submit = FakeProvider._hang_next
    close_next_submit = FakeProvider._close_next

    def fail_next_status(
        self, http_status: int = 500, detail: Any = "Internal Server Error", *, times: int = 1
    ) -> None:
        """Answer the next GET /generations/{id} request(s) with `{"detail": detail}`."""
        self._status_faults.add(_answer(http_status, detail), times)

    # ------------------------------------------------------------------ callbacks

    def _state_changed(self, gen: FakeGeneration) -> None:
        if not self.auto_callbacks or not gen.callback_url:
            return
        body = compact_json(self.generation_json(gen.id)).encode()
        self._callback_queue.put_nowait(_QueuedCallback(gen.id, gen.callback_url, body, gen.state))

    async def send_callback(
        self,
        generation_id: str,
        *,
        url: str | None = None,
        body_override: bytes | Mapping[str, Any] | None = None,
        timeout: float = CALLBACK_TIMEOUT_S,
    ) -> httpx.Response:
        """POST the generation's current Generation JSON to its callback_url (or `url`), once,
        and return the response. `body_override` (raw bytes, or a mapping sent as JSON) replaces
        the body; the generation then need not exist, but `url` is required if it doesn't."""
        gen = self.generations.get(generation_id)
        target = url or (gen.callback_url if gen is not None else None)
        if not target:
            raise ValueError(f"no callback URL for generation {generation_id!r}: pass url=")
        if body_override is None:
            body = compact_json(self.generation_json(generation_id)).encode()
        elif isinstance(body_override, bytes):
            body = body_override
        else:
            body = compact_json(dict(body_override)).encode()
        sent = SentCallback(
            generation_id=generation_id,
            url=target,
            body=body,
            state=_state_of(body),
            attempt=1,
            automatic=False,
            status_code=None,
            error=None,
        )
        self.callbacks.append(sent)
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(
                    target, content=body, headers={"Content-Type": "application/json"}
                )
        except httpx.HTTPError as exc:
            sent.error = repr(exc)
            raise
        sent.status_code = response.status_code
        return response

    async def _deliver_callbacks(self) -> None:
        while True:
            item = await self._callback_queue.get()
            try:
                await self._deliver(item)
            finally:
                self._callback_queue.task_done()

    async def _deliver(self, item: _QueuedCallback) -> None:
        async with httpx.AsyncClient(timeout=CALLBACK_TIMEOUT_S) as client:
            for attempt in range(1, CALLBACK_RETRIES + 2):
                sent = SentCallback(
                    generation_id=item.generation_id,
                    url=item.url,
                    body=item.body,
                    state=item.state,
                    attempt=attempt,
                    automatic=True,
                    status_code=None,
                    error=None,
                )
                self.callbacks.append(sent)
                try:
                    response = await client.post(
                        item.url, content=item.body, headers={"Content-Type": "application/json"}
                    )
                    sent.status_code = response.status_code
                    if response.is_success:
                        return
                except httpx.HTTPError as exc:
                    sent.error = repr(exc)
                if attempt <= CALLBACK_RETRIES:
                    await asyncio.sleep(CALLBACK_RETRY_DELAY_S)

    # ------------------------------------------------------------------ HTTP handlers

    def _auth_error(self, request: Request) -> Response | None:
        return None if self._has_bearer_key(request) else _detail(401, "Invalid or missing API key")

    def _hang_answer(self) -> Response:
        return _detail(500)

    def _invalid(self, text: str) -> Response:
        return _detail(self.validation_status, text)

    def _handle_submit(self, request: Request, rec: Recorded) -> Response:
        auth = self._auth_error(request)
        if auth is not None:
            return auth
        problem = self._json_object_problem(request, rec)
        if problem is not None:
            return self._invalid(problem)
        retry_after = self._rate_limited()
        if retry_after is not None:
            return _detail(429, None, {"Retry-After": str(retry_after)})
        body: dict[str, Any] = rec.json

        generation_type = body.get("generation_type")
        media = body.get("media")
        model = body.get("model", DEFAULT_MODEL)
        mode = body.get("mode")
        prompt = body.get("prompt")
        first_frame = body.get("first_frame")
        callback_url = body.get("callback_url")
        if generation_type != GENERATION_TYPE:
            return self._invalid(f"generation_type must be '{GENERATION_TYPE}'")
        if not isinstance(media, dict) or not is_http_url(media.get("url")):
            return self._invalid("media.url is required and must be a valid http(s) URL")
        if model is None:
            model = DEFAULT_MODEL
        if model not in MODELS:
            return self._invalid(f"model must be one of {', '.join(MODELS)}")
        if mode is not None and mode not in MODES:
            return self._invalid(f"mode must be one of {', '.join(MODES)}")
        if prompt is not None and not isinstance(prompt, str):
            return self._invalid("prompt must be a string")
        if first_frame is not None and (
            not isinstance(first_frame, dict) or not is_http_url(first_frame.get("url"))
        ):
            return self._invalid("first_frame.url must be a valid http(s) URL")
        if callback_url is not None and not is_http_url(callback_url):
            return self._invalid("callback_url must be a valid http(s) URL")

        if self.credits <= 0 or self.credits < self.generation_cost:
            return _detail(402, "Insufficient credits")
        self.credits -= self.generation_cost

        generation_id = str(uuid.uuid4())
        gen = FakeGeneration(
            id=generation_id,
            request=copy.deepcopy(body),
            media_url=media["url"],
            model=model,
            mode=mode,
            prompt=prompt,
            first_frame_url=first_frame["url"] if isinstance(first_frame, dict) else None,
            callback_url=callback_url,
            result_size=self.result_size,
        )
        self.generations[generation_id] = gen
        return JSONResponse(self.generation_json(generation_id), status_code=201)

    async def _status(self, request: Request) -> Response:
        refused = await self._record_checked(request, self._status_faults)
        if refused is not None:
            return refused
        gen = self.generations.get(request.path_params["generation_id"])
        if gen is None:
            return _detail(404, "Generation not found")
        gen.polls += 1
        if (
            self.complete_after_polls is not None
            and gen.state not in TERMINAL_STATES
            and gen.polls >= self.complete_after_polls
        ):
            self.complete(gen.id)
        return JSONResponse(self.generation_json(gen.id))

    async def _credits(self, request: Request) -> Response:
        refused = await self._record_checked(request)
        if refused is not None:
            return refused
        return JSONResponse({"credit_balance": float(self.credits)})

    def _result_size(self, generation_id: str) -> int | None:
        gen = self.generations.get(generation_id)
        if gen is None or gen.state != "completed":
            return None
        return gen.result_size


def _state_of(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    state = parsed.get("state") if isinstance(parsed, dict) else None
    return state if isinstance(state, str) else None
