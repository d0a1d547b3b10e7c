"""/language: the user picks the language the bot speaks to them in (or their Telegram's)."""

from __future__ import annotations

import contextlib
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import runtime
from bot.texts import i18n
from handlers.menus import set_own_menu

LANGUAGE_BUTTON = re.compile(r"^lang:(?P<code>[a-z]{2,3}(?:-[a-z0-9]{2,8})?|auto)$")
_AUTO = "auto"


def _buttons() -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(i18n.language_name(code), callback_data=f"lang:{code}")]
        for code in i18n.available_languages()
    ]
    rows.append([InlineKeyboardButton(texts.button_language_auto(), callback_data="lang:auto")])
    return InlineKeyboardMarkup(rows)


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the languages, each in itself, and the one in force."""
    message = update.effective_message
    if message is None:
        return
    current = i18n.language_name(i18n.language())
    await message.reply_text(texts.language_menu(current), reply_markup=_buttons())


async def language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the choice, and say it in the language chosen."""
    query, user = update.callback_query, update.effective_user
    match = LANGUAGE_BUTTON.fullmatch(query.data or "") if query is not None else None
    if query is None or user is None or match is None:
        return
    code = match["code"]
    if code != _AUTO and code not in i18n.available_languages():
        await query.answer(texts.toast_card_gone())  # a language no longer offered
        return
    rt = runtime(context)
    chosen = await rt.languages.choose(user.id, None if code == _AUTO else code)
    i18n.speak(chosen)
    name = i18n.language_name(chosen)
    await query.answer(texts.toast_language_chosen(name))
    if query.message is not None:
        with contextlib.suppress(BadRequest):  # the same text again (the same choice twice)
            await query.edit_message_text(texts.language_chosen(name))
    await set_own_menu(
        context.bot,
        user.id,
        is_admin=rt.access.is_admin(user.id),
        chosen=code != _AUTO,
        payments=rt.payments is not None,
    )
