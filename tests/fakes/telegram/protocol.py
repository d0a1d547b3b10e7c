"""What the fake knows of the Bot API itself: the token and the bot, the limits, the methods,
how parameters are typed, and the error answers Telegram gives."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

TEST_BOT_TOKEN = "123456:TEST-token-for-the-fake-bot-api-only"
BOT_USER_ID = 123456

MAX_UPLOAD_SIZE = 50 * 1024 * 1024  # what the cloud Bot API accepts from a bot
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # what getFile lets a bot download
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

# Telegram Stars payments (sendInvoice and what follows it).
STARS = "XTR"  # the currency of Telegram Stars: digital goods are sold in it
PRE_CHECKOUT_TIMEOUT = 10.0  # seconds the Bot API waits for answerPreCheckoutQuery
MAX_INVOICE_TITLE = 32  # characters
MAX_INVOICE_DESCRIPTION = 255  # characters
MAX_INVOICE_PAYLOAD_BYTES = 128

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
        "prices",
        "suggested_tip_amounts",
    }
)
INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "user_id",
        "reply_to_message_id",
        "duration",
        "width",
        "height",
        "max_tip_amount",
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
    "copyMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "deleteMessage",
    "answerCallbackQuery",
    "sendChatAction",
    "sendVideo",
    "sendDocument",
    "sendPhoto",
    "getFile",
    "sendInvoice",
    "answerPreCheckoutQuery",
    "refundStarPayment",
    "getStarTransactions",
)
_CANONICAL = {name.lower(): name for name in METHODS}

BLOCKABLE_METHODS = frozenset(
    {
        "sendMessage",
        "copyMessage",
        "sendVideo",
        "sendDocument",
        "sendPhoto",
        "sendInvoice",
        "sendChatAction",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
    }
)
UPLOAD_METHODS = frozenset({"sendVideo", "sendDocument", "sendPhoto"})
# The media a message may carry, as the field of a Bot API Message that holds it; copyMessage
# copies the first one present (an animation's message also has a "document" field).
MEDIA_KINDS = ("animation", "photo", "video", "video_note", "voice", "audio", "document", "sticker")
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
# What the Bot API answers for an unknown, already answered or expired query (QUERY_ID_INVALID).
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


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


def _canonical(method: str) -> str:
    name = _CANONICAL.get(method.lower())
    if name is None:
        raise ValueError(f"the fake does not implement Bot API method {method!r}")
    return name
