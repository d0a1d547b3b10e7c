"""The Bot API methods on a chat's messages: sendMessage, copyMessage, sendVideo, sendDocument
and sendPhoto, the edits, deleteMessage, answerCallbackQuery and sendChatAction, each checked as
Telegram checks it."""

from __future__ import annotations

import copy
import time
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.telegram.params import (
    _chat_id,
    _check_text,
    _entities_param,
    _file_input,
    _flag,
    _inline_markup,
    _message_markup,
    _parse_mode,
    _suffix,
)
from tests.fakes.telegram.protocol import (
    CHAT_ACTIONS,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    MEDIA_KINDS,
    NOT_MODIFIED,
    _bad,
)
from tests.fakes.telegram.rendering import _render, _u16
from tests.fakes.telegram.state import Call, SentMessage, TelegramState


class MessageMethods(TelegramState):
    """The handlers of the message methods; each takes the Call and returns the result."""

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
        return self._store_new(
            chat_id,
            "text",
            parse_mode,
            entities,
            markup,
            reply_to,
            text=text,
            caption=None,
            file=None,
        )

    def _send_file(self, call: Call, kind: str) -> dict[str, Any]:
        params = call.params
        chat_id = _chat_id(params)
        content, filename, reference = _file_input(call, kind)
        if content is not None and not content:
            raise _bad("file must be non-empty")
        caption, parse_mode, entities = _caption_param(params)
        markup = _message_markup(params)
        reply_to = self._reply_target(chat_id, params)
        media = self._media_object(kind, content, filename, reference, params)
        return self._store_new(
            chat_id,
            kind,
            parse_mode,
            entities,
            markup,
            reply_to,
            text=None,
            caption=caption,
            file=content,
            media=media,
            filename=filename,
        )

    def _copy_message(self, call: Call) -> dict[str, Any]:
        """A new message of the bot's in `chat_id` with the text, or the media and caption, of
        message `message_id` of chat `from_chat_id` (a user's or the bot's), its entities as
        they are; a new `caption` replaces the caption. Answers a MessageId, as Telegram does."""
        params = call.params
        chat_id = _chat_id(params)
        from_chat_id = params.get("from_chat_id")
        if not isinstance(from_chat_id, int) or isinstance(from_chat_id, bool):
            raise _bad("chat not found")
        original = self._message_to_copy(from_chat_id, params.get("message_id"))
        text, caption, media = original.get("text"), None, None
        if isinstance(text, str):
            kind, entities = "text", original.get("entities")
        else:
            kind = next((k for k in MEDIA_KINDS if k in original), "")
            if not kind:  # a service message, a poll, a game...: not for the fake to copy
                raise _bad("message can't be copied")
            media = copy.deepcopy(original[kind])
            caption, entities = original.get("caption"), original.get("caption_entities")
        parse_mode = None  # the entities come as they are, not parsed again
        if kind != "text" and "caption" in params:
            caption, parse_mode, entities = _caption_param(params)
        markup = _message_markup(params)
        reply_to = self._reply_target(chat_id, params)
        sent = SentMessage(
            message_id=self._chat(chat_id).next_message_id,
            chat_id=chat_id,
            kind=kind,
            text=text if kind == "text" else None,
            caption=caption,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            parse_mode=parse_mode,
            file=None,
            date=int(time.time()),
            media=media,
            entities=copy.deepcopy(entities) if entities else None,
            copied_from=(from_chat_id, int(params["message_id"])),
        )
        self._store_sent(sent)
        return {"message_id": sent.message_id}

    def _message_to_copy(self, chat_id: int, message_id: Any) -> dict[str, Any]:
        """The Bot API Message a copy is made of: a user's message, or one of the bot's."""
        if not isinstance(message_id, int):
            raise _bad("message identifier is not specified")
        chat = self._chats.get(chat_id)
        if chat is not None and message_id in chat.received:
            return chat.received[message_id]
        sent = chat.sent.get(message_id) if chat is not None else None
        if sent is None or sent.deleted:
            raise _bad("message to copy not found")
        return self._message_dict(sent, with_reply=False)

    def _store_new(
        self,
        chat_id: int,
        kind: str,
        parse_mode: str | None,
        entities: list[dict[str, Any]] | None,
        markup: dict[str, Any] | None,
        reply_to: int | None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Store the message a send call made (its parameters checked already); its Bot API
        object."""
        sent = SentMessage(
            message_id=self._chat(chat_id).next_message_id,
            chat_id=chat_id,
            kind=kind,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            parse_mode=parse_mode,
            date=int(time.time()),
            entities=entities,
            **fields,
        )
        return self._store_sent(sent)

    def _media_object(
        self,
        kind: str,
        content: bytes | None,
        filename: str | None,
        reference: str | None,
        params: dict[str, Any],
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The Bot API object of the sent file: a list of sizes for a photo (one here: the
        fake does not scale), else the video or document."""
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
        if kind == "photo":
            width, height = _png_size(content) if content is not None else (0, 0)
            return [{**media, "width": width, "height": height}]
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
        caption, parse_mode, entities = _caption_param(params)
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


def _png_size(content: bytes) -> tuple[int, int]:
    """A PNG's width and height from its IHDR chunk; (0, 0) for another image."""
    if content[:8] != b"\x89PNG\r\n\x1a\n" or content[12:16] != b"IHDR":
        return 0, 0
    return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")


def _caption_param(params: dict[str, Any]) -> tuple[str | None, str | None, Any]:
    """A call's caption (None when empty), its parse mode and entities, checked as Telegram
    checks a caption (its markup, at most 1024 characters as rendered)."""
    caption = params.get("caption")
    caption = caption if isinstance(caption, str) and caption else None
    parse_mode = _parse_mode(params)
    entities = _entities_param(params, "caption_entities")
    if caption is not None:
        _check_text(caption, parse_mode, entities, MAX_CAPTION_LENGTH, "caption", empty=False)
    return caption, parse_mode, entities
