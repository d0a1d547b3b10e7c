"""The web server of webhook mode: uvicorn beside the python-telegram-bot Application, guarded
against clients that hold connections (the pattern of PTB's
`examples/customwebhookbot/starlettebot.py`: updates go onto `application.update_queue`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import h11
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.logs.log_flood import FloodFilter, FloodFilters
from bot.web.endpoints import STRANGERS_LINES

if sys.platform != "win32":
    import resource

log = logging.getLogger("bot.web")

_ACCEPT_ERROR = "socket.accept() out of system resource"  # asyncio's words when out of files
_MALFORMED_REQUESTS = (
    "Invalid HTTP request received",
    "Unsupported upgrade request",
    "No supported WebSocket library detected",
)
SHUTDOWN_GRACE_SECONDS = 5
MAX_OPEN_FILES = 65536  # the soft limit is raised to the hard one, but no further than this
FILES_BESIDES_WEB = 100  # the database, HTTP clients and media files the bot has open anyway
# The listen queue, and how many connections asyncio accepts in one go before any is refused
# over the cap (uvicorn's 2048 took a process at 256 files into EMFILE 50 times as often).
ACCEPT_BACKLOG = 128


class WebServer:
    """uvicorn serving the endpoints beside the bot, on a socket bound before start-up.

    It faces the internet without a proxy (WEB_HOST is 0.0.0.0 by default), so it holds at most
    `max_connections` and drops those that send a request's headers or body too slowly, or that
    read nothing of an answer for `send_timeout`.
    """

    def __init__(
        self,
        app: Starlette,
        host: str,
        port: int,
        *,
        max_connections: int,
        header_timeout: float,
        body_timeout: float,
        send_timeout: float,
        settings_named: str = "WEB_HOST, WEB_PORT",
    ) -> None:
        """`settings_named`: the settings a failure to listen names."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: only then does asyncio set TCP_NODELAY on the connections, without
        # which small answers wait ~40 ms for a delayed ACK.
        self._sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise OSError(f"cannot listen on {host}:{port} ({settings_named}): {exc}") from exc
        guard = _Guard(max_connections, header_timeout, body_timeout, send_timeout)

        class Protocol(_GuardedH11Protocol):
            limits = guard

        config = uvicorn.Config(
            app,
            http=Protocol,
            backlog=ACCEPT_BACKLOG,
            log_config=None,  # uvicorn logs through the bot's handler (and its redaction)
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            timeout_keep_alive=max(1, round(header_timeout)),  # idle between requests: the same
        )
        self._max_connections = max_connections
        self._server = _EmbeddedUvicorn(config)
        self._log_floods = FloodFilters(
            {
                "asyncio": FloodFilter(only=(_ACCEPT_ERROR,)),  # its other lines are not floods
                log.name: FloodFilter(only=STRANGERS_LINES),
                "uvicorn.error": FloodFilter(only=_MALFORMED_REQUESTS),
            }
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one given, or the one the system chose for 0)."""
        return int(self._sock.getsockname()[1])

    @property
    def connection_count(self) -> int:
        """The connections open now (those refused over the cap not counted)."""
        return len(self._server.server_state.connections)

    async def start(self) -> None:
        files = _raise_open_file_limit()
        needed = self._max_connections + ACCEPT_BACKLOG + FILES_BESIDES_WEB
        if files is not None and files < needed:
            log.warning(
                "Only %d files may be open (ulimit -n); WEB_MAX_CONNECTIONS=%d wants %d",
                files,
                self._max_connections,
                needed,
            )
        self._log_floods.install()
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name="web")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the web server stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting requests; let those in progress (and their callbacks) finish."""
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
        self._sock.close()
        self._log_floods.remove()


@dataclass
class _Guard:
    """What _GuardedH11Protocol enforces, shared by all connections of one server."""

    max_connections: int
    header_timeout: float
    body_timeout: float
    send_timeout: float


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 connection with a cap on connections, deadlines for each request's
    headers and body, and one for a client that reads nothing of its answer (`limits` is set by
    the subclass WebServer makes).

    uvicorn has none of these: `limit_concurrency` answers 503 only once a request has come, holding
    the socket until then, and its keep-alive timer stops at the first byte; so a client sending
    a byte a second holds a connection, and a file, for ever. The deadline follows what h11
    waits for from the client: headers (IDLE: the first request, or the next on a kept-alive
    connection), the rest of a body (SEND_BODY, also while one left unread is drained after the
    answer), or nothing while the app answers.
    """

    limits: ClassVar[_Guard]
    _deadline: asyncio.TimerHandle | None = None
    _deadline_for: tuple[object, object] | None = None  # (h11 state, request) it was set for
    _stalled: asyncio.TimerHandle | None = None  # while the client reads nothing of an answer

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.connections.discard(self)
            transport.close()
            log.warning(
                "Refused a connection: WEB_MAX_CONNECTIONS=%d are open", self.limits.max_connections
            )
            return
        self._follow_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._deadline, self._stalled):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The client takes none of the answer for now: it has `send_timeout` to read some."""
        super().pause_writing()
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.limits.send_timeout, self._send_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _send_stalled(self) -> None:
        log.debug("Dropped a connection that read nothing of its answer in time")
        self._stalled = None
        self.transport.abort()  # close() would wait for the unread answer to drain

    def handle_events(self) -> None:
        super().handle_events()
        self._follow_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_deadline()

    def _follow_deadline(self) -> None:
        """Set the deadline for what the client owes now, unless it is already set for that."""
        state = self.conn.their_state
        if (state, self.cycle) == self._deadline_for or self.transport.is_closing():
            return
        self._deadline_for = (state, self.cycle)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if state is h11.IDLE:
            self._deadline = self.loop.call_later(
                self.limits.header_timeout, self._deadline_passed, "request headers"
            )
        elif state is h11.SEND_BODY:
            self._deadline = self.loop.call_later(
                self.limits.body_timeout, self._deadline_passed, "request body"
            )

    def _deadline_passed(self, what: str) -> None:
        log.debug("Closed a connection whose %s did not come in time", what)
        self._deadline = None
        self.transport.close()


def _raise_open_file_limit() -> int | None:
    """Lift the soft limit on open files to the hard one (each connection is a file); returns
    the limit now, or None where there is none or it cannot be known."""
    if sys.platform == "win32":
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.debug("Could not raise the limit on open files to %d: %r", target, exc)
        else:
            log.info("Raised the limit on open files from %d to %d", soft, target)
            return target
    return None if soft == resource.RLIM_INFINITY else soft


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside the bot's process: the bot, not uvicorn, handles SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
