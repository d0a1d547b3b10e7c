"""A fake Telegram Bot API server for tests (starlette, served on a loopback port).

The bot under test talks to it over real HTTP through its normal code paths: point
`TELEGRAM_API_URL` at `fake.url` (PTB then uses `{url}/bot` and `{url}/file/bot`). The fake
records every API call, lets a test play the user (send a message, press a button), shows what
the bot did to each chat, and can answer with the errors Telegram really gives.

Typical use in a test::

    async with FakeTelegram() as tg:                   # or: await tg.start() ... await tg.stop()
        env = {"TELEGRAM_BOT_TOKEN": TEST_BOT_TOKEN, "TELEGRAM_API_URL": tg.url}
        ...                                            # start the bot (long polling)
        tg.send_message(42, "/start")                  # user 42 writes to the bot
        [call] = await tg.wait_for("sendMessage", lambda c: c.params["chat_id"] == 42)
        reply = tg.messages(42)[-1]                    # SentMessage, current state after edits
        assert ("Cancel", "cancel:1") in tg.buttons(42, reply.message_id)
        tg.press_button(42, reply.message_id, "cancel:1")
        await tg.wait_for("answerCallbackQuery")
        tg.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 1",
                     retry_after=1)                    # the next sendMessage is flood-limited
        tg.block(42)                                   # every send/edit to 42 now answers 403

What it checks like Telegram does (so tests catch real bugs): the token (401), unknown methods
(404), HTML `parse_mode` markup (400 "can't parse entities" for an unescaped `<` or an unknown
tag), text/caption length (4096/1024 UTF-16 code units of the rendered text, as Telegram
counts: an emoji takes two), callback answers (200), empty texts, inline keyboards
(callback_data at most 64 bytes), "message is not modified", unknown messages to
edit/delete/reply to, unknown callback query ids, uploads over 50 MiB (413) and `getFile` over
20 MiB ("file is too big"; set `max_download_size = None` to act like a local Bot API server).
Messages returned to the bot are rendered as Telegram renders them (HTML tags become
`entities`); `SentMessage.text` keeps what the bot sent, `SentMessage.rendered` what the user
sees.

Updates wait in a queue until confirmed by a later `getUpdates` offset (or delivered to a
webhook). While a webhook is set, `getUpdates` answers 409 like Telegram, and updates are POSTed
to the webhook URL (loopback hosts only; never the network) with the
`X-Telegram-Bot-Api-Secret-Token` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer, StartStop

TEST_BOT_TOKEN = "123456:TEST-token-for-the-fake-bot-api-only"
BOT_USER_ID = 123456

MAX_UPLOAD_SIZE = 50 * 1024 * 1024  # what the cloud Bot API accepts from a bot
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # what getFile lets a bot download
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

BOT_USER: dict[str, Any] = {
    "id": BOT_USER_ID,
    "is_bot": True,
    "first_name": "Fake Bot",
    "username": "fake_bot",
}
GET_ME: dict[str, Any] = {
    **BOT_USER,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

# How parameters are decoded into Call.params (everything else stays the string that was sent).
JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "link_preview_options",
        "commands",
        "scope",
        "allowed_updates",
        "entities",
        "caption_entities",
    }
)
INT_PARAMS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "user_id",
        "reply_to_message_id",
        "duration",
        "width",
        "height",
    }
)

METHODS = (
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "setMyDescription",
    "setMyShortDescription",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "deleteMessage",
    "answerCallbackQuery",
    "sendChatAction",
    "sendVideo",
    "sendDocument",
    "getFile",
)
_CANONICAL = {name.lower(): name for name in METHODS}

BLOCKABLE_METHODS = frozenset(
    {
        "sendMessage",
        "sendVideo",
        "sendDocument",
        "sendChatAction",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
    }
)
UPLOAD_METHODS = frozenset({"sendVideo", "sendDocument"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update types Telegram leaves out unless a bot asks for them in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"


@dataclass
class Call:
    """One Bot API call the fake received (with the right token)."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    filenames: dict[str, str]
    at: float


