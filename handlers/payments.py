"""Buying credits with Telegram Stars (registered only with PAYMENTS=stars): /buy and its pack
buttons (`buy:<credits>`; `buy` alone shows the packs), the invoice, the pre-checkout query,
the successful payment, /paysupport and /terms."""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Message, Update
from telegram.ext import ContextTypes

from bot import texts
from bot.domain.money import RefundAnswer
from bot.runtime import Runtime, runtime
from bot.services.payments import CURRENCY, PaymentService, PaymentVerdict
from bot.texts import i18n

log = logging.getLogger(__name__)

BUY_BUTTON = re.compile(r"^buy(?::(?P<credits>[0-9]{1,9}))?$")
# Telegram waits 10 s for the pre-checkout's answer; a database slower than this gets a "not now".
PRE_CHECKOUT_SECONDS = 7.0


def _payments(rt: Runtime) -> PaymentService:
    if rt.payments is None:  # registered only with payments on
        raise RuntimeError("payments are off")
    return rt.payments


def buy_keyboard(payments: PaymentService) -> InlineKeyboardMarkup:
    """A button per pack, one per row."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts.button_pack(p), callback_data=f"buy:{p.credits}")]
            for p in payments.packs
        ]
    )


def buy_credits_keyboard() -> InlineKeyboardMarkup:
    """The one button under "not enough credits": it shows the packs."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.button_buy_credits(), callback_data="buy")]]
    )


async def _show_packs(message: Message, payments: PaymentService, user_id: int) -> None:
    await message.reply_text(
        texts.buy_menu(await payments.balance(user_id), payments.prices, payments.free_per_day),
        reply_markup=buy_keyboard(payments),
    )


async def buy_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/buy: the balance, the price of a video, and a button per pack."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    await _show_packs(message, _payments(runtime(context)), user.id)


async def buy_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A pack's button sends its invoice; the "Buy credits" button shows the packs."""
    query = update.callback_query
    match = BUY_BUTTON.fullmatch(query.data or "") if query is not None else None
    if query is None or match is None or query.message is None:
        return
    payments = _payments(runtime(context))
    chat_id = query.message.chat.id
    if match["credits"] is None:
        await query.answer()
        await context.bot.send_message(
            chat_id=chat_id,
            text=texts.buy_menu(
                await payments.balance(query.from_user.id),
                payments.prices,
                payments.free_per_day,
            ),
            reply_markup=buy_keyboard(payments),
        )
        return
    pack = payments.pack(int(match["credits"]))
    if pack is None:  # CREDIT_PACKS changed since the button was sent
        await query.answer(texts.toast_pack_withdrawn(), show_alert=True)
        return
    invoice = await payments.invoice(query.from_user.id, pack)
    await context.bot.send_invoice(
        chat_id=chat_id,
        title=texts.invoice_title(pack),
        description=texts.invoice_description(pack, payments.prices),
        payload=invoice.payload,
        currency=CURRENCY,
        prices=[LabeledPrice(texts.invoice_label(pack), pack.stars)],
    )
    await query.answer()


async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Telegram asks whether to take the payment: yes only for an invoice of ours, to this
    user, still on offer; answered within Telegram's 10 s, whatever happens."""
    query = update.pre_checkout_query
    if query is None:
        return
    rt = runtime(context)
    # The gate does not see this update (it has no chat): the user's language, until the
    # stored one is read, is their Telegram app's.
    i18n.speak(i18n.language_for(query.from_user.language_code))
    try:
        async with asyncio.timeout(PRE_CHECKOUT_SECONDS):
            i18n.speak(await rt.languages.of(query.from_user.id))
            refusal = await _payments(rt).pre_checkout(
                query.from_user.id, query.invoice_payload, query.currency, query.total_amount
            )
    except Exception:
        log.exception("Pre-checkout of user %d could not be checked", query.from_user.id)
        refusal = texts.payment_refused_unavailable()
    if refusal is None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=refusal)


async def successful_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The Stars are paid: the pack's credits go on the balance, once per charge id."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.successful_payment is None:
        return
    paid = message.successful_payment
    rt = runtime(context)
    charge_id = paid.telegram_payment_charge_id
    recorded = await _payments(rt).record(
        user.id, paid.invoice_payload, charge_id, paid.currency, paid.total_amount
    )
    if recorded.verdict == PaymentVerdict.CREDITED:
        await message.reply_text(texts.payment_received(recorded.credits, recorded.balance))
    elif recorded.verdict == PaymentVerdict.NOT_MATCHED:
        answer = await _payments(rt).return_unmatched(user.id, charge_id)
        if answer == RefundAnswer.ALREADY:
            return  # returned before: this update came again, or the list was read first
        refunded = answer == RefundAnswer.DONE
        await message.reply_text(texts.payment_not_matched(refunded))
        await rt.outbox.report_to_admins(
            lambda: texts.report_payment_not_matched(
                user.id, charge_id, paid.total_amount, str(recorded.problem), refunded
            )
        )
    # SEEN: credited when this update came before; the user was answered then.


async def refunded_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Telegram's note that Stars were returned. After /refund, or for a payment not matched,
    the bot said what it did when it did it; a refund made outside the bot removes the
    purchase's credits (as far as the balance allows) and the admins hear of it."""
    message = update.effective_message
    money = runtime(context).money
    if message is None or message.refunded_payment is None or money is None:
        return
    outside = await money.refunded_outside(message.refunded_payment.telegram_payment_charge_id)
    if outside is not None:
        await runtime(context).outbox.report_to_admins(
            lambda: texts.report_refunded_outside(outside)
        )


async def paysupport_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/paysupport, which Telegram requires of a bot that takes payments."""
    if update.effective_message is None:
        return
    own = runtime(context).settings.paysupport_text
    await update.effective_message.reply_text(own or texts.paysupport_default(), parse_mode=None)


async def terms_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/terms: what a payment buys."""
    if update.effective_message is None:
        return
    rt = runtime(context)
    own = rt.settings.terms_text
    if own:
        await update.effective_message.reply_text(own, parse_mode=None)
    else:
        await update.effective_message.reply_text(texts.terms_default(_payments(rt).prices))
