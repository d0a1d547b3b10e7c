"""The gate every private update passes first: record the user, and stop those who may not
use the bot (banned; in allowlist mode, not yet approved) with one polite sentence."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import texts
from bot.domain.records import User
from bot.runtime import runtime
from bot.services.access import Admission

log = logging.getLogger(__name__)

ACCESS = "access"
_REFUSALS = {
    Admission.BANNED: texts.banned(),
    Admission.ASKED: texts.access_asked(),
    Admission.WAITING: texts.access_waiting(),
    Admission.DENIED: texts.access_denied(),
}


async def admit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let the update through, or answer it with a refusal and stop it here."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or user.is_bot or chat is None or chat.type != chat.PRIVATE:
        return
    rt = runtime(context)
    try:
        admission = await rt.access.admit(user.id, user.username, user.first_name)
    except Exception:
        # Fail closed: without an answer about this user, nothing of theirs goes on.
        log.exception("Could not check whether user %d may use the bot", user.id)
        raise ApplicationHandlerStop from None
    if admission == Admission.ALLOWED:
        return
    try:
        await _refuse(update, _REFUSALS[admission])
        if admission == Admission.ASKED:
            record = await rt.access.user(user.id)
            if record is not None:
                await ask_admins(context, rt.settings.admin_ids, record)
    except Exception:
        log.exception("Refusing user %d did not go through", user.id)
    raise ApplicationHandlerStop  # refused, whether or not the refusal could be sent


async def _refuse(update: Update, refusal: str) -> None:
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.shorten(refusal, texts.TOAST_LIMIT))
        elif update.effective_message is not None:
            await update.effective_message.reply_text(refusal)
    except TelegramError as exc:
        log.info("Could not send a refusal: %s", exc)


async def ask_admins(
    context: ContextTypes.DEFAULT_TYPE, admin_ids: frozenset[int], user: User
) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.button_approve(), callback_data=f"{ACCESS}:{user.id}:allow"
                ),
                InlineKeyboardButton(texts.button_deny(), callback_data=f"{ACCESS}:{user.id}:deny"),
            ]
        ]
    )
    for admin_id in admin_ids:
        try:
            await context.bot.send_message(
                chat_id=admin_id, text=texts.admin_access_request(user), reply_markup=keyboard
            )
        except TelegramError as exc:
            log.warning("Could not ask admin %d about user %d: %s", admin_id, user.id, exc)
