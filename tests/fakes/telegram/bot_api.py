"""The fake Bot API server: its routes (methods and file downloads, checking the token), start
and stop on a loopback port, the record of calls, the faults a test orders (errors, blocked
users, the upload limit), the files Telegram holds, and the bot's commands."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer, StartStop
from tests.fakes.telegram.params import _read_params, _scope_key
from tests.fakes.telegram.payments import PaymentMethods
from tests.fakes.telegram.protocol import (
    _CANONICAL,
    BLOCKABLE_METHODS,
    BLOCKED,
    GET_ME,
    MAX_DOWNLOAD_SIZE,
    MAX_UPLOAD_SIZE,
    TEST_BOT_TOKEN,
    UPLOAD_METHODS,
    _ApiError,
    _bad,
    _canonical,
    _error_response,
)
from tests.fakes.telegram.rendering import _u16
from tests.fakes.telegram.state import Call, _Fault, _Signal


class BotApi(PaymentMethods, StartStop):
    """The server side of the fake; FakeTelegram adds what a test does as the user."""

    def __init__(self, token: str = TEST_BOT_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.calls: list[Call] = []
        self.downloads: list[str] = []  # file paths downloaded through /file/bot<token>/...
        self.max_upload_size: int | None = MAX_UPLOAD_SIZE
        self.max_download_size: int | None = MAX_DOWNLOAD_SIZE
        # Act as a local Bot API server (--local): getFile writes the file under this folder
        # and gives its absolute path, as such a server does (no limit, no /file download).
        self.local_files_dir: Path | None = None
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST"]),
            ]
        )
        self._server: LoopbackServer | None = None
        self._port = 0
        self._url: str | None = None
        self._calls_signal = _Signal()
        self._faults: list[_Fault] = []
        self._blocked: set[int] = set()
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # (kind, language_code) -> text: kind "description" or "short_description"
        self._descriptions: dict[tuple[str, str], str] = {}
        self._handlers = self._method_handlers()

    def _method_handlers(self) -> dict[str, Callable[[Call], Any]]:
        """The handler of each method but getUpdates (which waits, so _api awaits it)."""
        return {
            "getMe": lambda _call: dict(GET_ME),
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "setMyDescription": lambda call: self._set_description(call, "description", 512),
            "setMyShortDescription": lambda call: self._set_description(
                call, "short_description", 120
            ),
            "sendMessage": self._send_message,
            "copyMessage": self._copy_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "sendVideo": lambda call: self._send_file(call, "video"),
            "sendDocument": lambda call: self._send_file(call, "document"),
            "sendPhoto": lambda call: self._send_file(call, "photo"),
            "getFile": self._get_file,
            "sendInvoice": self._send_invoice,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "refundStarPayment": self._refund_star_payment,
            "getStarTransactions": self._get_star_transactions,
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The server root for TELEGRAM_API_URL, e.g. "http://127.0.0.1:40947" (after start)."""
        if self._url is None:
            raise RuntimeError("FakeTelegram is not started: call start() or use `async with`")
        return self._url

    async def start(self) -> None:
        """Serve the app on loopback; after a stop() it comes back on the same port."""
        self._closing = False
        self._server = LoopbackServer(self.app, port=self._port)
        await self._server.start()
        self._port = self._server.port
        self._url = self._server.url
        self._http = httpx.AsyncClient(trust_env=False)
        self._webhook_task = asyncio.create_task(self._deliver_webhook_updates())

    async def stop(self) -> None:
        """Answer pending long polls at once, then stop serving."""
        self._closing = True
        self._updates_signal.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while self._active_polls and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._server is not None:
            await self._server.stop()
            self._server = None
        self._closing = False

    # ------------------------------------------------------------------ HTTP surface

    async def _not_found(self, request: Request) -> Response:
        return _error_response(404, "Not Found")

    async def _api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error_response(401, "Unauthorized")
        name = _CANONICAL.get(str(request.path_params["method"]).lower())
        if name is None:
            return _error_response(404, "Not Found: method not found")
        try:
            params, files, filenames = await _read_params(request)
        except (ValueError, UnicodeDecodeError):
            return _error_response(400, "Bad Request: can't parse request parameters")
        call = Call(name, params, files, filenames, time.monotonic())
        self.calls.append(call)
        self._calls_signal.notify()
        try:
            self._apply_faults(call)
            if name == "getUpdates":
                result = await self._get_updates(call)
            else:
                result = self._handlers[name](call)
        except _ApiError as err:
            return err.response()
        return JSONResponse({"ok": True, "result": result})

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next `times` calls to `method` (to `chat_id` only, if given) with an error."""
        name = _canonical(method)
        self._faults.append(_Fault(name, error_code, description, retry_after, times, chat_id))

    def block(self, user_id: int) -> None:
        """From now on every send/edit to that chat answers 403 "bot was blocked by the user"."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        """Undo block()."""
        self._blocked.discard(user_id)

    def _apply_faults(self, call: Call) -> None:
        chat_id = call.params.get("chat_id")
        for fault in self._faults:
            if fault.method == call.method and fault.chat_id in (None, chat_id):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                raise _ApiError(fault.error_code, fault.description, fault.retry_after)
        if call.method in BLOCKABLE_METHODS and chat_id in self._blocked:
            raise _ApiError(403, BLOCKED)
        limit = self.max_upload_size
        if (
            call.method in UPLOAD_METHODS
            and limit is not None
            and any(len(content) > limit for content in call.files.values())
        ):
            raise _ApiError(413, "Request Entity Too Large")

    # ------------------------------------------------------------------ files

    def add_file(self, content: bytes, *, file_path: str | None = None) -> str:
        """Store a file Telegram would hold (e.g. a user's upload); returns its file_id."""
        return self._store_file(content, file_path).file_id

    def file_info(self, file_id: str) -> dict[str, Any]:
        """{file_id, file_unique_id, file_size} of a stored file, to build a user's message."""
        stored = self._files[file_id]
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error_response(401, "Unauthorized")
        path = str(request.path_params["file_path"])
        stored = self._files_by_path.get(path)
        if stored is None:
            return _error_response(404, "Not Found")
        self.downloads.append(path)
        return Response(stored.content, media_type="application/octet-stream")

    def _get_file(self, call: Call) -> dict[str, Any]:
        stored = self._files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        if self.local_files_dir is not None:
            local = self.local_files_dir / self.token / stored.file_path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(stored.content)
            file_path = str(local.resolve())
        else:
            limit = self.max_download_size
            if limit is not None and len(stored.content) > limit:
                raise _bad("file is too big")
            file_path = stored.file_path
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": file_path,
        }

    # ------------------------------------------------------------------ commands

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= _u16(str(command.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = _scope_key(call.params.get("scope"), str(call.params.get("language_code", "")))
        self._commands[key] = [dict(c) for c in commands]
        return True

    def _set_description(self, call: Call, kind: str, limit: int) -> bool:
        text = str(call.params.get(kind, ""))
        if _u16(text) > limit:
            raise _bad(f"{kind.upper()}_TOO_LONG")
        self._descriptions[(kind, str(call.params.get("language_code", "")))] = text
        return True

    def _delete_my_commands(self, call: Call) -> bool:
        key = _scope_key(call.params.get("scope"), str(call.params.get("language_code", "")))
        self._commands.pop(key, None)
        return True

    def _get_my_commands(self, call: Call) -> list[dict[str, Any]]:
        key = _scope_key(call.params.get("scope"), str(call.params.get("language_code", "")))
        return list(self._commands.get(key, []))
