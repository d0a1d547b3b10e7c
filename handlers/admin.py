"""Commands for the operators (ADMIN_IDS only: for anyone else they are unknown commands).

Registered with a filter on the admins' ids (handlers/__init__.py), so a non-admin's /ban falls
through to the unknown-command answer and learns nothing. Buttons are checked again here, as
anyone can send any button data.
"""

from __future__ import annotations

import contextlib
import logging
import re

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import Runtime, runtime
from bot.texts import i18n
from handlers import money

log = logging.getLogger(__name__)

ACCESS_BUTTON = re.compile(r"^access:(?P<user>[0-9]{1,18}):(?P<verdict>allow|deny)$")
BROADCAST_BUTTON = re.compile(r"^bcast:(?P<id>[0-9]{1,18}):(?P<action>send|cancel)$")
TASK_NUMBER = re.compile(r"#?(?P<n>[0-9]{1,18})")
_COMMAND_PREFIX = re.compile(r"^/\w+(@\w+)?\s*", re.ASCII)


async def _reply(update: Update, html: str) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(html)


def _args(context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    return list(context.args or [])


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Users, tasks, success rate, processing times, the queue and credits (and, with
    payments on, the money lines); with tasks ended in the last 14 days, a picture of them."""
    rt = runtime(context)
    parts = [await rt.admin.stats()]
    if rt.money is not None:
        parts.append(await rt.money.stats_part())
    chart = await rt.admin.stats_chart()
    if chart is not None and update.effective_message is not None:
        # The picture of the last 14 days, the figures as its caption when they fit one,
        # else after it as they go without it.
        whole = "\n\n".join(parts)
        fits = texts.telegram_length(whole) <= texts.CAPTION_LIMIT
        caption = whole if fits else texts.admin_chart_caption()
        try:
            await update.effective_message.reply_photo(chart, caption=caption, filename="stats.png")
        except TelegramError as exc:  # the figures matter more than the picture
            log.warning("/stats' picture was not sent: %s", exc)
        else:
            if fits:
                return
    await money.reply_parts(update, parts)


async def user(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One user's profile, limits, ban state and recent tasks (and, with payments on, their
    balance and latest movements)."""
    args = _args(context)
    if len(args) != 1:
        await _reply(update, texts.admin_usage("user"))
        return
    rt = runtime(context)
    parts = [await rt.admin.user_info(args[0])]
    own = await rt.money.user_part(args[0]) if rt.money is not None else None
    if own is not None:
        parts.append(own)
    await money.reply_parts(update, parts)


async def ban(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ban a user: /ban <id or @username> [reason]."""
    args = _args(context)
    if not args:
        await _reply(update, texts.admin_usage("ban"))
        return
    reason = " ".join(args[1:]) or None
    await _reply(update, await runtime(context).admin.ban(args[0], reason))


async def unban(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lift a ban."""
    args = _args(context)
    if len(args) != 1:
        await _reply(update, texts.admin_usage("unban"))
        return
    await _reply(update, await runtime(context).admin.unban(args[0]))


async def limit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Set a user's own daily limit, or go back to the default."""
    args = _args(context)
    if len(args) != 2:
        await _reply(update, texts.admin_usage("limit"))
        return
    await _reply(update, await runtime(context).admin.set_limit(args[0], args[1]))


async def task(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any task in full, with provider ids and errors (and, with payments on, its price: for a
    task whose outcome is unknown, with buttons to charge it or return it)."""
    number = _task_number(context)
    if number is None:
        await _reply(update, texts.admin_usage("task"))
        return
    rt = runtime(context)
    parts = [await rt.admin.task_info(number)]
    price = await money.task_price(rt, number)
    if price is None:
        await _reply(update, parts[0])
        return
    await money.reply_parts(update, [*parts, price[0]], price[1])


async def redeliver(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a finished task's result again."""
    number = _task_number(context)
    if number is None:
        await _reply(update, texts.admin_usage("redeliver"))
        return
    await _reply(update, await runtime(context).admin.redeliver(number))


def _task_number(context: ContextTypes.DEFAULT_TYPE) -> int | None:
    args = _args(context)
    match = TASK_NUMBER.fullmatch(args[0]) if len(args) == 1 else None
    return int(match["n"]) if match else None


async def maintenance(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Turn maintenance on (with a message for users) or off."""
    args = _args(context)
    switch = args[0].lower() if args else ""
    if switch not in ("on", "off"):
        await _reply(update, texts.admin_usage("maintenance"))
        return
    # The message as typed, line breaks and all: the text after "/maintenance on".
    text = update.effective_message.text if update.effective_message else None
    rest = _COMMAND_PREFIX.sub("", text or "", count=1).strip()
    message = rest[len(switch) :].strip() or None
    await _reply(update, await runtime(context).admin.maintenance(switch == "on", message))


async def broadcast(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show a broadcast as users will see it, for confirmation; the button sends it to everyone.

    `/broadcast text` broadcasts the text, with the admin's formatting; `/broadcast` in reply to a
    message of the admin's own (a photo, a video, a formatted text...) broadcasts a copy of it.
    """
    message, sender = update.effective_message, update.effective_user
    if message is None or sender is None:
        return
    html = _text_after_command(message)
    source = message.reply_to_message
    own = source is not None and source.from_user is not None and source.from_user.id == sender.id
    if html and source is None:
        await _preview_text(context, message, sender.id, html)
    elif not html and source is not None and own:
        await _preview_copy(context, message, source, sender.id)
    else:  # neither, both, or a reply to someone else's message (the bot's)
        await _reply(update, texts.admin_usage("broadcast"))


async def _preview_text(
    context: ContextTypes.DEFAULT_TYPE, message: Message, admin_id: int, html: str
) -> None:
    """The text quoted in the confirmation (with its formatting); sent with sendMessage."""
    rt = runtime(context)
    broadcast_id, audience = await rt.broadcasts.prepare(admin_id, message.chat_id, html)
    preview = await message.reply_text(
        texts.broadcast_preview(html, audience),
        reply_markup=_broadcast_keyboard(broadcast_id, audience),
    )
    await rt.broadcasts.preview_shown(broadcast_id, preview.message_id)


async def _preview_copy(
    context: ContextTypes.DEFAULT_TYPE, message: Message, source: Message, admin_id: int
) -> None:
    """A copy of the message to the admin first, exactly as users will get it; then the
    confirmation, as a reply to that copy. Sent with copyMessage, from the admin's message."""
    try:
        shown = await source.copy(message.chat_id)
    except BadRequest as exc:  # a message bots cannot copy (a service message, for one)
        await message.reply_text(texts.broadcast_not_copied(exc.message))
        return
    rt = runtime(context)
    broadcast_id, audience = await rt.broadcasts.prepare_copy(
        admin_id, message.chat_id, source.chat_id, source.message_id
    )
    confirmation = await context.bot.send_message(
        chat_id=message.chat_id,
        text=texts.broadcast_copy_preview(audience),
        reply_markup=_broadcast_keyboard(broadcast_id, audience),
        reply_parameters=ReplyParameters(shown.message_id, allow_sending_without_reply=True),
    )
    await rt.broadcasts.preview_shown(broadcast_id, confirmation.message_id)


def _broadcast_keyboard(broadcast_id: int, audience: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.button_broadcast_send(audience),
                    callback_data=f"bcast:{broadcast_id}:send",
                ),
                InlineKeyboardButton(
                    texts.button_broadcast_cancel(), callback_data=f"bcast:{broadcast_id}:cancel"
                ),
            ]
        ]
    )


def _text_after_command(message: Message) -> str:
    """The message's text after its command, as HTML with the admin's formatting (bold, links,
    spoilers...) as tags and everything else escaped; "" when there is none."""
    text = message.text or ""
    command = _COMMAND_PREFIX.match(text)
    start = command.end() if command else 0
    rest = text[start:].rstrip()
    if not rest:
        return ""
    # Entities count UTF-16 code units: keep those over the rest, cut to it, counted from it.
    begin = _utf16_length(text[:start])
    end = begin + _utf16_length(rest)
    entities = []
    for entity in message.entities:
        low, high = max(entity.offset, begin), min(entity.offset + entity.length, end)
        if low < high:
            fields = {**entity.to_dict(), "offset": low - begin, "length": high - low}
            entities.append(MessageEntity.de_json(fields, message.get_bot()))
    rest_message = Message(
        message.message_id, message.date, message.chat, text=rest, entities=entities
    )
    return rest_message.text_html


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def broadcast_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send or cancel a broadcast draft (only the admin who wrote it)."""
    query = update.callback_query
    match = BROADCAST_BUTTON.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    rt = runtime(context)
    if not rt.access.is_admin(query.from_user.id):  # e.g. removed from ADMIN_IDS since
        await query.answer(texts.toast_card_gone())
        return
    broadcast_id = int(match["id"])
    if match["action"] == "send":
        started = await rt.broadcasts.confirm(query.from_user.id, broadcast_id)
        await query.answer(texts.toast_broadcast_sending() if started else texts.toast_card_gone())
    elif await rt.broadcasts.cancel(query.from_user.id, broadcast_id):
        await query.edit_message_text(texts.broadcast_cancelled())
        await query.answer()
    else:
        await query.answer(texts.toast_card_gone())


async def allow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let a user use the bot (allowlist mode)."""
    await _decide_command(update, context, allow=True)


async def deny(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep a user out (allowlist mode)."""
    await _decide_command(update, context, allow=False)


async def _decide_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, allow: bool
) -> None:
    args = _args(context)
    if len(args) != 1:
        await _reply(update, texts.admin_usage("allow" if allow else "deny"))
        return
    rt = runtime(context)
    admin = update.effective_user.first_name if update.effective_user else texts.admin_unnamed()
    await _reply(update, await _decide(context, rt, args[0], allow=allow, by=admin))


async def access_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Approve or deny a user's request to use the bot (admins only)."""
    query = update.callback_query
    match = ACCESS_BUTTON.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    rt = runtime(context)
    if not rt.access.is_admin(query.from_user.id):
        await query.answer(texts.toast_card_gone())
        return
    verdict = await _decide(
        context,
        rt,
        match["user"],
        allow=match["verdict"] == "allow",
        by=query.from_user.first_name,
        only_if_pending=True,  # the first admin to press decides
    )
    await query.edit_message_text(verdict)
    await query.answer()


async def _decide(
    context: ContextTypes.DEFAULT_TYPE,
    rt: Runtime,
    who: str,
    *,
    allow: bool,
    by: str,
    only_if_pending: bool = False,
) -> str:
    decided, changed = await rt.access.decide(who, allow, only_if_pending=only_if_pending)
    if decided is None:
        return texts.admin_no_such_user(who)
    if not changed:
        return texts.admin_access_unchanged(decided)
    with i18n.speaking(await rt.languages.of(decided.id)):  # told in their language
        told = texts.access_granted() if allow else texts.access_denied()
    with contextlib.suppress(TelegramError):  # they may have blocked the bot: it stands anyway
        await context.bot.send_message(chat_id=decided.id, text=told)
    return texts.admin_access_decided(decided, allow, by)
