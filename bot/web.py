"""The web server of webhook mode: Telegram updates, provider callbacks, and a health check.

Runs beside the python-telegram-bot Application (the pattern of PTB's
`examples/customwebhookbot/starlettebot.py`): updates go onto `application.update_queue`.
Every endpoint answers at once; a callback's work runs after the answer has been sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.domain.numbers import SIZE_MAX, ascii_int
from bot.domain.records import TaskState
from bot.logs.log_flood import FloodFilter, FloodFilters
from bot.providers.base import CallbackEvent, CallbackRejectedError, Provider
from bot.services.media import MediaStore
from bot.services.tasks.service import TaskService
from bot.urls import CALLBACK_ROUTE, HEALTH_PATH, MEDIA_ROUTE, TELEGRAM_WEBHOOK_PATH

if sys.platform != "win32":
    import resource

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64 * 1024
_MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
}
MAX_UPDATE_BYTES = 1024 * 1024
_ACCEPT_ERROR = "socket.accept() out of system resource"  # asyncio's words when out of files
# The lines anyone who reaches the server can cause at will (held to one a minute per kind): not
# the bot's own errors, which are logged each time.
_STRANGERS_LINES = ("Refused", "Callback to an unknown URL")
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


class _TooLargeError(Exception):
    pass


class _ClientGoneError(Exception):
    """The connection closed (by the client, or by a deadline) before the body's end."""


class WebEndpoints:
    """The routes, bound to the running bot's services."""

    def __init__(
        self,
        *,
        application: Application,  # type: ignore[type-arg]
        service: TaskService,
        provider: Provider,
        telegram_secret: str,
        database_ok: Callable[[], Awaitable[bool]],
        media: MediaStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._media = media
        self._application = application
        self._service = service
        self._provider = provider
        self._telegram_secret = telegram_secret.encode()
        self._database_ok = database_ok
        self._clock = clock

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route(TELEGRAM_WEBHOOK_PATH, self.telegram_update, methods=["POST"]),
                Route(CALLBACK_ROUTE, self.provider_callback, methods=["POST"]),
                Route(HEALTH_PATH, self.health, methods=["GET"]),
                Route(MEDIA_ROUTE, self.media, methods=["GET", "HEAD"]),
            ]
        )

    async def telegram_update(self, request: Request) -> Response:
        """An update pushed by Telegram; only with the secret set in setWebhook."""
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
        if not hmac.compare_digest(given, self._telegram_secret):
            log.warning("Refused a Telegram webhook request without the right secret")
            return Response(status_code=403)
        try:
            data = json.loads(await _read_body(request, MAX_UPDATE_BYTES))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            update = Update.de_json(data, self._application.bot)
        except _TooLargeError:
            return Response(status_code=413)
        except _ClientGoneError:
            return Response(status_code=400)  # nobody to read it
        except Exception as exc:  # any body that does not make an Update
            log.warning("Refused a Telegram webhook request that is not an update: %r", exc)
            return Response(status_code=400)
        await self._application.update_queue.put(update)
        return Response(status_code=200)

    async def provider_callback(self, request: Request) -> Response:
        """A provider's job-finished call to the URL given with the task.

        The URL's token is checked before the body is read: a stranger's body is never read.
        """
        provider = request.path_params["provider"]
        token = request.path_params["token"]
        task = await self._service.task_for_callback(provider, token)
        if task is None:
            log.warning("Callback to an unknown URL (provider %r)", provider[:40])
            return _answer(404, "unknown callback URL")
        try:
            body = await _read_body(request, MAX_CALLBACK_BYTES)
        except _TooLargeError:
            return _answer(413, "the body is larger than 64 KB")
        except _ClientGoneError:
            return _answer(400, "the body ended early")  # nobody to read it
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return _answer(400, "the body is not JSON")
        try:
            event = self._provider.parse_callback(payload, request.headers, self._clock())
        except CallbackRejectedError as exc:
            log.warning("Refused a callback for task %d: %s", task.id, exc.reason)
            return _answer(exc.http_status, exc.reason)
        except Exception as exc:  # a body of an unexpected shape
            log.warning("Refused an unreadable callback for task %d: %r", task.id, exc)
            return _answer(400, "the body is not a callback this bot can read")
        if task.provider_task_id is not None and event.job_id != task.provider_task_id:
            log.warning("Refused a callback for task %d naming another job", task.id)
            return _answer(404, "unknown callback URL")
        if task.state == TaskState.SUBMITTING:
            # The submit's own answer is still on its way: ask the provider to call again.
            return _answer(503, "not ready for this callback yet; please retry")
        return JSONResponse(
            {"status": "received"},
            background=BackgroundTask(self._process_callback, task.id, event),
        )

    async def _process_callback(self, task_id: int, event: CallbackEvent) -> None:
        try:
            await self._service.on_callback(task_id, event)
        except asyncio.CancelledError:
            log.info("Handling the callback of task %d was cut off by the shutdown", task_id)
            raise
        except Exception as exc:
            log.exception("Handling a callback for task %d failed", task_id)
            with contextlib.suppress(Exception):
                await self._service.report_unexpected(f"the callback of task #{task_id}", exc)

    async def media(self, request: Request) -> Response:
        """An uploaded video, for the provider to fetch (404 once it has expired)."""
        path = await self._media.path_of(request.path_params["token"])
        if path is None:
            return Response(status_code=404)
        return FileResponse(path, media_type=_MEDIA_TYPES.get(path.suffix, "video/mp4"))

    async def health(self, request: Request) -> Response:
        if await self._database_ok():
            return JSONResponse({"status": "ok", "database": "ok"})
        return JSONResponse({"status": "unavailable", "database": "not answering"}, 503)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, read no further than `limit` bytes.

    A body cut short is one DEBUG line: anyone can do it, as often as they like.
    """
    declared = ascii_int(request.headers.get("content-length", ""), high=SIZE_MAX)
    if declared is not None and declared > limit:
        raise _TooLargeError
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _TooLargeError
    except ClientDisconnect:
        client = request.client.host if request.client else "?"
        log.debug("A client went away before the end of its body (%s, %d bytes)", client, len(body))
        raise _ClientGoneError from None
    return bytes(body)


def _answer(status: int, error: str) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status)


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
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: only then does asyncio set TCP_NODELAY on the connections, without
        # which small answers wait ~40 ms for a delayed ACK.
        self._sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise OSError(f"cannot listen on {host}:{port} (WEB_HOST, WEB_PORT): {exc}") from exc
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
                __name__: FloodFilter(only=_STRANGERS_LINES),
                "uvicorn.error": FloodFilter(only=_MALFORMED_REQUESTS),
            }
        )
        self._task: asyncio.Task[None] | None = None

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
