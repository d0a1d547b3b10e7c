"""What the fake Telegram holds: the calls it received, the users and their chats, the bot's
messages in them (and how each shows as a Bot API Message), stored files, callback queries."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.telegram.protocol import BOT_USER
from tests.fakes.telegram.rendering import _render


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
    kind: str  # "text", or the media: "video", "document", "photo", "animation"... (MEDIA_KINDS)
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
    # The "video"/"document"/... object Telegram returned (a list of sizes for a "photo").
    media: dict[str, Any] | list[dict[str, Any]] | None = None
    filename: str | None = None  # the upload's filename
    entities: list[dict[str, Any]] | None = None  # explicit entities/caption_entities sent
    deleted: bool = False
    copied_from: tuple[int, int] | None = None  # (chat id, message id) copyMessage copied

    @property
    def rendered_entities(self) -> list[dict[str, Any]]:
        """The entities of the text (or caption) as the user's app gets them."""
        source = self.text if self.kind == "text" else self.caption
        return [] if source is None else _render(source, self.parse_mode, self.entities)[1]

    @property
    def rendered(self) -> str | None:
        """The text (or caption) as the user sees it: HTML markup removed, entities decoded."""
        source = self.text if self.kind == "text" else self.caption
        if source is None:
            return None
        return _render(source, self.parse_mode)[0]


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


class TelegramState:
    """The users, chats, files and callback queries of the fake, and the look-ups on them."""

    def __init__(self) -> None:
        super().__init__()
        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._next_file = 1
        self._callback_queries: dict[str, int] = {}  # id -> chat id
        self._callback_answers: dict[str, Call] = {}
        self._next_callback = 1

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
            media = sent.media or {}
            message[sent.kind] = (
                [dict(size) for size in media] if isinstance(media, list) else dict(media)
            )
            if sent.kind == "animation":  # Telegram gives an animation as a document too
                message["document"] = dict(message["animation"])
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

    def _store_sent(self, sent: SentMessage) -> dict[str, Any]:
        chat = self._chat(sent.chat_id)
        chat.sent[sent.message_id] = sent
        chat.next_message_id = sent.message_id + 1
        return self._message_dict(sent)

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
