"""What the bot says to messages it has no use for."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import texts


async def unsupported_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, voice notes, photos and the like."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.unsupported_message())


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not have."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.unknown_command())


async def group_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command in a group: the bot works in private chats only."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.groups_not_supported())
