"""The bot's Telegram Stars over the Bot API: refundStarPayment and getStarTransactions, for the
admins' /refund and /reconcile (implements bot.domain.money.StarsBank)."""

from __future__ import annotations

import logging

from telegram import Bot, StarTransaction, TransactionPartnerUser
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.domain.money import (
    RefundAnswer,
    RefundResult,
    StarPage,
    StarsUnavailableError,
    StarTransfer,
)

log = logging.getLogger(__name__)

ALREADY_REFUNDED = "charge_already_refunded"  # Telegram's error (PTB lowercases it)
INVOICE_PAYMENT = "invoice_payment"  # TransactionPartnerUser.transaction_type of a payment


class TelegramStars:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def refund(self, user_id: int, charge_id: str) -> RefundResult:
        """Telegram's answer: a Bad Request or Forbidden is a refusal (nothing was returned);
        no answer (a timeout, a network or server error) or "retry after" may be either."""
        try:
            await self._bot.refund_star_payment(user_id, charge_id)
        except BadRequest as exc:  # before TelegramError: BadRequest is a NetworkError in PTB
            if ALREADY_REFUNDED in exc.message.lower():
                return RefundResult(RefundAnswer.ALREADY, exc.message)
            return RefundResult(RefundAnswer.REFUSED, exc.message)
        except Forbidden as exc:
            return RefundResult(RefundAnswer.REFUSED, exc.message)
        except TelegramError as exc:
            log.warning("refundStarPayment of %s got no answer: %s", charge_id, exc)
            return RefundResult(RefundAnswer.NO_ANSWER, exc.message)
        return RefundResult(RefundAnswer.DONE)

    async def transactions(self, offset: int, limit: int) -> StarPage:
        try:
            page = await self._bot.get_star_transactions(offset=offset, limit=limit)
        except TelegramError as exc:
            raise StarsUnavailableError(exc.message) from exc
        transfers = [t for t in map(_transfer, page.transactions) if t is not None]
        return StarPage(transfers, len(page.transactions))


def _transfer(transaction: StarTransaction) -> StarTransfer | None:
    """A payment from a user for an invoice, or its refund to them; None for the others
    (withdrawals, ads, gifts, paid media...)."""
    partner = transaction.source or transaction.receiver
    if not isinstance(partner, TransactionPartnerUser):
        return None
    if partner.transaction_type != INVOICE_PAYMENT:
        return None
    return StarTransfer(
        charge_id=transaction.id,
        user_id=partner.user.id,
        stars=transaction.amount,
        at=transaction.date.timestamp(),
        refund=transaction.source is None,
        payload=partner.invoice_payload,
    )
