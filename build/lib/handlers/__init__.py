"""Telegram handlers: parse input, call the services, reply. Registered here, in order."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers.errors import on_error
from handlers.fallbacks import group_chat, unknown_command, unsupported_message, video_file
from handlers.requests import card_button, text_message
from handlers.start import help_command, start
from handlers.tasks import status_command, tasks_command
from handlers.users import remember_user

PRIVATE = filters.ChatType.PRIVATE


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add every handler to the application."""
    # Group -1 runs before the others for every update and lets them run too.
    application.add_handler(TypeHandler(Update, remember_user), group=-1)

    # Order matters within group 0: the first matching handler wins, so the catch-alls come last.
    application.add_handler(CommandHandler("start", start, filters=PRIVATE))
    application.add_handler(CommandHandler("help", help_command, filters=PRIVATE))
    application.add_handler(CommandHandler("tasks", tasks_command, filters=PRIVATE))
    application.add_handler(CommandHandler("status", status_command, filters=PRIVATE))
    application.add_handler(MessageHandler(PRIVATE & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(~PRIVATE & filters.COMMAND, group_chat))
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT, text_message))
    application.add_handler(
        MessageHandler(PRIVATE & (filters.VIDEO | filters.Document.VIDEO), video_file)
    )
    application.add_handler(MessageHandler(PRIVATE, unsupported_message))
    application.add_handler(CallbackQueryHandler(card_button))

    application.add_error_handler(on_error)
