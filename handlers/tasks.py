"""/tasks and /status: a user's own tasks."""

from __future__ import annotations

import re
import time

from telegram import Update
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import runtime

TASK_NUMBER = re.compile(r"[0-9]{1,18}")


async def tasks_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the user's recent tasks."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    tasks = await runtime(context).user_tasks.recent(user.id)
    await message.reply_text(texts.task_list(tasks, time.time()) if tasks else texts.no_tasks())


async def status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show one of the user's tasks: /status 12."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    args = context.args or []
    number = args[0].lstrip("#") if len(args) == 1 else ""
    if not TASK_NUMBER.fullmatch(number):
        await message.reply_text(texts.status_usage())
        return
    task = await runtime(context).user_tasks.one(user.id, int(number))
    if task is None:
        await message.reply_text(texts.task_not_found(int(number)))
        return
    await message.reply_text(texts.task_detail(task, time.time()))
