"""Composing a request (link + prompt) and the confirmation card's buttons.

Button data: `submit:<draft>`, `cancel:<draft>`, `mode:<draft>:<mode>`, `frame:<draft>`.
"""

from __future__ import annotations

import logging
import re

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.chat_actions import chat_action
from bot.domain import modes
from bot.domain.capabilities import Capabilities
from bot.domain.records import Draft
from bot.runtime import Runtime, runtime
from bot.services.drafts import DraftReply, ReplyKind, card_text
from bot.services.tasks.intake import SubmitOutcomeKind
from handlers.payments import buy_credits_keyboard

log = logging.getLogger(__name__)

TYPING_AFTER = 1.0  # seconds of work on a message before the chat shows "typing…"

SUBMIT = "submit"
CANCEL = "cancel"
MODE = "mode"
FRAME = "frame"
BUTTON_PATTERN = re.compile(
    rf"^(?P<action>{SUBMIT}|{CANCEL}|{FRAME}|{MODE}):(?P<draft>[0-9]{{1,18}})(?::(?P<arg>[a-z_0-9]{{1,20}}))?$"
)


def card_keyboard(draft: Draft, capabilities: Capabilities) -> InlineKeyboardMarkup:
    """The card's buttons: strength and first frame where the provider offers them."""
    rows: list[list[InlineKeyboardButton]] = []
    if draft.mode and capabilities.modes:
        family, level = modes.split(draft.mode)
        rows.append(
            [
                _button(
                    texts.mode_family(name), name == family, f"{MODE}:{draft.id}:{name}_{level}"
                )
                for name in modes.FAMILIES
            ]
        )
        rows.append(
            [_button(str(n), n == level, f"{MODE}:{draft.id}:{family}_{n}") for n in modes.LEVELS]
        )
    if capabilities.supports_first_frame:
        label = (
            texts.button_remove_first_frame()
            if draft.first_frame_url
            else (texts.button_add_first_frame())
        )
        rows.append([InlineKeyboardButton(label, callback_data=f"{FRAME}:{draft.id}")])
    rows.append(
        [
            InlineKeyboardButton(texts.button_submit(), callback_data=f"{SUBMIT}:{draft.id}"),
            InlineKeyboardButton(texts.button_cancel(), callback_data=f"{CANCEL}:{draft.id}"),
        ]
    )
    return InlineKeyboardMarkup(rows)


