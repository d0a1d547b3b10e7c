"""/tasks and /status: a user's own tasks; a waiting task's Cancel button (`stop:<task id>`)."""

from __future__ import annotations

import re
import time

from telegram import Update
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import runtime
from bot.services.tasks.intake import CancelOutcome
from handlers.requests import with_standing

TASK_NUMBER = re.compile(r"[0-9]{1,18}")
CANCEL_TASK_BUTTON = re.compile(r"^stop:(?P<task>[0-9]{1,18})$")


async def tasks_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the user's recent tasks."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    rt = runtime(context)
    tasks = await rt.user_tasks.recent(user.id)
    listing = texts.task_list(tasks, time.time()) if tasks else texts.no_tasks()
    await message.reply_text(await with_standing(listing, rt, user.id))


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


async def cancel_task_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Cancel a task still waiting to start; once at the provider it cannot be stopped."""
    query = update.callback_query
    match = CANCEL_TASK_BUTTON.fullmatch(query.data or "") if query is not None else None
    if query is None or match is None:
        return
    rt = runtime(context)
    outcome = await rt.intake.cancel_queued(query.from_user.id, int(match["task"]))
    if outcome == CancelOutcome.CANCELLED:
        await query.answer(texts.toast_task_cancelled())
    elif outcome == CancelOutcome.TOO_LATE:
        await query.answer(texts.toast_too_late_to_cancel(), show_alert=True)
    else:
        await query.answer(texts.toast_card_gone())
