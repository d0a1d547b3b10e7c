"""A round-robin relay on loopback: the load balancer in front of several bot instances.

Every request (Telegram's webhook updates, the provider's callbacks, `/media` downloads) goes to
the next instance in turn. An instance that refuses the connection (it is dead) is skipped for
the next one, as nginx's `proxy_next_upstream error` does; a request that was sent and got no
answer (the instance died with it) is not sent again elsewhere, as nginx does not resend a POST:
the caller gets 502, and Telegram (or the provider) tries again later.
"""

from __future__ import annotations

from collections import Counter

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.fakes.server import LoopbackServer

# Headers the relay must not pass on (hop-by-hop, set again, or undone: httpx decodes bodies).
DROPPED = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "content-encoding"}
)


class Relay(LoopbackServer):
    """`url` is the address the instances give as PUBLIC_URL; `targets` are their own roots."""

    def __init__(self, targets: list[str]) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._relay(scope, receive, send)

        super().__init__(app)  # a function: uvicorn takes a bound method for ASGI 2
        self.targets = targets
        self.forwarded: Counter[int] = Counter()  # requests answered, by target index
        self.skipped: Counter[int] = Counter()  # requests a target refused to connect
        self.lost: Counter[int] = Counter()  # requests sent to a target that never answered
        self.refused = 0  # requests answered 502
        self._next = 0
        self._client = httpx.AsyncClient(timeout=30.0)

    async def stop(self) -> None:
        await super().stop()
        await self._client.aclose()

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            return
        request = Request(scope, receive)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k not in DROPPED}
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        start = self._next
        self._next = (self._next + 1) % len(self.targets)
        for step in range(len(self.targets)):
            index = (start + step) % len(self.targets)
            try:
                answer = await self._client.request(
                    request.method, self.targets[index] + path, content=body, headers=headers
                )
            except httpx.ConnectError:
                self.skipped[index] += 1
                continue
            except httpx.TransportError:
                self.lost[index] += 1
                break
            self.forwarded[index] += 1
            response = Response(
                answer.content,
                status_code=answer.status_code,
                headers={k: v for k, v in answer.headers.items() if k not in DROPPED},
            )
            await response(scope, receive, send)
            return
        self.refused += 1
        await Response("no instance answered", status_code=502)(scope, receive, send)
