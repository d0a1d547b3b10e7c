"""Faults injected in front of the fakes by ASGI middleware: the provider's submit and status
calls answered 500, 429 or not at all; Telegram's sends answered 429 `retry_after` 1. A faulted
request never reaches the fake (a timed-out submit was not received)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.kie import GENERATE_PATH, STATUS_PATH, FakeKie
from tests.fakes.telegram import FakeTelegram

TELEGRAM_FAULT_METHODS = frozenset({"sendvideo", "sendmessage", "editmessagetext"})
PROVIDER_FAULT_KINDS = ("500", "429", "timeout")


@dataclass(frozen=True)
class Injected:
    """One fault the drill injected."""

    target: str  # "submit", "status", or the Bot API method
    kind: str  # "500", "429", "timeout"
    key: str | None  # the submit's videoUrl, the status request's taskId, or None


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class FaultMiddleware:
    """ASGI middleware in front of a fake's `app`: `rate` of the requests it looks at get a
    fault instead, drawn with `rng`; each fault injected is passed to `record`."""

    app: ASGIApp
    _: KW_ONLY
    rate: float
    rng: random.Random
    record: Callable[[Injected], None]


@dataclass(kw_only=True)
class ProviderFaults(FaultMiddleware):
    """ASGI middleware for FakeKie.app: `rate` of submit and status calls get a fault instead.

    500: HTTP 500 `{"code": 500, ...}`; 429: HTTP 429 `{"code": 429, ...}`; timeout: no answer
    until the client gives up (or `hold` seconds). The faulted request never reaches the fake.
    """

    hold: float = 10.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path not in (GENERATE_PATH, STATUS_PATH) or self.rng.random() >= self.rate:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        kind = self.rng.choice(PROVIDER_FAULT_KINDS)
        if path == GENERATE_PATH:
            try:
                key = str(json.loads(body).get("videoUrl"))
            except (ValueError, AttributeError):
                key = None
            self.record(Injected("submit", kind, key))
        else:
            query = scope.get("query_string", b"").decode()
            task_id = next((p[7:] for p in query.split("&") if p.startswith("taskId=")), None)
            self.record(Injected("status", kind, task_id))
        if kind == "timeout":
            await self._until_disconnect(receive)
            await _send_json(send, 504, {"code": 504, "msg": "Gateway Timeout"})
        elif kind == "429":
            await _send_json(send, 429, {"code": 429, "msg": "Rate limit exceeded"})
        else:
            await _send_json(send, 500, {"code": 500, "msg": "Server Error"})

    async def _until_disconnect(self, receive: Receive) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.hold):
                message: Message = {}
                while message.get("type") != "http.disconnect":
                    message = await receive()


@dataclass(kw_only=True)
class TelegramFaults(FaultMiddleware):
    """ASGI middleware for FakeTelegram.app: `rate` of the sends in `methods` answer 429
    `retry_after` 1, as Telegram's flood control does. The faulted call never reaches the fake.

    `max_in_a_row`: the same request (same method and parameters) is refused at most that many
    times in a row. python-telegram-bot's rate limiter tries a request 1 + 3 times, so with 3
    no request is ever given up on; without a cap that happens to 1 in rate**-4 requests.
    """

    methods: frozenset[str] = TELEGRAM_FAULT_METHODS
    max_in_a_row: int | None = None
    _refused: dict[bytes, int] = field(default_factory=dict, init=False)  # request -> in a row

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = str(scope.get("path", "")).split("/") if scope["type"] == "http" else []
        method = parts[2].lower() if len(parts) == 3 and parts[1].startswith("bot") else ""
        if method not in self.methods:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        key = _request_key(scope, method, body)
        refused = self._refused.get(key, 0)
        if self.rng.random() >= self.rate or (
            self.max_in_a_row is not None and refused >= self.max_in_a_row
        ):
            self._refused.pop(key, None)
            await self.app(scope, _replay(body, receive), send)
            return
        self._refused[key] = refused + 1
        self.record(Injected(method, "429", None))
        await _send_json(
            send,
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
        )


def _request_key(scope: Scope, method: str, body: bytes) -> bytes:
    """The same for every try of one request: the body without its multipart boundary."""
    headers = dict(scope.get("headers", []))
    content_type = bytes(headers.get(b"content-type", b""))
    boundary = content_type.partition(b"boundary=")[2].strip(b'"')
    if boundary:
        body = body.replace(boundary, b"")
    return method.encode() + b"\0" + hashlib.sha256(body).digest()


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then passes on."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def install_faults(
    telegram: FakeTelegram,
    kie: FakeKie,
    rng: random.Random,
    *,
    provider_rate: float,
    telegram_rate: float,
    telegram_max_in_a_row: int | None,
    record: Callable[[Injected], None],
) -> None:
    """Put the fault middleware in front of the fakes (before they start), each with random
    numbers of its own drawn from `rng` in this order; a rate of 0 puts none."""
    if provider_rate > 0:
        own = random.Random(rng.random())
        kie.app.add_middleware(ProviderFaults, rate=provider_rate, rng=own, record=record)
    if telegram_rate > 0:
        own = random.Random(rng.random())
        cap = telegram_max_in_a_row
        telegram.app.add_middleware(
            TelegramFaults, rate=telegram_rate, rng=own, record=record, max_in_a_row=cap
        )
