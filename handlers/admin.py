"""Commands for the operators (ADMIN_IDS only: for anyone else they are unknown commands).

Registered with a filter on the admins' ids (handlers/__init__.py), so a non-admin's /ban falls
through to the unknown-command answer and learns nothing. Buttons are checked again here, as
anyone can send any button data.
"""

from __future__ import annotations

import contextlib
import re
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import Runtime, runtime
from bot.texts import i18n

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
    """Users, tasks, success rate, processing times, the queue and credits."""
    await _reply(update, await runtime(context).admin.stats())


async def user(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One user's profile, limits, ban state and recent tasks."""
    args = _args(context)
    if len(args) != 1:
        await _reply(update, texts.admin_usage("user"))
        return
    await _reply(update, await runtime(context).admin.user_info(args[0]))


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
    """Any task in full, with provider ids and errors."""
    number = _task_number(context)
    if number is None:
        await _reply(update, texts.admin_usage("task"))
        return
    await _reply(update, await runtime(context).admin.task_info(number))


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
    """Show a broadcast for confirmation; the button sends it to every user."""
    message, sender = update.effective_message, update.effective_user
    text = _COMMAND_PREFIX.sub("", message.text or "", count=1).strip() if message else ""
    if message is None or sender is None or not text:
        await _reply(update, texts.admin_usage("broadcast"))
        return
    rt = runtime(context)
    html = escape(text)  # sent as plain text: formatting marks are shown as typed
    broadcast_id, audience = await rt.broadcasts.prepare(sender.id, message.chat_id, html)
    keyboard = InlineKeyboardMarkup(
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
    preview = await message.reply_text(
        texts.broadcast_preview(html, audience), reply_markup=keyboard
    )
    await rt.broadcasts.preview_shown(broadcast_id, preview.message_id)


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
