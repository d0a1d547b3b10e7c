"""Telegram handlers: parse input, call the services, reply. Registered here, in order."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from handlers import admin, money
from handlers.errors import on_error
from handlers.fallbacks import group_chat, unknown_command, unsupported_message
from handlers.followups import FOLLOW_UP_BUTTON, follow_up_button
from handlers.gate import admit
from handlers.language import LANGUAGE_BUTTON, language_button, language_command
from handlers.payments import (
    BUY_BUTTON,
    buy_button,
    buy_command,
    paysupport_command,
    pre_checkout,
    refunded_payment,
    successful_payment,
    terms_command,
)
from handlers.requests import card_button, edited_message, text_message
from handlers.start import help_command, start
from handlers.tasks import (
    CANCEL_TASK_BUTTON,
    cancel_task_button,
    status_command,
    tasks_command,
)
from handlers.uploads import first_frame_upload, video_upload

PRIVATE = filters.ChatType.PRIVATE

ADMIN_COMMANDS = {
    "stats": admin.stats,
    "user": admin.user,
    "ban": admin.ban,
    "unban": admin.unban,
    "limit": admin.limit,
    "task": admin.task,
    "redeliver": admin.redeliver,
    "maintenance": admin.maintenance,
    "broadcast": admin.broadcast,
    "allow": admin.allow,
    "deny": admin.deny,
    "refund": money.refund,
    "grant": money.grant,
    "payments": money.payments,
    "reconcile": money.reconcile,
}


def register(
    application: Application,  # type: ignore[type-arg]
    admin_ids: frozenset[int],
    *,
    payments: bool = False,
) -> None:
    """Add every handler to the application; `payments`: PAYMENTS=stars (/buy and the rest)."""
    # Group -1 runs first for every update: it records the user, and stops the update there
    # when the user may not use the bot (banned, or not approved in allowlist mode).
    application.add_handler(TypeHandler(Update, admit), group=-1)

    # Order matters within group 0: the first matching handler wins, so the catch-alls come last.
    # An edited message (commands included) goes only here: it may change the showing card.
    application.add_handler(
        MessageHandler(PRIVATE & filters.UpdateType.EDITED_MESSAGE, edited_message)
    )
    application.add_handler(CommandHandler("start", start, filters=PRIVATE))
    application.add_handler(CommandHandler("help", help_command, filters=PRIVATE))
    application.add_handler(CommandHandler("tasks", tasks_command, filters=PRIVATE))
    application.add_handler(CommandHandler("status", status_command, filters=PRIVATE))
    application.add_handler(CommandHandler("language", language_command, filters=PRIVATE))
    if payments:
        application.add_handler(CommandHandler("buy", buy_command, filters=PRIVATE))
        application.add_handler(CommandHandler("paysupport", paysupport_command, filters=PRIVATE))
        application.add_handler(CommandHandler("terms", terms_command, filters=PRIVATE))
        application.add_handler(
            MessageHandler(PRIVATE & filters.SUCCESSFUL_PAYMENT, successful_payment)
        )
        application.add_handler(
            MessageHandler(PRIVATE & filters.StatusUpdate.REFUNDED_PAYMENT, refunded_payment)
        )
        application.add_handler(PreCheckoutQueryHandler(pre_checkout))
        application.add_handler(CallbackQueryHandler(buy_button, pattern=BUY_BUTTON))
    # Admin commands exist only for admins: anyone else falls through to unknown_command.
    admins = PRIVATE & filters.User(user_id=admin_ids)
    for name, callback in ADMIN_COMMANDS.items():
        application.add_handler(CommandHandler(name, callback, filters=admins))
    application.add_handler(MessageHandler(PRIVATE & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(~PRIVATE & filters.COMMAND, group_chat))
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT, text_message))
    # Before the videos: a photo or a document that is not a video may be a card's first frame.
    not_a_video = filters.Document.ALL & ~filters.Document.VIDEO & ~filters.ANIMATION
    application.add_handler(
        MessageHandler(PRIVATE & (filters.PHOTO | not_a_video), first_frame_upload)
    )
    application.add_handler(
        MessageHandler(
            PRIVATE
            & (filters.VIDEO | filters.ANIMATION | filters.VIDEO_NOTE | filters.Document.ALL),
            video_upload,
        )
    )
    application.add_handler(MessageHandler(PRIVATE, unsupported_message))
    application.add_handler(CallbackQueryHandler(admin.access_button, pattern=admin.ACCESS_BUTTON))
    application.add_handler(
        CallbackQueryHandler(admin.broadcast_button, pattern=admin.BROADCAST_BUTTON)
    )
    application.add_handler(CallbackQueryHandler(money.price_button, pattern=money.PRICE_BUTTON))
    application.add_handler(CallbackQueryHandler(language_button, pattern=LANGUAGE_BUTTON))
    application.add_handler(CallbackQueryHandler(cancel_task_button, pattern=CANCEL_TASK_BUTTON))
    application.add_handler(CallbackQueryHandler(follow_up_button, pattern=FOLLOW_UP_BUTTON))
    application.add_handler(CallbackQueryHandler(card_button))

    application.add_error_handler(on_error)
