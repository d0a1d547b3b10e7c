"""The faults a fake provider can play instead of its normal answer.

`Answer` builds a canned answer; `ScriptedAnswers` queues them for one endpoint; `DropConnection`
starts an answer and never finishes it; `SubmitFault` is one entry of a fake's queue for its
submit endpoint (an answer, a hang, or a hang after handling the request normally); `park` is the
hang, cut short when the client goes away or the fake stops.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["Answer", "DropConnection", "ScriptedAnswers", "SubmitFault", "park"]

Answer = Callable[[], Response]
"""Builds a scripted answer; called once per request it answers."""


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
class SubmitFault:
    answer: Answer  # sent instead of the normal answer (after a hang: only if not accept)
    hang_seconds: float | None = None
    accept: bool = False  # hang only: handle the request normally first, send that answer


async def park(request: Request, seconds: float, stopping: asyncio.Event) -> None:
    """Sleep up to `seconds`; end early when the client disconnects or `stopping` is set."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    waiters = [asyncio.ensure_future(disconnected()), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
