"""A fake OpenAI-compatible chat-completions server, as the prompt translator (TRANSLATOR_URL).

It answers `POST /v1/chat/completions` as OpenAI's API does: the key in `Authorization: Bearer`,
the model and messages in the JSON body, the answer in `choices[0].message.content`. The
translation of the last user message is looked up in `translations`; any other text is answered
with `fallback`. Every request is kept (`requests`) so a test can check what the translator got.

Faults, one request each: `fail_next(status)` (an HTTP error), `hang_next()` (no answer until
well past any client's time-out), `trickle_next()` (the answer a space at a time, each within a
read time-out, the whole past it), `answer_next(content, finish_reason)` (any content, e.g. not
English; finish_reason "length": cut at max_tokens).

    async with FakeTranslator({"сделай акварелью": "make it a watercolor"}) as translator:
        env = {"TRANSLATOR_URL": translator.url + "/v1", "TRANSLATOR_MODEL": TEST_MODEL,
               "TRANSLATOR_API_KEY": TEST_TRANSLATOR_KEY}
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.server import LoopbackServer, StartStop

TEST_TRANSLATOR_KEY = "sk-test-translator-0123456789"
TEST_MODEL = "test-translate-1"
HANG_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class TranslatorRequest:
    authorization: str
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """The text given to translate: the last user message."""
        users = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        return str(users[-1].get("content", "")) if users else ""


class FakeTranslator(StartStop):
    def __init__(
        self,
        translations: dict[str, str] | None = None,
        *,
        fallback: str = "make it look like a watercolor painting",
        api_key: str = TEST_TRANSLATOR_KEY,
        model: str = TEST_MODEL,
    ) -> None:
        self.translations = dict(translations or {})
        self.fallback = fallback
        self.api_key = api_key
        self.model = model
        self.requests: list[TranslatorRequest] = []
        self._next: list[tuple[str, Any]] = []  # scripted faults, first in first out
        app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])
        self._server = LoopbackServer(app)
        self.url = self._server.url

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    def fail_next(self, status: int = 500) -> None:
        self._next.append(("fail", status))

    def hang_next(self) -> None:
        self._next.append(("hang", None))

    def trickle_next(self) -> None:
        self._next.append(("trickle", None))

    def answer_next(self, content: str, finish_reason: str = "stop") -> None:
        self._next.append(("answer", (content, finish_reason)))

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        authorization = request.headers.get("authorization", "")
        self.requests.append(TranslatorRequest(authorization, body))
        if not hmac.compare_digest(authorization, f"Bearer {self.api_key}"):
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        if body.get("model") != self.model:
            return _error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' is a required property", "invalid_request_error")
        fault, value = self._next.pop(0) if self._next else ("", None)
        scripted: Any = value
        if fault == "fail":
            return _error(int(scripted), "The server had an error", "server_error")
        if fault == "hang":
            await asyncio.sleep(HANG_SECONDS)
        text = self.requests[-1].text
        if fault == "answer":
            content, finish_reason = scripted
        else:
            content, finish_reason = self.translations.get(text, self.fallback), "stop"
        answer = self._completion(content, finish_reason)
        if fault == "trickle":
            return _trickled(answer)
        return JSONResponse(answer)

    def _completion(self, content: str, finish_reason: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }


TRICKLE_EVERY = 0.3  # seconds between the spaces of a trickled answer
TRICKLE_SPACES = 20


def _trickled(answer: dict[str, Any]) -> StreamingResponse:
    """Whitespace a little at a time before the JSON (as some gateways keep a connection
    alive): each piece within any read time-out, the whole well past a short one."""

    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(TRICKLE_SPACES):
            yield b" "
            await asyncio.sleep(TRICKLE_EVERY)
        yield json.dumps(answer).encode()

    return StreamingResponse(pieces(), media_type="application/json")


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}},
        status_code=status,
    )