@dataclass
class SentMessage:
    """A message the bot sent to a chat, in its current state (after edits)."""

    message_id: int
    chat_id: int
    kind: str  # "text" | "video" | "document"
    text: str | None  # as the bot sent it (markup included); None for media messages
    caption: str | None
    reply_markup: dict[str, Any] | None  # the inline keyboard the message carries, if any
    reply_to_message_id: int | None
    parse_mode: str | None  # of the text, or of the caption for media messages
    file: bytes | None  # uploaded bytes; None when sent by URL or file_id
    edits: int = 0
    # Beyond the agreed fields:
    date: int = 0
    edit_date: int | None = None
    media: dict[str, Any] | None = None  # the "video"/"document" object Telegram returned
    filename: str | None = None  # the upload's filename
    entities: list[dict[str, Any]] | None = None  # explicit entities/caption_entities sent
    deleted: bool = False

    @property
    def rendered(self) -> str | None:
        """The text (or caption) as the user sees it: HTML markup removed, entities decoded."""
        source = self.text if self.kind == "text" else self.caption
        if source is None:
            return None
        return _render(source, self.parse_mode)[0]


class _ApiError(Exception):
    """An error answer of the Bot API, raised inside method handlers."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        return _error_response(self.code, self.description, self.retry_after)


def _error_response(code: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=code)


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


@dataclass
class _Fault:
    method: str
    error_code: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None


@dataclass
class _User:
    id: int
    first_name: str = "Test"
    username: str | None = "tester"
    language_code: str = "en"

    def as_dict(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username is not None:
            user["username"] = self.username
        user["language_code"] = self.language_code
        return user


@dataclass
class _Chat:
    next_message_id: int = 1
    sent: dict[int, SentMessage] = field(default_factory=dict)  # the bot's messages
    received: dict[int, dict[str, Any]] = field(default_factory=dict)  # the user's messages


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str


class _Signal:
    """Wakes every waiter when something changed; waiters re-check their condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()


