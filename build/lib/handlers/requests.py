"""Composing a request (link + prompt) and the confirmation card's Submit / Cancel buttons."""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.drafts import ReplyKind
from bot.runtime import runtime
from bot.service import SubmitOutcomeKind

log = logging.getLogger(__name__)

SUBMIT = "submit"
CANCEL = "cancel"
BUTTON_PATTERN = re.compile(rf"^({SUBMIT}|{CANCEL}):(\d{{1,18}})$")


def card_keyboard(draft_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.BUTTON_SUBMIT, callback_data=f"{SUBMIT}:{draft_id}"),
                InlineKeyboardButton(texts.BUTTON_CANCEL, callback_data=f"{CANCEL}:{draft_id}"),
            ]
        ]
    )


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Take a link and/or a prompt; ask for what is missing or show the confirmation card."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.text is None:
        return
    rt = runtime(context)
    reply = await rt.drafts.receive_text(user.id, message.chat_id, message.text)
    if reply.kind != ReplyKind.CARD or reply.draft is None:
        await message.reply_text(reply.text)
    else:
        card = await message.reply_text(reply.text, reply_markup=card_keyboard(reply.draft.id))
        await rt.drafts.card_shown(reply.draft.id, card.message_id)
    for old in reply.retired_cards:
        if old.card_message_id is None:
            continue
        try:
            await context.bot.edit_message_text(
                chat_id=old.chat_id, message_id=old.card_message_id, text=texts.CARD_REPLACED
            )
        except TelegramError as exc:  # the old card may be gone; the draft is retired anyway
            log.info("Could not retire card %d: %s", old.card_message_id, exc)


async def card_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Submit or cancel the card the button belongs to."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = BUTTON_PATTERN.match(query.data)
    if match is None:
        await query.answer(texts.TOAST_CARD_GONE)
        return
    action, draft_id = match.group(1), int(match.group(2))
    rt = runtime(context)
    if action == CANCEL:
        if await rt.drafts.cancel(query.from_user.id, draft_id):
            await query.edit_message_text(texts.CARD_CANCELLED)
            await query.answer(texts.TOAST_CANCELLED)
        else:
            await query.answer(texts.TOAST_CARD_GONE)
        return
    outcome = await rt.tasks.submit_draft(query.from_user.id, draft_id)
    if outcome.kind == SubmitOutcomeKind.SUBMITTED:
        await query.answer(texts.TOAST_SUBMITTED)
    elif outcome.kind == SubmitOutcomeKind.ALREADY_SUBMITTED and outcome.task_id is not None:
        await query.answer(texts.toast_already_submitted(outcome.task_id))
    elif outcome.kind == SubmitOutcomeKind.LIMIT and outcome.message:
        await query.answer(texts.TOAST_LIMIT)
        if query.message is not None:
            await context.bot.send_message(
                chat_id=query.message.chat.id,
                text=outcome.message,
                reply_to_message_id=query.message.message_id,
            )
    else:
        await query.answer(texts.TOAST_CARD_GONE)
