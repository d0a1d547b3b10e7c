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
edit/delete/reply to/copy, unknown callback query ids, uploads over 50 MiB (413) and `getFile`
over 20 MiB ("file is too big"; set `max_download_size = None` to lift it, or `local_files_dir`
to act like a local Bot API server started with --local: getFile then gives a path on that
disk).
Messages returned to the bot are rendered as Telegram renders them (HTML tags become
`entities`); `SentMessage.text` keeps what the bot sent, `SentMessage.rendered` what the user
sees.
`copyMessage` copies a user's message or one of the bot's (a text with its entities, or a
photo, video, animation, document... with its caption) into a chat as a new message of the
bot's (to a blocked user 403 like any send; an unknown message 400 "message to copy not
found"); `SentMessage.copied_from` says which message it copied, and its `entities` are the
original's.

Payments in Telegram Stars: `sendInvoice` checked as Telegram checks a Stars invoice (currency
"XTR", no provider token, exactly one price, no tips, payload 1-128 bytes; `tg.invoices(chat_id)`
lists them), and the user's side: `await tg.pay(user_id, invoice_message_id)` sends a
`pre_checkout_query`, waits up to 10 s for `answerPreCheckoutQuery` (a later answer is refused,
as Telegram refuses it) and, if ok, queues the user's message with `successful_payment`; it
returns a PaymentResult (answered, ok, error_message, charge_id). `pay(..., invoice_payload=...,
total_amount=...)` or `send_pre_checkout_query(...)` forge the query, `replay_payment(charge_id)`
delivers a payment twice. `refundStarPayment` refunds a charge once (then a message with
`refunded_payment` follows; `refund_messages = False` leaves it out) and `getStarTransactions`
lists the payments in and the refunds out, oldest first (`tg.star_payments(user_id)`).

Updates wait in a queue until confirmed by a later `getUpdates` offset (or delivered to a
webhook). While a webhook is set, `getUpdates` answers 409 like Telegram, and updates are POSTed
to the webhook URL (loopback hosts only; never the network) with the
`X-Telegram-Bot-Api-Secret-Token` header.

The package, a concern a module: `bot_api` the server (routes, the record of calls, faults,
files, commands), `updates` the update queue (getUpdates and the webhook), `messages` the message
methods, `params` decoding and checking a call's parameters, `rendering` what a message looks
like (Telegram's HTML, entities, UTF-16 lengths), `state` what the fake holds, `payments` the
Telegram Stars payments (invoices, pre-checkout queries, refunds, Star transactions), `protocol`
the Bot API's constants and error answers, and `client` the test's side (FakeTelegram).
"""

from tests.fakes.telegram.client import FakeTelegram
from tests.fakes.telegram.payments import PaymentResult, PreCheckout, SentInvoice, StarPayment
from tests.fakes.telegram.protocol import (
    BLOCKABLE_METHODS,
    BLOCKED,
    BOT_USER,
    BOT_USER_ID,
    CHAT_ACTIONS,
    GET_ME,
    INT_PARAMS,
    JSON_PARAMS,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_DOWNLOAD_SIZE,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_SIZE,
    MEDIA_KINDS,
    METHODS,
    NOT_MODIFIED,
    PRE_CHECKOUT_TIMEOUT,
    STARS,
    TEST_BOT_TOKEN,
    UPLOAD_METHODS,
)
from tests.fakes.telegram.rendering import _render
from tests.fakes.telegram.state import Call, SentMessage

__all__ = [
    "BLOCKABLE_METHODS",
    "BLOCKED",
    "BOT_USER",
    "BOT_USER_ID",
    "CHAT_ACTIONS",
    "GET_ME",
    "INT_PARAMS",
    "JSON_PARAMS",
    "MAX_CALLBACK_ANSWER_LENGTH",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_DOWNLOAD_SIZE",
    "MAX_TEXT_LENGTH",
    "MAX_UPLOAD_SIZE",
    "MEDIA_KINDS",
    "METHODS",
    "NOT_MODIFIED",
    "PRE_CHECKOUT_TIMEOUT",
    "STARS",
    "TEST_BOT_TOKEN",
    "UPLOAD_METHODS",
    "Call",
    "FakeTelegram",
    "PaymentResult",
    "PreCheckout",
    "SentInvoice",
    "SentMessage",
    "StarPayment",
    "_render",  # tests/test_text_limits.py checks texts against Telegram's rendering
]