class FakeTelegram(StartStop):
    """A fake Bot API server; see the module docstring for how a test uses it."""

    def __init__(self, token: str = TEST_BOT_TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []  # every update injected, in order
        self.downloads: list[str] = []  # file paths downloaded through /file/bot<token>/...
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.max_upload_size: int | None = MAX_UPLOAD_SIZE
        self.max_download_size: int | None = MAX_DOWNLOAD_SIZE
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
        self._closing = False
        self._active_polls = 0
        self._poll_generation = 0
        self._calls_signal = _Signal()
        self._updates_signal = _Signal()
        self._pending: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._faults: list[_Fault] = []
        self._blocked: set[int] = set()
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._next_file = 1
        self._callback_queries: dict[str, int] = {}  # id -> chat id
        self._callback_answers: dict[str, Call] = {}
        self._next_callback = 1
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._handlers: dict[str, Callable[[Call], Any]] = {
            "getMe": lambda _call: dict(GET_ME),
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "setMyDescription": lambda _call: True,
            "setMyShortDescription": lambda _call: True,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "sendVideo": lambda call: self._send_file(call, "video"),
            "sendDocument": lambda call: self._send_file(call, "document"),
            "getFile": self._get_file,
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

    # ------------------------------------------------------------------ reading calls

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        """The calls to `method` received so far (only those for `chat_id` if given)."""
        name = _canonical(method)
        return [
            c
            for c in self.calls
            if c.method == name and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Call]:
        """Wait until `count` calls to `method` matching `predicate` were received; return them all.

        Calls received earlier count. Raises AssertionError on timeout, listing what was received.
        """
        name = _canonical(method)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matching = [
                c for c in self.calls if c.method == name and (predicate is None or predicate(c))
            ]
            if len(matching) >= count:
                return matching
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = f"{count} call(s) to {name}"
                if predicate is not None:
                    what += " matching the predicate"
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; {len(matching)} matched.\n"
                    + self.describe_calls(name)
                )
            await self._calls_signal.wait(remaining)

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
    ) -> None:
        """Wait until `condition()` is true: re-checked on every call received, and every 20 ms."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}.\n" + self.describe_calls()
                )
            await self._calls_signal.wait(min(remaining, 0.02))

    def describe_calls(self, method: str | None = None) -> str:
        """A short account of the calls received (for assertion messages)."""
        counts: dict[str, int] = {}
        for c in self.calls:
            counts[c.method] = counts.get(c.method, 0) + 1
        summary = ", ".join(f"{m} ×{n}" for m, n in counts.items()) or "none"
        lines = [f"Calls received so far ({len(self.calls)}): {summary}."]
        if method is not None:
            recent = [c for c in self.calls if c.method == method][-5:]
            if recent:
                lines.append(f"Last calls to {method}:")
                lines.extend(f"  {_short(c.params)}" for c in recent)
        return "\n".join(lines)

    # ------------------------------------------------------------------ injecting updates

    def send_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        username: str | None = "tester",
        language_code: str = "en",
    ) -> int:
        """User `user_id` sends a text message to the bot; returns the update_id."""
        self._users[user_id] = _User(user_id, first_name, username, language_code)
        return self.send_update_message(user_id, text=text)

    def send_update_message(self, user_id: int, **message_fields: Any) -> int:
        """User `user_id` sends a message with these fields (video=..., caption=..., ...).

        The fake fills message_id, date, chat and from (fields given here win); a `text` gets the
        entities Telegram adds (bot_command, url) unless `entities` is given.
        """
        user = self._user(user_id)
        chat = self._chat(user_id)
        message: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "date": int(time.time()),
            "chat": self._chat_dict(user_id),
            "from": user.as_dict(),
        }
        message.update(message_fields)
        text = message.get("text")
        if isinstance(text, str) and "entities" not in message:
            entities = _auto_entities(text)
            if entities:
                message["entities"] = entities
        return self.inject_update({"message": message})

    def press_button(self, user_id: int, message_id: int, data: str) -> str:
        """User `user_id` presses a button with `data` on a bot message; returns the query id."""
        sent = self._chat(user_id).sent.get(message_id)
        if sent is None or sent.deleted:
            state = "was deleted" if sent is not None else "was never sent by the bot"
            raise AssertionError(f"message {message_id} in chat {user_id} {state}")
        query_id = f"{user_id}{self._next_callback:06d}"
        self._next_callback += 1
        self.inject_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id).as_dict(),
                    "message": self._message_dict(sent),
                    "chat_instance": f"-{user_id}0",
                    "data": data,
                }
            }
        )
        return query_id

    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (its update_id is assigned by the fake); returns the update_id."""
        update = dict(update)
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        message = update.get("message")
        if isinstance(message, dict):
            chat_id = message.get("chat", {}).get("id")
            message_id = message.get("message_id")
            if isinstance(chat_id, int) and isinstance(message_id, int):
                chat = self._chat(chat_id)
                chat.received[message_id] = message
                chat.next_message_id = max(chat.next_message_id, message_id + 1)
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("id"), str):
            self._callback_queries[query["id"]] = int(query.get("from", {}).get("id", 0))
        self.updates.append(update)
        self._pending.append(update)
        self._updates_signal.notify()
        return int(update["update_id"])

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot (getUpdates offset) or delivered to its webhook."""
        return list(self._pending)

    # ------------------------------------------------------------------ reading chats

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to the chat, in order, as it is now (deleted ones flagged)."""
        chat = self._chats.get(chat_id)
        return [] if chat is None else [chat.sent[k] for k in sorted(chat.sent)]

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        """The bot's message `message_id` in the chat; KeyError if the bot never sent it."""
        chat = self._chats.get(chat_id)
        if chat is None or message_id not in chat.sent:
            raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")
        return chat.sent[message_id]

    def buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str]]:
        """(text, callback_data) of the message's inline keyboard, row by row; [] if none.

        URL buttons give their url in place of callback_data.
        """
        markup = self.message(chat_id, message_id).reply_markup
        if not markup:
            return []
        return [
            (str(b.get("text", "")), str(b.get("callback_data", b.get("url", ""))))
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]

    def callback_answer(self, callback_query_id: str) -> Call | None:
        """The answerCallbackQuery call that answered this query, if any."""
        return self._callback_answers.get(callback_query_id)

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """The commands last set with setMyCommands for that scope and language."""
        return list(self._commands.get(_scope_key(scope, language_code), []))

    # ------------------------------------------------------------------ faults and files

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

    # ------------------------------------------------------------------ HTTP surface

    async def _not_found(self, request: Request) -> Response:
        return _error_response(404, "Not Found")

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error_response(401, "Unauthorized")
        path = str(request.path_params["file_path"])
        stored = self._files_by_path.get(path)
        if stored is None:
            return _error_response(404, "Not Found")
        self.downloads.append(path)
        return Response(stored.content, media_type="application/octet-stream")

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

    # ------------------------------------------------------------------ updates and webhook

    async def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = call.params
        offset = params.get("offset")
        if isinstance(offset, int) and offset != 0:
            if offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            else:
                self._pending = self._pending[offset:]
        limit = params.get("limit", 100)
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        try:
            timeout = max(float(params.get("timeout", 0)), 0.0)
        except (TypeError, ValueError):
            timeout = 0.0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()  # an older poll still waiting is terminated (409)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._active_polls += 1
        try:
            while True:
                if generation != self._poll_generation:
                    raise _ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                batch = self._available(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._closing:
                    return batch
                await self._updates_signal.wait(remaining)
        finally:
            self._active_polls -= 1

    def _available(self, limit: int) -> list[dict[str, Any]]:
        allowed = set(self._allowed_updates or ())
        batch: list[dict[str, Any]] = []
        for update in self._pending:
            kind = next((k for k in update if k != "update_id"), "")
            if (kind in allowed) if allowed else (kind not in _OPT_IN_UPDATES):
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch

    async def _deliver_webhook_updates(self) -> None:
        """POST pending updates to the webhook, one at a time, retrying failures."""
        while True:
            url = self.webhook_url
            batch = self._available(1) if url else []
            if not batch:
                await self._updates_signal.wait(None)
                continue
            if not _is_loopback(url):
                self._webhook_error = (int(time.time()), "The fake delivers to loopback hosts only")
                await self._updates_signal.wait(None)
                continue
            update = batch[0]
            headers: dict[str, str] = {}
            if self.webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
            assert self._http is not None
            try:
                response = await self._http.post(url, json=update, headers=headers, timeout=10)
                error = None
                if not response.is_success:
                    error = f"Wrong response from the webhook: {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"Connection failed: {type(exc).__name__}"
            if error is None:
                if url == self.webhook_url:
                    self._pending = [
                        u for u in self._pending if u["update_id"] > update["update_id"]
                    ]
            else:
                self._webhook_error = (int(time.time()), error)
                await self._updates_signal.wait(0.2)

    def _set_webhook(self, call: Call) -> bool:
        params = call.params
        url = str(params.get("url", ""))
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        secret = params.get("secret_token")
        self.webhook_secret = str(secret) if secret else None
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        if _flag(params, "drop_pending_updates"):
            self._pending.clear()
        self._webhook_error = None
        self._updates_signal.notify()
        return True

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        if _flag(call.params, "drop_pending_updates"):
            self._pending.clear()
        self._updates_signal.notify()
        return True

    def _get_webhook_info(self, call: Call) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url and self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        if self.webhook_url and self._allowed_updates:
            info["allowed_updates"] = list(self._allowed_updates)
        return info

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

    def _delete_my_commands(self, call: Call) -> bool:
        key = _scope_key(call.params.get("scope"), str(call.params.get("language_code", "")))
        self._commands.pop(key, None)
        return True

    def _get_my_commands(self, call: Call) -> list[dict[str, Any]]:
        key = _scope_key(call.params.get("scope"), str(call.params.get("language_code", "")))
        return list(self._commands.get(key, []))

    # ------------------------------------------------------------------ messages

    def _send_message(self, call: Call) -> dict[str, Any]:
        params = call.params
        chat_id = _chat_id(params)
        text = params.get("text")
        if not isinstance(text, str):
            raise _bad("message text is empty")
        parse_mode = _parse_mode(params)
        entities = _entities_param(params, "entities")
        _check_text(text, parse_mode, entities, MAX_TEXT_LENGTH, "message text")
        markup = _message_markup(params)
        reply_to = self._reply_target(chat_id, params)
        sent = SentMessage(
            message_id=self._chat(chat_id).next_message_id,
            chat_id=chat_id,
            kind="text",
            text=text,
            caption=None,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            parse_mode=parse_mode,
            file=None,
            date=int(time.time()),
            entities=entities,
        )
        return self._store_sent(sent)

    def _send_file(self, call: Call, kind: str) -> dict[str, Any]:
        params = call.params
        chat_id = _chat_id(params)
        content, filename, reference = _file_input(call, kind)
        if content is not None and not content:
            raise _bad("file must be non-empty")
        caption = params.get("caption")
        caption = caption if isinstance(caption, str) and caption else None
        parse_mode = _parse_mode(params)
        entities = _entities_param(params, "caption_entities")
        if caption is not None:
            _check_text(caption, parse_mode, entities, MAX_CAPTION_LENGTH, "caption", empty=False)
        markup = _message_markup(params)
        reply_to = self._reply_target(chat_id, params)
        media = self._media_object(kind, content, filename, reference, params)
        sent = SentMessage(
            message_id=self._chat(chat_id).next_message_id,
            chat_id=chat_id,
            kind=kind,
            text=None,
            caption=caption,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            parse_mode=parse_mode,
            file=content,
            date=int(time.time()),
            media=media,
            filename=filename,
            entities=entities,
        )
        return self._store_sent(sent)

    def _media_object(
        self,
        kind: str,
        content: bytes | None,
        filename: str | None,
        reference: str | None,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        known = self._files.get(reference) if reference is not None else None
        if content is not None:
            suffix = _suffix(filename) or (".mp4" if kind == "video" else "")
            stored = self._store_file(content, None, folder=f"{kind}s", suffix=suffix)
        elif known is not None:
            stored = known
        else:
            stored = None
        media: dict[str, Any]
        if stored is not None:
            media = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content),
            }
        else:  # sent by URL or by a file_id the fake does not hold
            n = self._next_file
            self._next_file += 1
            media = {"file_id": f"fake-file-{n}", "file_unique_id": f"fake-unique-{n}"}
        if filename is None and reference is not None and "://" in reference:
            filename = urlsplit(reference).path.rsplit("/", 1)[-1] or None
        if kind == "video":
            for key in ("width", "height", "duration"):
                value = params.get(key)
                media[key] = value if isinstance(value, int) else 0
            media["mime_type"] = "video/mp4"
            if filename:
                media["file_name"] = filename
        else:
            media["file_name"] = filename or "document"
            media["mime_type"] = "application/octet-stream"
        return media

    def _store_sent(self, sent: SentMessage) -> dict[str, Any]:
        chat = self._chat(sent.chat_id)
        chat.sent[sent.message_id] = sent
        chat.next_message_id = sent.message_id + 1
        return self._message_dict(sent)

    def _edit_target(self, params: dict[str, Any]) -> SentMessage:
        if "inline_message_id" in params:
            raise _bad("inline messages are not supported by the fake")
        chat_id = _chat_id(params)
        message_id = params.get("message_id")
        chat = self._chat(chat_id)
        if not isinstance(message_id, int):
            raise _bad("message identifier is not specified")
        sent = chat.sent.get(message_id)
        if sent is None or sent.deleted:
            if message_id in chat.received:
                raise _bad("message can't be edited")
            raise _bad("message to edit not found")
        return sent

    def _edit_message_text(self, call: Call) -> dict[str, Any]:
        params = call.params
        sent = self._edit_target(params)
        if sent.kind != "text":
            raise _bad("there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str):
            raise _bad("message text is empty")
        parse_mode = _parse_mode(params)
        entities = _entities_param(params, "entities")
        _check_text(text, parse_mode, entities, MAX_TEXT_LENGTH, "message text")
        markup = _inline_markup(params)
        assert sent.text is not None
        same_text = _render(text, parse_mode, entities) == _render(
            sent.text, sent.parse_mode, sent.entities
        )
        if same_text and markup == sent.reply_markup:
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        sent.text, sent.parse_mode, sent.entities = text, parse_mode, entities
        sent.reply_markup = markup
        return self._edited(sent)

    def _edit_message_caption(self, call: Call) -> dict[str, Any]:
        params = call.params
        sent = self._edit_target(params)
        if sent.kind == "text":
            raise _bad("there is no caption in the message to edit")
        caption = params.get("caption")
        caption = caption if isinstance(caption, str) and caption else None
        parse_mode = _parse_mode(params)
        entities = _entities_param(params, "caption_entities")
        if caption is not None:
            _check_text(caption, parse_mode, entities, MAX_CAPTION_LENGTH, "caption", empty=False)
        markup = _inline_markup(params)
        old = _render(sent.caption, sent.parse_mode, sent.entities) if sent.caption else None
        new = _render(caption, parse_mode, entities) if caption else None
        if old == new and markup == sent.reply_markup:
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        sent.caption, sent.parse_mode, sent.entities = caption, parse_mode, entities
        sent.reply_markup = markup
        return self._edited(sent)

    def _edit_message_reply_markup(self, call: Call) -> dict[str, Any]:
        sent = self._edit_target(call.params)
        markup = _inline_markup(call.params)
        if markup == sent.reply_markup:
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        sent.reply_markup = markup
        return self._edited(sent)

    def _edited(self, sent: SentMessage) -> dict[str, Any]:
        sent.edits += 1
        sent.edit_date = int(time.time())
        return self._message_dict(sent)

    def _delete_message(self, call: Call) -> bool:
        chat_id = _chat_id(call.params)
        message_id = call.params.get("message_id")
        chat = self._chat(chat_id)
        sent = chat.sent.get(message_id) if isinstance(message_id, int) else None
        if sent is not None and not sent.deleted:
            sent.deleted = True
            return True
        if isinstance(message_id, int) and chat.received.pop(message_id, None) is not None:
            return True
        raise _bad("message to delete not found")

    def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id", ""))
        if query_id not in self._callback_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if _u16(str(call.params.get("text", ""))) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        self._callback_answers.setdefault(query_id, call)
        return True

    def _send_chat_action(self, call: Call) -> bool:
        _chat_id(call.params)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _get_file(self, call: Call) -> dict[str, Any]:
        stored = self._files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        limit = self.max_download_size
        if limit is not None and len(stored.content) > limit:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------ state helpers

    def _user(self, user_id: int) -> _User:
        return self._users.setdefault(user_id, _User(user_id))

    def _chat(self, chat_id: int) -> _Chat:
        return self._chats.setdefault(chat_id, _Chat())

    def _chat_dict(self, chat_id: int) -> dict[str, Any]:
        user = self._user(chat_id)
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": user.first_name}
        if user.username is not None:
            chat["username"] = user.username
        return chat

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> int | None:
        reply = params.get("reply_parameters")
        allow_missing = _flag(params, "allow_sending_without_reply")
        if isinstance(reply, dict):
            target = reply.get("message_id")
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
        else:
            target = params.get("reply_to_message_id")
        if not isinstance(target, int):
            return None
        chat = self._chat(chat_id)
        sent = chat.sent.get(target)
        if target in chat.received or (sent is not None and not sent.deleted):
            return target
        if allow_missing:
            return None
        raise _bad("message to be replied not found")

    def _message_dict(self, sent: SentMessage, *, with_reply: bool = True) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": sent.date,
            "chat": self._chat_dict(sent.chat_id),
            "from": dict(BOT_USER),
        }
        if sent.edit_date is not None:
            message["edit_date"] = sent.edit_date
        if sent.kind == "text":
            plain, entities = _render(sent.text or "", sent.parse_mode, sent.entities)
            message["text"] = plain
            if entities:
                message["entities"] = entities
        else:
            message[sent.kind] = dict(sent.media or {})
            if sent.caption:
                plain, entities = _render(sent.caption, sent.parse_mode, sent.entities)
                message["caption"] = plain
                if entities:
                    message["caption_entities"] = entities
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        if with_reply and sent.reply_to_message_id is not None:
            chat = self._chat(sent.chat_id)
            target = chat.sent.get(sent.reply_to_message_id)
            if target is not None:
                message["reply_to_message"] = self._message_dict(target, with_reply=False)
            elif sent.reply_to_message_id in chat.received:
                original = dict(chat.received[sent.reply_to_message_id])
                original.pop("reply_to_message", None)
                message["reply_to_message"] = original
        return message

    def _store_file(
        self, content: bytes, file_path: str | None, *, folder: str = "documents", suffix: str = ""
    ) -> _StoredFile:
        n = self._next_file
        self._next_file += 1
        path = file_path or f"{folder}/file_{n}{suffix}"
        stored = _StoredFile(f"fake-file-{n}", f"fake-unique-{n}", bytes(content), path)
        self._files[stored.file_id] = stored
        self._files_by_path[path] = stored
        return stored


