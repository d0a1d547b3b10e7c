"""The buttons under a task's result and failure that start a new card from it:
`again:<task>` (new prompt, same video), `redo:<task>` (edit this result), `retry:<task>` (try
again). They carry only the task's number, so they work after a restart; a press that no longer
applies gets one line and changes nothing."""

from __future__ import annotations

import contextlib
import re
import time

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.delivery import AGAIN, EDIT_RESULT, RETRY, result_buttons
from bot.runtime import runtime
from bot.services.drafts import FollowUp, ReplyKind
from handlers.requests import show_draft_reply

FOLLOW_UP_BUTTON = re.compile(
    rf"^(?P<action>{AGAIN}|{EDIT_RESULT}|{RETRY}):(?P<task>[0-9]{{1,18}})$"
)
_KINDS = {AGAIN: FollowUp.AGAIN, EDIT_RESULT: FollowUp.EDIT_RESULT, RETRY: FollowUp.RETRY}


async def follow_up_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    match = FOLLOW_UP_BUTTON.fullmatch(query.data or "") if query is not None else None
    if query is None or match is None:
        return
    rt = runtime(context)
    task = await rt.user_tasks.one(query.from_user.id, int(match["task"]))
    if task is None or not isinstance(query.message, Message):
        await query.answer(texts.toast_card_gone())
        return
    kind = _KINDS[match["action"]]
    reply = await rt.drafts.follow_up(task, kind, time.time())
    if reply.kind == ReplyKind.PROBLEM:
        if kind == FollowUp.EDIT_RESULT:  # the result is gone for good: so is its button
            with contextlib.suppress(TelegramError):
                await query.edit_message_reply_markup(result_buttons(task, result_kept=False))
        if texts.telegram_length(reply.text) <= texts.TOAST_LIMIT:
            await query.answer(reply.text)
        else:  # a link check's longer sentence: a message
            await query.answer()
            await query.message.reply_text(reply.text)
        return
    await query.answer()
    await show_draft_reply(query.message, rt, reply, answers_user=False)
