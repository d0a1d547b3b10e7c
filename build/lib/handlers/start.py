"""/start and /help."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import runtime


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and explain what the bot does."""
    if update.effective_message is None or update.effective_user is None:
        return
    capabilities = runtime(context).capabilities
    await update.effective_message.reply_text(
        texts.welcome(update.effective_user.first_name, capabilities)
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show what the bot needs and its commands."""
    if update.effective_message is None:
        return
    await update.effective_message.reply_text(texts.help_text(runtime(context).capabilities))