# ---------------------------------------------------------------------- request decoding


async def _read_params(request: Request) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
    """Query string, then a JSON, form-encoded or multipart body, decoded as Call.params says."""
    raw: dict[str, Any] = dict(request.query_params)
    files: dict[str, bytes] = {}
    filenames: dict[str, str] = {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body.strip():
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("a JSON body must be an object")
            raw.update(data)
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form(max_part_size=16 * 1024 * 1024) as form:
            for key, item in form.multi_items():
                if isinstance(item, UploadFile):
                    files[key] = await item.read()
                    filenames[key] = item.filename or key
                else:
                    raw[key] = item
    params: dict[str, Any] = {}
    for key, value in raw.items():
        decoded: Any = value
        if isinstance(value, str) and key in JSON_PARAMS:
            with contextlib.suppress(ValueError):
                decoded = json.loads(value)
        elif isinstance(value, str) and key in INT_PARAMS and re.fullmatch(r"-?\d+", value):
            decoded = int(value)
        params[key] = decoded
    return params, files, filenames


def _canonical(method: str) -> str:
    name = _CANONICAL.get(method.lower())
    if name is None:
        raise ValueError(f"the fake does not implement Bot API method {method!r}")
    return name


def _flag(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _chat_id(params: dict[str, Any]) -> int:
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise _bad("chat_id is empty")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        raise _bad("chat not found")
    return chat_id


def _parse_mode(params: dict[str, Any]) -> str | None:
    mode = params.get("parse_mode")
    if mode is None or mode == "":
        return None
    if not isinstance(mode, str) or mode.lower() not in ("html", "markdown", "markdownv2"):
        raise _bad("unsupported parse_mode")
    return mode


def _entities_param(params: dict[str, Any], name: str) -> list[dict[str, Any]] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise _bad(f"can't parse {name} JSON object")
    return [dict(e) for e in value]


def _check_text(
    text: str,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None,
    limit: int,
    what: str,
    *,
    empty: bool = True,
) -> None:
    plain, _ = _render(text, parse_mode, entities)
    if empty and not plain.strip():
        raise _bad(f"{what} is empty")
    if _u16(plain) > limit:
        raise _bad(
            "message is too long" if what == "message text" else f"message {what} is too long"
        )


def _scope_key(scope: Any, language_code: str) -> tuple[str, str]:
    if not isinstance(scope, dict):
        scope = {"type": "default"}
    return json.dumps(scope, sort_keys=True), language_code


def _file_input(call: Call, field_name: str) -> tuple[bytes | None, str | None, str | None]:
    """(uploaded bytes, upload filename, string reference) of the file parameter."""
    if field_name in call.files:
        return call.files[field_name], call.filenames.get(field_name), None
    value = call.params.get(field_name)
    if isinstance(value, str) and value.startswith("attach://"):
        part = value.removeprefix("attach://")
        if part not in call.files:
            raise _bad("wrong file identifier/HTTP URL specified")
        return call.files[part], call.filenames.get(part), None
    if isinstance(value, str) and value:
        return None, None, value
    raise _bad(f"there is no {field_name} in the request")


def _suffix(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return "." + filename.rsplit(".", 1)[1]


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _short(params: dict[str, Any], limit: int = 200) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------- keyboards


def _message_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """Validate any reply_markup of a send; return the inline keyboard the message carries."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    reply_keyboard = ("keyboard", "remove_keyboard", "force_reply")
    if isinstance(markup, dict) and any(k in markup for k in reply_keyboard):
        return None  # a reply keyboard: it belongs to the chat, not to the message
    return _inline_markup(params)


def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """The validated inline keyboard in reply_markup; None when absent or empty."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad("can't parse inline keyboard button: InlineKeyboardMarkup expected")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad("can't parse inline keyboard button: Text must be a String")
            actions = [a for a in _BUTTON_ACTIONS if a in button]
            if len(actions) != 1:
                raise _bad("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if "callback_data" in button and (
                not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
            ):
                raise _bad("BUTTON_DATA_INVALID")
    if not any(rows):
        return None
    return {"inline_keyboard": [[dict(b) for b in row] for row in rows]}


# ---------------------------------------------------------------------- text rendering


def _u16(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram adds to a user's plain text: bot commands and links."""
    entities: list[dict[str, Any]] = []
    for kind, pattern in (("bot_command", _COMMAND_RE), ("url", _URL_RE)):
        for m in pattern.finditer(text):
            entities.append(
                {"type": kind, "offset": _u16(text[: m.start()]), "length": _u16(m.group(0))}
            )
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[A-Za-z][-A-Za-z0-9]*")
_ATTR_RE = re.compile(
    r"([A-Za-z_][-A-Za-z0-9_]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?"
)
_REF_RE = re.compile(r"&(#[xX][0-9A-Fa-f]{1,8}|#[0-9]{1,10}|[A-Za-z]{1,10});")


def _render(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) as Telegram stores the message; raises _ApiError on bad HTML.

    Only HTML is parsed; Markdown texts are kept as sent.
    """
    if parse_mode is not None and parse_mode.lower() == "html":
        return _parse_html(text)
    return text, list(entities or [])


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out: list[str] = []
    offset = 0  # UTF-16 position in the output
    stack: list[tuple[str, dict[str, str], int]] = []
    entities: list[dict[str, Any]] = []

    def fail(message: str, at: int | None = None) -> _ApiError:
        where = f" at byte offset {len(text[:at].encode())}" if at is not None else ""
        return _bad(f"can't parse entities: {message}{where}")

    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            end = text.find(">", i)
            if end < 0:
                raise fail("Unclosed start tag", i)
            inner = text[i + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise fail(f'Unexpected end tag "{name}"', i)
                open_name, attrs, start = stack.pop()
                if name != open_name:
                    raise fail(
                        f'Unmatched end tag, expected "</{open_name}>", found "</{name}>"', i
                    )
                entity = _html_entity(open_name, attrs, start, offset - start, stack)
                if entity is not None:
                    entities.append(entity)
            else:
                m = _TAG_NAME_RE.match(inner)
                name = m.group(0).lower() if m else ""
                if m is None or name not in _HTML_TAGS:
                    raise fail(f'Unsupported start tag "{name or inner[:10]}"', i)
                attrs = {
                    a.lower(): _unescape(v1 or v2 or v3)
                    for a, v1, v2, v3 in _ATTR_RE.findall(inner[m.end() :])
                }
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise fail('Tag "span" must have class "tg-spoiler"', i)
                stack.append((name, attrs, offset))
            i = end + 1
            continue
        if char == "&":
            ref = _REF_RE.match(text, i)
            decoded = _decode_ref(ref.group(1)) if ref else None
            if ref is not None and decoded is not None:
                out.append(decoded)
                offset += _u16(decoded)
                i = ref.end()
                continue
        out.append(char)
        offset += _u16(char)
        i += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _unescape(value: str) -> str:
    return _REF_RE.sub(lambda m: _decode_ref(m.group(1)) or m.group(0), value)


def _decode_ref(ref: str) -> str | None:
    if ref.startswith("#"):
        number = int(ref[2:], 16) if ref[1:2] in ("x", "X") else int(ref[1:])
        return chr(number) if 0 < number <= 0x10FFFF else None
    return _NAMED_REFS.get(ref)


def _html_entity(
    name: str,
    attrs: dict[str, str],
    start: int,
    length: int,
    stack: list[tuple[str, dict[str, str], int]],
) -> dict[str, Any] | None:
    if name == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][1]["language"] = language.removeprefix("language-")
        return None  # <pre><code class="language-x"> is one pre entity
    if length <= 0:
        return None
    kind = _HTML_TAGS[name]
    if name == "blockquote" and "expandable" in attrs:
        kind = "expandable_blockquote"
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
    if kind == "text_link":
        if not attrs.get("href"):
            return None
        entity["url"] = attrs["href"]
    elif kind == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity
