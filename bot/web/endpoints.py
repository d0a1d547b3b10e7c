"""The routes of webhook mode: Telegram updates, provider callbacks, uploads and a health check.

Every endpoint answers at once; a callback's work runs after the answer has been sent. A
stranger can reach each of them, so a request is checked (secret, callback token) before its
body is read, and a body is read no further than its limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Update
from telegram.ext import Application

from bot import texts
from bot.domain.numbers import SIZE_MAX, ascii_int
from bot.domain.provider import CallbackEvent, CallbackRejectedError, Provider
from bot.domain.records import TaskState
from bot.logs.context import about_task
from bot.readiness import READY_PATH, Readiness
from bot.services.media import MediaStore
from bot.services.tasks.lifecycle import TaskLifecycle
from bot.urls import CALLBACK_ROUTE, HEALTH_PATH, MEDIA_ROUTE, TELEGRAM_WEBHOOK_PATH

# One logger for the web server and its routes: its lines strangers can cause are flood-limited
# (bot.web.server).
log = logging.getLogger("bot.web")

MAX_CALLBACK_BYTES = 64 * 1024
_MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".jpg": "image/jpeg",  # first-frame images
    ".png": "image/png",
    ".webp": "image/webp",
}
MAX_UPDATE_BYTES = 1024 * 1024
# The lines anyone who reaches the server can cause at will (held to one a minute per kind): not
# the bot's own errors, which are logged each time.
STRANGERS_LINES = ("Refused", "Callback to an unknown URL")


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
        lifecycle: TaskLifecycle,
        provider: Provider,
        telegram_secret: str,
        database_ok: Callable[[], Awaitable[bool]],
        media: MediaStore,
        readiness: Readiness | None = None,
        clock: Callable[[], float] = time.time,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        """`routes`: more routes served beside these (/metrics, bot.metrics)."""
        self._routes = tuple(routes)
        self._media = media
        self._application = application
        self._callbacks = lifecycle.callbacks
        self._endings = lifecycle.endings
        self._provider = provider
        self._telegram_secret = telegram_secret.encode()
        self._database_ok = database_ok
        self._readiness = readiness
        self._clock = clock

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route(TELEGRAM_WEBHOOK_PATH, self.telegram_update, methods=["POST"]),
                Route(CALLBACK_ROUTE, self.provider_callback, methods=["POST"]),
                Route(HEALTH_PATH, self.health, methods=["GET"]),
                *([readiness_route(self._readiness)] if self._readiness else []),
                Route(MEDIA_ROUTE, self.media, methods=["GET", "HEAD"]),
                *self._routes,
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
        task = await self._callbacks.task_for(provider, token)
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
        with about_task(task_id):
            await self._handle_callback(task_id, event)

    async def _handle_callback(self, task_id: int, event: CallbackEvent) -> None:
        try:
            await self._callbacks.on_callback(task_id, event)
        except asyncio.CancelledError:
            log.info("Handling the callback of task %d was cut off by the shutdown", task_id)
            raise
        except Exception as exc:
            log.exception("Handling a callback for task %d failed", task_id)
            with contextlib.suppress(Exception):
                await self._endings.report_unexpected(texts.unexpected_in_callback, task_id, exc)

    async def media(self, request: Request) -> Response:
        """An uploaded video or first-frame image, for the provider to fetch (404 once it has
        expired)."""
        path = await self._media.path_of(request.path_params["token"])
        if path is None:
            return Response(status_code=404)
        return FileResponse(path, media_type=_MEDIA_TYPES.get(path.suffix, "video/mp4"))

    async def health(self, request: Request) -> Response:
        if await self._database_ok():
            return JSONResponse({"status": "ok", "database": "ok"})
        return JSONResponse({"status": "unavailable", "database": "not answering"}, 503)


def readiness_route(readiness: Readiness) -> Route:
    """GET /readyz for any server: 200 when the database, Telegram and the provider answered
    recently, 503 with a `reason` when one did not (bot.readiness)."""

    async def ready(request: Request) -> Response:
        status, body = await readiness.report()
        return JSONResponse(body, status)

    return Route(READY_PATH, ready, methods=["GET"])


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
