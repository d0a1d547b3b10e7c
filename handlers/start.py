"""/start and /help."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import runtime
from handlers.menus import set_admin_menu
from handlers.requests import with_standing


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and explain what the bot does."""
    if update.effective_message is None or update.effective_user is None:
        return
    rt = runtime(context)
    await update.effective_message.reply_text(
        texts.welcome(update.effective_user.first_name, rt.capabilities)
    )
    if rt.access.is_admin(update.effective_user.id):  # their menu, in case it is new
        await set_admin_menu(
            context.bot, update.effective_user.id, payments=rt.payments is not None
        )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show what the bot needs and its commands."""
    if update.effective_message is None:
        return
    rt = runtime(context)
    text = texts.help_text(rt.capabilities, payments=rt.payments is not None)
    if update.effective_user is not None:
        text = await with_standing(text, rt, update.effective_user.id)
    await update.effective_message.reply_text(text)
