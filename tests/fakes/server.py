"""Run an ASGI app on a free loopback port inside the current event loop (uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

KEEP_ALIVE_SECONDS = 75


class StartStop:
    """`async with thing:` for anything with async start() and stop()."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class LoopbackServer(StartStop):
    """An ASGI app served on 127.0.0.1 at a free port; `url` is its root, without a trailing slash.

    Use as `async with LoopbackServer(app) as server:` or call start()/stop().
    """

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        # IPPROTO_TCP, not 0: only then does asyncio set TCP_NODELAY on the connections, without
        # which every answer waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # Idle connections kept 75 s, as nginx (in front of most APIs) keeps them. uvicorn's
        # 5 s equals httpx's own keep-alive expiry: a connection the server closes just as the
        # client sends on it makes the request fail unseen (a submit then "outcome unknown").
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the start-up error
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        # Long-polling requests would hold a graceful shutdown open; don't wait for them.
        self._server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, timeout=5)
        self._task = None
        self._sock.close()
