"""The parameters of a Bot API call: decoding a request into Call.params, and checking each
parameter as Telegram does (chat ids, parse modes, entities, text lengths, files, keyboards)."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from tests.fakes.telegram.protocol import (
    _BUTTON_ACTIONS,
    INT_PARAMS,
    JSON_PARAMS,
    MAX_CALLBACK_DATA_BYTES,
    _bad,
)
from tests.fakes.telegram.rendering import _render, _u16
from tests.fakes.telegram.state import Call


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