def _button(label: str, chosen: bool, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(texts.chosen() + label if chosen else label, callback_data=data)


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Take a link and/or a prompt; ask for what is missing or show the confirmation card."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.text is None:
        return
    rt = runtime(context)
    # A link check (or a translation) can take a few seconds: "typing…" past the first.
    async with chat_action(context.bot, message.chat_id, ChatAction.TYPING, after=TYPING_AFTER):
        reply = await rt.drafts.receive_text(user.id, message.chat_id, message.text)
    await show_draft_reply(message, rt, reply)


async def show_draft_reply(
    message: Message, rt: Runtime, reply: DraftReply, *, answers_user: bool = True
) -> None:
    """Answer with the card (or the question, or the problem). `answers_user`: `message` is
    the user's, whose edits change the card (not one of the bot's, as under a result)."""
    if reply.kind != ReplyKind.CARD or reply.draft is None:
        await message.reply_text(reply.text)
    else:
        text = await with_standing(reply.text, rt, reply.draft.user_id)
        card = await message.reply_text(
            text, reply_markup=card_keyboard(reply.draft, rt.capabilities)
        )
        source = message.message_id if answers_user else None
        await rt.drafts.card_shown(reply.draft.id, card.message_id, source)


async def with_standing(html: str, rt: Runtime, user_id: int) -> str:
    """The text with the user's standing against their limits under it (none for admins)."""
    standing = await rt.intake.standing(user_id)
    line = texts.standing(
        standing.today, standing.daily_limit, standing.active, standing.max_active
    )
    return f"{html}\n\n{line}" if line else html


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The user edited a message. The one their showing card answered makes the card anew, in
    the same message; edits of any other message change nothing."""
    message, user = update.edited_message, update.effective_user
    if message is None or user is None or message.text is None:
        return
    rt = runtime(context)
    edited = await rt.drafts.receive_edit(
        user.id, message.chat_id, message.message_id, message.text
    )
    if edited is None:
        return
    reply, card_message_id = edited
    if reply.kind != ReplyKind.CARD or reply.draft is None:
        await message.reply_text(reply.text)  # what is wrong with the edit, or what is missing
        return
    try:
        await message.get_bot().edit_message_text(
            chat_id=message.chat_id,
            message_id=card_message_id,
            text=await with_standing(card_text(reply.draft), rt, user.id),
            reply_markup=card_keyboard(reply.draft, rt.capabilities),
        )
    except TelegramError as exc:  # the card was deleted meanwhile: a new one, then
        log.info("Could not show the edited card in message %d: %s", card_message_id, exc)
        await show_draft_reply(message, rt, reply)
        return
    await rt.drafts.card_shown(reply.draft.id, card_message_id, message.message_id)


async def card_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Submit, cancel, or change the choices of the card the button belongs to."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = BUTTON_PATTERN.fullmatch(query.data)
    if match is None:
        await query.answer(texts.toast_card_gone())
        return
    action, draft_id, arg = match["action"], int(match["draft"]), match["arg"]
    rt = runtime(context)
    user_id = query.from_user.id
    if action == SUBMIT:
        await _submit(query, context, rt, draft_id)
    elif action == CANCEL:
        if await rt.drafts.cancel(user_id, draft_id):
            await query.edit_message_text(texts.card_cancelled())
            await query.answer(texts.toast_cancelled())
        else:
            await _card_gone(query, rt, draft_id)
    elif action == MODE and arg:
        draft = await rt.drafts.set_mode(user_id, draft_id, arg)
        await _show_changed_card(
            query, rt, draft_id, draft, texts.describe_mode(arg) if draft else ""
        )
    elif action == FRAME:
        draft = await rt.drafts.first_frame_button(user_id, draft_id)
        if draft is not None and draft.awaiting_first_frame:
            await query.answer(texts.toast_waiting_for_first_frame())
            await context.bot.send_message(chat_id=draft.chat_id, text=texts.ask_first_frame())
        else:
            await _show_changed_card(query, rt, draft_id, draft, texts.toast_first_frame_removed())
    else:
        await query.answer(texts.toast_card_gone())


async def _card_gone(query: CallbackQuery, rt: Runtime, draft_id: int) -> None:
    """Say the card is no longer open; one a newer request replaced loses its buttons now."""
    await query.answer(texts.toast_card_gone())
    message = query.message
    if message is None or not await rt.drafts.is_replaced_card(
        query.from_user.id, draft_id, message.message_id
    ):
        return
    try:
        await query.edit_message_text(texts.card_replaced())
    except TelegramError as exc:  # deleted meanwhile, or retired by an earlier press
        log.info("Could not retire card %d: %s", message.message_id, exc)


async def _show_changed_card(
    query: CallbackQuery, rt: Runtime, draft_id: int, draft: Draft | None, toast: str
) -> None:
    if draft is None:
        await _card_gone(query, rt, draft_id)
        return
    try:
        await query.edit_message_text(
            await with_standing(card_text(draft), rt, draft.user_id),
            reply_markup=card_keyboard(draft, rt.capabilities),
        )
    except BadRequest as exc:  # the same choice again (a double tap): nothing to change
        if "not modified" not in exc.message.lower():
            raise
    await query.answer(toast)


async def _submit(
    query: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, rt: Runtime, draft_id: int
) -> None:
    outcome = await rt.intake.submit_draft(query.from_user.id, draft_id)
    if outcome.kind == SubmitOutcomeKind.SUBMITTED:
        await query.answer(texts.toast_submitted())
    elif outcome.kind == SubmitOutcomeKind.ALREADY_SUBMITTED and outcome.task_id is not None:
        await query.answer(texts.toast_already_submitted(outcome.task_id))
    elif outcome.kind == SubmitOutcomeKind.REFUSED and outcome.message:
        await query.answer(texts.toast_not_now())
        if query.message is not None:
            await context.bot.send_message(
                chat_id=query.message.chat.id,
                text=outcome.message,
                reply_to_message_id=query.message.message_id,
                reply_markup=buy_credits_keyboard() if outcome.short_of_credits else None,
            )
    else:
        await _card_gone(query, rt, draft_id)
