"""The error handler: log the traceback, apologise to the user, tell the admins."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.ext import ContextTypes

from bot import texts
from bot.domain.database import DatabaseUnavailableError
from bot.runtime import BOT_DATA_KEY, Runtime

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handle an exception raised while handling an update."""
    error = context.error
    database_away = isinstance(error, DatabaseUnavailableError)
    if database_away:  # not a bug, and /healthz says so too
        log.warning("An update could not be handled: %s", error)
    else:
        log.error("Unhandled error while handling an update", exc_info=error)
    if isinstance(update, Update):
        answer = texts.database_unavailable() if database_away else texts.unexpected_error()
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(texts.shorten(answer, texts.TOAST_LIMIT))
            elif update.effective_message is not None:
                await update.effective_message.reply_text(answer)
        except Exception as exc:
            log.warning("Could not apologise to the user: %s", exc)
    if database_away:
        return
    rt = context.bot_data.get(BOT_DATA_KEY)
    if isinstance(rt, Runtime) and error is not None:
        trace = "".join(traceback.format_exception(error))
        sender = update.effective_user if isinstance(update, Update) else None
        user = sender.id if sender else None
        await rt.outbox.report_to_admins(lambda: texts.report_unhandled(user, repr(error), trace))
