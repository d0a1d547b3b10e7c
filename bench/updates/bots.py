"""The two bots the throughput bench measures: the bot as shipped (BotApp, with its rate
limiters' limits lifted unless asked to keep them) and a bare python-telegram-bot echo bot with
the same Bot API settings."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any
from unittest import mock

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

import bot.app
from bot import texts
from bot.app import (
    ALLOWED_UPDATES,
    CONCURRENT_UPDATES,
    LONG_POLL_SECONDS,
    TELEGRAM_SENDS_PER_SECOND,
    BotApp,
)
from bot.config import load_settings
from bot.net.pacing import SendPacer
from tests.database import TestDatabase
from tests.fakes.kie import TEST_KIE_KEY
from tests.fakes.telegram import TEST_BOT_TOKEN

ADMIN_ID = 900  # as in the tests; never one of the users here
LIFTED = 1_000_000_000  # a count of sends a second no run reaches


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rate_limiter(flood_limit: bool, max_retries: int = 3) -> AIORateLimiter:
    """The echo bot's: TELEGRAM_SENDS_PER_SECOND one at a time when `flood_limit` (the bot's
    own pacing before issue 18), else nothing limited."""
    if flood_limit:
        return AIORateLimiter(
            overall_max_rate=1,
            overall_time_period=1 / TELEGRAM_SENDS_PER_SECOND,
            max_retries=max_retries,
        )
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)


def bot_rate_limiter(flood_limit: bool, max_retries: int = 3) -> AIORateLimiter:
    """The one inside the bot's SharedSends (bot/app.py): retries, and the group limit unless
    lifted; its overall limit is off either way (the bot's SendPacer keeps it)."""
    if flood_limit:
        return AIORateLimiter(overall_max_rate=0, max_retries=max_retries)
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)


def pacer(flood_limit: bool) -> Callable[..., SendPacer]:
    """The bot's SendPacer as it makes it, or with limits out of reach unless `flood_limit`
    (its code still runs for every send). On PostgreSQL the pacing every instance shares
    takes the pacer's rules: lifted too, each send still takes its turn (a transaction)."""

    def make(rate: float, **limits: Any) -> SendPacer:
        if flood_limit:
            return SendPacer(rate, **limits)
        return SendPacer(LIFTED, window_count=LIFTED)

    return make


@contextlib.asynccontextmanager
async def real_bot(
    telegram_url: str,
    kie_url: str,
    database: TestDatabase,
    flood_limit: bool,
    metrics: bool = False,
) -> AsyncIterator[None]:
    """The bot on `database`: its SQLite file, or its PostgreSQL URL when it has one.
    `metrics`: with /metrics served (METRICS_PORT), so that everything is counted."""
    settings = load_settings(
        _env_file=None,
        telegram_bot_token=TEST_BOT_TOKEN,
        telegram_api_url=telegram_url,
        provider="kie",
        provider_api_key=TEST_KIE_KEY,
        provider_base_url=kie_url,
        database_path=database.path,
        database_url=database.url or "",
        admin_ids=str(ADMIN_ID),
        # The example links do not resolve: no preflight (as in the tests).
        allow_loopback_urls=True,
        preflight_checks=False,
        log_level="WARNING",
        metrics_port=free_port() if metrics else None,
    )
    with (
        mock.patch.object(
            bot.app,
            "AIORateLimiter",
            lambda max_retries=0, **_: bot_rate_limiter(flood_limit, max_retries),
        ),
        mock.patch.object(bot.app, "SendPacer", pacer(flood_limit)),
    ):
        app = BotApp(settings)
        await app.start()  # where the shared pacing is made (on PostgreSQL)
    try:
        yield
    finally:
        await app.stop()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


# The same shape as the bot's card (HTML with a link, two buttons), for --echo-answer card.
ECHO_CARD_KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("✅ Submit", callback_data="submit:1"),
            InlineKeyboardButton("✖ Cancel", callback_data="cancel:1"),
        ]
    ]
)


async def echo_card(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        link, _, prompt = message.text.partition(" ")
        card = texts.confirmation_card(link, prompt, None, None)
        await message.reply_text(card, reply_markup=ECHO_CARD_KEYBOARD)


@contextlib.asynccontextmanager
async def echo_bot(telegram_url: str, flood_limit: bool, card: bool) -> AsyncIterator[None]:
    application = (
        Application.builder()
        .token(TEST_BOT_TOKEN)
        .base_url(f"{telegram_url}/bot")
        .base_file_url(f"{telegram_url}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(rate_limiter(flood_limit))
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND, echo_card if card else echo)
    )
    updater = application.updater
    assert updater is not None
    async with application:
        await application.start()
        await updater.start_polling(timeout=LONG_POLL_SECONDS, allowed_updates=ALLOWED_UPDATES)
        try:
            yield
        finally:
            await updater.stop()
            await application.stop()
