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
from bot.texts import i18n

log = logging.getLogger(__name__)

ACCESS = "access"
_REFUSALS = {
    Admission.BANNED: texts.banned,
    Admission.ASKED: texts.access_asked,
    Admission.WAITING: texts.access_waiting,
    Admission.DENIED: texts.access_denied,
}


async def admit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let the update through, or answer it with a refusal and stop it here."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or user.is_bot or chat is None or chat.type != chat.PRIVATE:
        return
    rt = runtime(context)
    try:
        admission, record = await rt.access.admit(
            user.id, user.username, user.first_name, user.language_code
        )
    except Exception:
        # Fail closed: without an answer about this user, nothing of theirs goes on.
        log.exception("Could not check whether user %d may use the bot", user.id)
        raise ApplicationHandlerStop from None
    # This update's task says everything in the user's language from here on.
    i18n.speak(rt.languages.remember(record))
    if admission == Admission.ALLOWED:
        return
    message = update.effective_message
    if message is not None and (message.successful_payment or message.refunded_payment):
        return  # Stars moved (banned since the pre-checkout?): recorded all the same
    try:
        await _refuse(update, _REFUSALS[admission]())
        if admission == Admission.ASKED:
            asked = await rt.access.user(user.id)
            if asked is not None:
                await ask_admins(context, rt.settings.admin_ids, asked)
    except Exception:
        log.exception("Refusing user %d did not go through", user.id)
    raise ApplicationHandlerStop  # refused, whether or not the refusal could be sent


def _access_buttons(user: User) -> InlineKeyboardMarkup:
    allow = InlineKeyboardButton(texts.button_approve(), callback_data=f"{ACCESS}:{user.id}:allow")
    deny = InlineKeyboardButton(texts.button_deny(), callback_data=f"{ACCESS}:{user.id}:deny")
    return InlineKeyboardMarkup([[allow, deny]])


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
    """Each admin, in their own language, with the buttons to decide."""
    languages = runtime(context).languages
    for admin_id in admin_ids:
        try:
            with i18n.speaking(await languages.of(admin_id)):
                keyboard = _access_buttons(user)
                text = texts.admin_access_request(user)
            await context.bot.send_message(chat_id=admin_id, text=text, reply_markup=keyboard)
        except TelegramError as exc:
            log.warning("Could not ask admin %d about user %d: %s", admin_id, user.id, exc)
