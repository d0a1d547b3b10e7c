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

Faults, scripted as tests/fakes/provider_base.py says: `refuse_next_submit`, `hang_next_submit`,
`close_next_submit` (one queue for the submit endpoint) and `fail_next_status` (status polls).

Error statuses the fake answers on its own (each with `{"detail": "<text>"}`):
400 invalid body (or `validation_status`, e.g. 422), 401 missing/wrong key, 402 insufficient
credits (`credits` <= 0 or below `generation_cost`), 404 unknown generation or path, 429 rate
limited (`rate_limit`, with a `Retry-After` header). The Dream Machine docs name no status for
running out of credits or for rate limiting; 402 and 429 (+ Retry-After) are what Luma documents
for its newer Agents API, and the SDK maps 429 to RateLimitError (402 to a plain APIStatusError).

Callbacks (tests/fakes/luma_callbacks.py): `send_callback` posts the Generation once, by hand.
With `auto_callbacks=True` each change of state (`set_state`, `complete`, `fail`,
`complete_after_polls`) queues one, as Luma does; `await fake.drain()` waits for their delivery.
Every attempt is recorded in `callbacks`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Unpack, get_args

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import Answer
from tests.fakes.luma_callbacks import CALLBACK_TIMEOUT_S, LumaCallbacks, SentCallback
from tests.fakes.provider_base import FakeProvider, Options, Recorded
from tests.fakes.wire import compact_json, is_http_url

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


def _submit_problem(body: dict[str, Any]) -> str | None:
    """Why Luma refuses the submit's fields, or None when they are good."""
    media, model, mode = body.get("media"), body.get("model"), body.get("mode")
    prompt, first_frame = body.get("prompt"), body.get("first_frame")
    callback_url = body.get("callback_url")
    if body.get("generation_type") != GENERATION_TYPE:
        return f"generation_type must be '{GENERATION_TYPE}'"
    if not isinstance(media, dict) or not is_http_url(media.get("url")):
        return "media.url is required and must be a valid http(s) URL"
    if model is not None and model not in MODELS:
        return f"model must be one of {', '.join(MODELS)}"
    if mode is not None and mode not in MODES:
        return f"mode must be one of {', '.join(MODES)}"
    if prompt is not None and not isinstance(prompt, str):
        return "prompt must be a string"
    if first_frame is not None and (
        not isinstance(first_frame, dict) or not is_http_url(first_frame.get("url"))
    ):
        return "first_frame.url must be a valid http(s) URL"
    if callback_url is not None and not is_http_url(callback_url):
        return "callback_url must be a valid http(s) URL"
    return None


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


