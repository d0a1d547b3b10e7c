"""Buying credits with Telegram Stars (PAYMENTS=stars), the user's side: the packs on offer, an
invoice for one, the pre-checkout's verdict, and a payment credited once per charge id.

Telegram's part (sending the invoice, answering the query, returning Stars) is the handlers';
this decides, and keeps the books (storage/invoices.py, storage/ledger.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from bot import texts
from bot.domain.delivery import Messenger, Outbox
from bot.domain.money import RefundAnswer, StarsBank, StarsUnavailableError, StarTransfer
from bot.domain.payments import CreditPack, Prices
from bot.services.access import AccessService
from bot.texts import i18n
from storage.invoices import Invoice, InvoiceProblem, InvoiceRepository
from storage.ledger import LedgerRepository
from storage.state import StateRepository

log = logging.getLogger(__name__)

CURRENCY = "XTR"  # Telegram Stars: digital goods are paid in them, with no payment provider

# What Telegram shows the user when the pre-checkout says no, by the invoice's problem.
_REFUSALS: dict[InvoiceProblem, Callable[[], str]] = {
    InvoiceProblem.UNKNOWN: texts.payment_refused_not_yours,
    InvoiceProblem.OTHER_USER: texts.payment_refused_not_yours,
    InvoiceProblem.AMOUNT: texts.payment_refused_withdrawn,
    InvoiceProblem.PAID: texts.paid_already,
    InvoiceProblem.EXPIRED: texts.payment_refused_expired,
    InvoiceProblem.WITHDRAWN: texts.payment_refused_withdrawn,
}


class PaymentVerdict(StrEnum):
    CREDITED = "credited"  # the pack's credits are on the balance now
    SEEN = "seen"  # this payment was credited before (a replayed update): say nothing again
    NOT_MATCHED = "not_matched"  # Stars taken for no invoice of this user's: to be returned


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    verdict: PaymentVerdict
    credits: int = 0
    balance: int = 0
    problem: InvoiceProblem | None = None


class PaymentService:
    def __init__(
        self,
        *,
        invoices: InvoiceRepository,
        ledger: LedgerRepository,
        access: AccessService,
        bank: StarsBank,
        packs: tuple[CreditPack, ...],
        prices: Prices,
        free_per_day: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._invoices = invoices
        self._ledger = ledger
        self._access = access
        self._bank = bank
        self.packs = packs
        self.prices = prices
        self.free_per_day = free_per_day
        self._clock = clock

    async def balance(self, user_id: int) -> int:
        return await self._ledger.balance(user_id)

    def pack(self, credits: int) -> CreditPack | None:
        """The pack of this many credits, if it is still offered (a button may be old)."""
        return next((p for p in self.packs if p.credits == credits), None)

    async def invoice(self, user_id: int, pack: CreditPack) -> Invoice:
        """A new invoice for the pack: its payload is what Telegram hands back."""
        return await self._invoices.issue(user_id, pack, self._clock())

    async def pre_checkout(
        self, user_id: int, payload: str, currency: str, amount: int
    ) -> str | None:
        """Whether Telegram may take the payment: None if so, else the sentence the user sees.

        Only an invoice this bot issued to this user, unpaid and under a day old, for its
        amount in Stars, whose pack is still offered; and only from a user who may use the bot.
        """
        if not await self._access.may_use(user_id):
            return texts.payment_refused_banned()
        if currency != CURRENCY:
            return texts.payment_refused_withdrawn()
        problem = await self._invoices.check(payload, user_id, amount, self.packs, self._clock())
        if problem is None:
            return None
        log.info("Pre-checkout of user %d refused: %s", user_id, problem)
        return _REFUSALS[problem]()

    async def record(
        self, user_id: int, payload: str, charge_id: str, currency: str, amount: int
    ) -> PaymentRecord:
        """A successful payment: its invoice's credits added once per `charge_id`, however
        often the update comes (a replay, a restart, another instance)."""
        if currency != CURRENCY:  # Telegram takes only Stars for an XTR invoice
            log.error("Payment %s of user %d is in %r, not Stars", charge_id, user_id, currency)
            return PaymentRecord(PaymentVerdict.NOT_MATCHED, problem=InvoiceProblem.AMOUNT)
        paid = await self._invoices.pay(payload, user_id, charge_id, amount, self._clock())
        if paid.problem is not None or paid.invoice is None:
            log.error(
                "Payment %s of user %d (%d Stars) names no invoice of theirs: %s",
                charge_id,
                user_id,
                amount,
                paid.problem,
            )
            return PaymentRecord(PaymentVerdict.NOT_MATCHED, problem=paid.problem)
        verdict = PaymentVerdict.CREDITED if paid.credited else PaymentVerdict.SEEN
        if paid.credited:
            log.info(
                "Payment %s: user %d bought %d credits for %d Stars",
                charge_id,
                user_id,
                paid.invoice.credits,
                amount,
            )
        return PaymentRecord(
            verdict, paid.invoice.credits, await self._ledger.balance(user_id), None
        )

    async def return_unmatched(self, user_id: int, charge_id: str) -> RefundAnswer:
        """Give back the Stars of a payment that named no invoice of the payer's (nothing was
        credited for it). ALREADY: returned before (a replayed update, or the other path)."""
        result = await self._bank.refund(user_id, charge_id)
        if result.answer == RefundAnswer.DONE:
            log.warning("Payment %s of user %d returned: it matched no invoice", charge_id, user_id)
        elif result.answer != RefundAnswer.ALREADY:
            log.error("Payment %s of user %d not returned: %s", charge_id, user_id, result.detail)
        return result.answer


# How often the bot compares Telegram's list of payments with what it credited (and at start).
MISSED_PAYMENTS_INTERVAL_SECONDS = 600.0
STARS_READ_KEY = "stars-transactions-read"  # bot_state: how many of Telegram's list were read
_PAGE = 100  # getStarTransactions' most per call


class MissedPayments:
    """Payments Telegram took whose update the bot never stored: a kill -9 or a database error
    between the update's arrival and the credit (Telegram does not send it again). They are in
    getStarTransactions, with the invoice's payload: credited here, once per charge id like any
    payment, and the user thanked. Read from where the last look stopped (kept in the database);
    several instances looking at once credit nothing twice."""

    def __init__(
        self,
        payments: PaymentService,
        bank: StarsBank,
        state: StateRepository,
        messenger: Messenger,
        reports: Outbox,
        language_of: Callable[[int], Awaitable[str]],
    ) -> None:
        self._payments = payments
        self._reports = reports
        self._bank = bank
        self._state = state
        self._messenger = messenger
        self._language_of = language_of

    async def credit(self) -> int:
        """Credit the payments not credited yet; how many were. Raises StarsUnavailableError."""
        offset = int(await self._state.get(STARS_READ_KEY) or 0)
        credited = 0
        while True:
            page = await self._bank.transactions(offset, _PAGE)
            for transfer in page.transfers:
                if not transfer.refund and transfer.payload:
                    credited += await self._credit(transfer)
            offset += page.read
            await self._state.set(STARS_READ_KEY, str(offset))
            if page.read < _PAGE:
                return credited

    async def _credit(self, transfer: StarTransfer) -> int:
        assert transfer.payload is not None
        recorded = await self._payments.record(
            transfer.user_id, transfer.payload, transfer.charge_id, CURRENCY, transfer.stars
        )
        if recorded.verdict == PaymentVerdict.NOT_MATCHED:
            await self._return(transfer, recorded)
            return 0
        if recorded.verdict != PaymentVerdict.CREDITED:
            return 0  # credited when its update came
        log.warning(
            "Payment %s of user %d had not been credited (its update was lost): credited now",
            transfer.charge_id,
            transfer.user_id,
        )
        with i18n.speaking(await self._language_of(transfer.user_id)):
            thanks = texts.payment_received(recorded.credits, recorded.balance)
        await self._messenger.send_text(transfer.user_id, thanks)
        return 1

    async def _return(self, transfer: StarTransfer, recorded: PaymentRecord) -> None:
        """A payment for no invoice of the payer's, found in the list: its Stars go back, as
        when its update comes (which says nothing more if this one got there first)."""
        answer = await self._payments.return_unmatched(transfer.user_id, transfer.charge_id)
        if answer == RefundAnswer.ALREADY:
            return  # returned when its update came
        returned = answer == RefundAnswer.DONE
        with i18n.speaking(await self._language_of(transfer.user_id)):
            told = texts.payment_not_matched(returned)
        await self._messenger.send_text(transfer.user_id, told)
        await self._reports.report_to_admins(
            lambda: texts.report_payment_not_matched(
                transfer.user_id,
                transfer.charge_id,
                transfer.stars,
                str(recorded.problem),
                returned,
            )
        )

    async def run(self, interval: float = MISSED_PAYMENTS_INTERVAL_SECONDS) -> None:
        """Look now, then every `interval` seconds, until cancelled."""
        while True:
            try:
                found = await self.credit()
                if found:
                    log.warning("%d lost payment(s) credited from Telegram's list", found)
            except StarsUnavailableError as exc:
                log.warning("Telegram's list of Star payments could not be read: %s", exc.detail)
            except Exception:
                log.exception("Looking for payments not credited failed")
            await asyncio.sleep(interval)
