"""The admins' money commands (PAYMENTS=stars): /refund, /grant, /payments, /reconcile, and the
Charge and Return buttons under /task of a task whose outcome is unknown. Registered for the
admins only (handlers/__init__.py); the buttons check the presser again, as anyone can send any
button data. With PAYMENTS=off each says so."""

from __future__ import annotations

import re

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import texts
from bot.domain.numbers import ascii_int
from bot.runtime import Runtime, runtime
from bot.services.money import MoneyAdmin

PRICE_BUTTON = re.compile(r"^price:(?P<task>[0-9]{1,18}):(?P<action>charge|return)$")
MOST_PURCHASES = 30
PURCHASES_SHOWN = 10


async def _reply(update: Update, html: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(html, reply_markup=markup)


async def reply_parts(
    update: Update, parts: list[str], markup: InlineKeyboardMarkup | None = None
) -> None:
    """The parts in one message when they fit, else one message each (the buttons under the
    last)."""
    whole = "\n\n".join(parts)
    if texts.telegram_length(whole) <= texts.MESSAGE_LIMIT:
        await _reply(update, whole, markup)
        return
    for index, part in enumerate(parts):
        await _reply(update, part, markup if index == len(parts) - 1 else None)


def _args(context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    return list(context.args or [])


async def _money(update: Update, rt: Runtime) -> MoneyAdmin | None:
    """The money service, or None once the admin was told payments are off."""
    if rt.money is None:
        await _reply(update, texts.money_payments_off())
    return rt.money


async def refund(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Return a payment's Stars and remove its credits: /refund <charge id> [reason]."""
    args, sender = _args(context), update.effective_user
    if not args or sender is None:
        await _reply(update, texts.admin_usage("refund"))
        return
    money = await _money(update, runtime(context))
    if money is not None:
        await _reply(update, await money.refund(args[0], sender.id, " ".join(args[1:])))


async def grant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Give or take credits: /grant <user> <credits, or -credits> <reason>."""
    args, sender = _args(context), update.effective_user
    if len(args) < 3 or sender is None:
        await _reply(update, texts.admin_usage("grant"))
        return
    money = await _money(update, runtime(context))
    if money is not None:
        await _reply(update, await money.grant(args[0], args[1], " ".join(args[2:]), sender.id))


async def payments(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The latest purchases: /payments [how many]."""
    args = _args(context)
    count = PURCHASES_SHOWN if not args else ascii_int(args[0], low=1, high=MOST_PURCHASES)
    if len(args) > 1 or count is None:
        await _reply(update, texts.admin_usage("payments"))
        return
    money = await _money(update, runtime(context))
    if money is not None:
        await _reply(update, await money.purchases(count))


async def reconcile(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Compare the ledger with Telegram's list of Star transactions."""
    if _args(context):
        await _reply(update, texts.admin_usage("reconcile"))
        return
    money = await _money(update, runtime(context))
    if money is not None:
        await _reply(update, await money.reconcile())


async def task_price(rt: Runtime, task_id: int) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """/task's line about the task's price, with the Charge and Return buttons while an admin
    is to decide it; None without payments, or for a task without a price."""
    if rt.money is None:
        return None
    found = await rt.money.task_price(task_id)
    if found is None:
        return None
    price, decide = found
    if not decide:
        return texts.money_task_price(price, False), None
    buttons = [
        InlineKeyboardButton(
            texts.button_money_charge(price.credits), callback_data=f"price:{task_id}:charge"
        ),
        InlineKeyboardButton(
            texts.button_money_return(price.credits), callback_data=f"price:{task_id}:return"
        ),
    ]
    return texts.money_task_price(price, True), InlineKeyboardMarkup([buttons])


async def price_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Charge or return the held price of a task whose outcome is unknown (admins only; the
    first press decides)."""
    query = update.callback_query
    match = PRICE_BUTTON.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    rt = runtime(context)
    if not rt.access.is_admin(query.from_user.id) or rt.money is None:
        await query.answer(texts.toast_card_gone())
        return
    task_id = int(match["task"])
    settled = await rt.money.settle(task_id, match["action"] == "charge", query.from_user.id)
    try:
        await _show_settled(rt, query, task_id, settled.note)
    finally:
        await query.answer(settled.toast)


async def _show_settled(rt: Runtime, query: CallbackQuery, task_id: int, note: str | None) -> None:
    """The message shows the task as it is now, without the buttons."""
    parts = [await rt.admin.task_info(task_id)]
    price = await task_price(rt, task_id)
    if price is not None:
        parts.append(price[0])
    if note is not None:
        parts.append(note)
    whole = "\n\n".join(parts)
    if texts.telegram_length(whole) > texts.MESSAGE_LIMIT:
        whole = "\n\n".join(parts[1:]) or parts[0]
    try:
        await query.edit_message_text(whole, reply_markup=None)
    except BadRequest as exc:  # pressed again, on a message showing this already
        if "not modified" not in exc.message.lower():
            raise
