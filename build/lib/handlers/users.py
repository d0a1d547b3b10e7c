"""Remembering who writes to the bot (runs before every other handler)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.runtime import runtime


async def remember_user(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record the sender of every private update."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or user.is_bot or chat is None or chat.type != chat.PRIVATE:
        return
    await runtime(context).users.seen(user.id, user.username, user.first_name)