class FakeLuma(FakeProvider[FakeGeneration], label="Luma", noun="generation"):
    """The fake Luma Dream Machine API. `base_url` is what the bot uses as PROVIDER_BASE_URL;
    `url` is the server root (result files live under `{url}/files/`)."""

    def __init__(
        self,
        api_key: str = TEST_LUMA_KEY,
        *,
        credits: float = 100.0,
        generation_cost: float = 0.0,
        auto_callbacks: bool = False,
        validation_status: int = 400,
        pending_assets: Literal["null", "empty"] = "null",
        **options: Unpack[Options],
    ) -> None:
        self.credits: float = credits
        self.generation_cost = generation_cost
        self.auto_callbacks = auto_callbacks
        self.validation_status = validation_status
        self.pending_assets: Literal["null", "empty"] = pending_assets
        self.generations: dict[str, FakeGeneration] = {}
        self._callbacks = LumaCallbacks()
        self.callbacks: list[SentCallback] = self._callbacks.sent
        super().__init__(
            api_key,
            submit_path=MODIFY_PATH,
            routes=[
                Route(GENERATIONS_PATH + "/{generation_id}", self._status, methods=["GET"]),
                Route(CREDITS_PATH, self._credits, methods=["GET"]),
            ],
            items=self.generations,
            **options,
        )
        self.base_url: str = f"{self.url}{API_PREFIX}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await super().start()
        self._callbacks.start()

    async def stop(self) -> None:
        await self._callbacks.stop()
        await super().stop()

    # ------------------------------------------------------------------ inspection

    def status_requests(self, generation_id: str | None = None) -> list[Recorded]:
        """GET /generations/{id} requests (all of them, or those for one generation)."""
        return self._polls(GENERATIONS_PATH, generation_id)

    # only_generation(): the one generation. wait_for_generation(count=1, timeout=10.0): wait
    # until at least `count` generations exist; returns all in submission order.
    only_generation = FakeProvider._only
    wait_for_generation = FakeProvider._wait_for_items

    def generation_json(self, generation_id: str) -> dict[str, Any]:
        """The Generation object as the API serves it now (status answers and callbacks)."""
        gen = self._get(generation_id)
        assets: dict[str, str] | None = {} if self.pending_assets == "empty" else None
        if gen.state == "completed":
            assets = {"video": self.result_url(gen.id), **gen.extra_assets}
        return {
            "id": gen.id,
            "generation_type": GENERATION_TYPE,
            "state": gen.state,
            "failure_reason": gen.failure_reason,
            "created_at": gen.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "assets": assets,
            "model": gen.model,
            "request": copy.deepcopy(gen.request),
        }

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
        await self._callbacks.drain(timeout)

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
        previous, gen.state = gen.state, state
        failed = state == "failed"
        gen.failure_reason = (failure_reason or DEFAULT_FAILURE_REASON) if failed else None
        if result_size is not None:
            gen.result_size = result_size
        if extra_assets is not None:
            gen.extra_assets = dict(extra_assets)
        if state != previous and self.auto_callbacks and gen.callback_url:
            body = compact_json(self.generation_json(gen.id)).encode()
            self._callbacks.queue(gen.id, gen.callback_url, body, gen.state)

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

    def fail_next_status(
        self, http_status: int = 500, detail: Any = "Internal Server Error", *, times: int = 1
    ) -> None:
        """Answer the next GET /generations/{id} request(s) with `{"detail": detail}`."""
        self._status_faults.add(_answer(http_status, detail), times)

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
        return await self._callbacks.send(generation_id, target, body, timeout=timeout)

    # ------------------------------------------------------------------ HTTP handlers

    def _auth_error(self, request: Request) -> Response | None:
        return None if self._has_bearer_key(request) else _detail(401, "Invalid or missing API key")

    def _bad_body_answer(self, problem: str) -> Response:
        return _detail(self.validation_status, problem)

    def _rate_limit_answer(self, retry_after: int) -> Response:
        return _detail(429, None, {"Retry-After": str(retry_after)})

    def _not_found_answer(self) -> Response:
        return _detail(404, "Not Found")

    def _hang_answer(self) -> Response:  # after hang_next_submit(..., accept=False)
        return _detail(500)

    def _accept_submit(self, body: dict[str, Any]) -> Response:
        problem = _submit_problem(body)
        if problem is not None:
            return _detail(self.validation_status, problem)
        if self.credits <= 0 or self.credits < self.generation_cost:
            return _detail(402, "Insufficient credits")
        self.credits -= self.generation_cost
        first_frame = body.get("first_frame")
        gen = FakeGeneration(
            id=str(uuid.uuid4()),
            request=copy.deepcopy(body),
            media_url=body["media"]["url"],
            model=body.get("model") or DEFAULT_MODEL,
            mode=body.get("mode"),
            prompt=body.get("prompt"),
            first_frame_url=first_frame["url"] if isinstance(first_frame, dict) else None,
            callback_url=body.get("callback_url"),
            result_size=self.result_size,
        )
        self.generations[gen.id] = gen
        return JSONResponse(self.generation_json(gen.id), status_code=201)

    async def _status(self, request: Request) -> Response:
        refused = await self._record_checked(request, self._status_faults)
        if refused is not None:
            return refused
        gen = self.generations.get(request.path_params["generation_id"])
        if gen is None:
            return _detail(404, "Generation not found")
        if self._poll(gen, running=gen.state not in TERMINAL_STATES):
            self.complete(gen.id)
        return JSONResponse(self.generation_json(gen.id))

    async def _credits(self, request: Request) -> Response:
        refused = await self._record_checked(request)
        return JSONResponse({"credit_balance": float(self.credits)}) if refused is None else refused

    def _result_size(self, generation_id: str) -> int | None:
        gen = self.generations.get(generation_id)
        if gen is None or gen.state != "completed":
            return None
        return gen.result_size
