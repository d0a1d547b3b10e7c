"""MoneyAdmin: the admins' side of payments (PAYMENTS=stars). Each method returns the HTML to
reply with.

/refund, in this order, so that neither a crash nor an answer of Telegram's ever leaves the
user with both the Stars and the credits:
1. one transaction removes the purchase's credits from the balance (a `star_refund` row, once
   per charge id: the ledger's unique index), refused when the balance is short of them;
2. then refundStarPayment;
3. Telegram refuses (CHARGE_NOT_FOUND, ...): a `refund_refused` row puts the credits back, once;
   CHARGE_ALREADY_REFUNDED: the Stars are back, done; no answer: the credits stay removed, and
   the admin sends /refund again, which asks Telegram again (step 2) and finishes it.
A crash after step 1 leaves the credits removed and the Stars kept: the user's loss for a while,
never the operator's, and /refund (or /reconcile) finds it.

Telegram tells the bot of every refund (a refunded_payment message). One the ledger has (made
by /refund, or a payment the bot returned itself) needs nothing more; one it does not have was
made outside the bot (another copy of it, the operator's own script): the purchase's credits are
removed then, as far as the balance allows, and the admins told (`refunded_outside`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot import texts
from bot.domain.delivery import Messenger, SendResult
from bot.domain.money import (
    Difference,
    Gap,
    LedgerLine,
    OutsideRefund,
    PriceState,
    Purchase,
    Reconciliation,
    RefundAnswer,
    RefundState,
    StarsBank,
    StarsUnavailableError,
    StarTransfer,
    TaskPrice,
)
from bot.domain.numbers import user_ref
from bot.domain.payments import MAX_CREDITS
from bot.domain.records import TaskState
from bot.texts import i18n
from storage.ledger import LedgerRepository, RefundStart, Reservation
from storage.tasks import TaskRepository
from storage.users import UserRepository

log = logging.getLogger(__name__)

DAY = 86400.0
PAGE = 100  # getStarTransactions' most per call
MAX_PAGES = 100  # /reconcile reads at most this many pages (10,000 transactions)
MOVEMENTS_SHOWN = 10  # /user's latest movements
_SIGNED = re.compile(r"[+-]?[0-9]{1,9}")


@dataclass(frozen=True, slots=True)
class Settled:
    """What pressing Charge or Return came to: the toast, and a line for the message when the
    price was settled now."""

    toast: str
    note: str | None = None


def price_of(reservation: Reservation | None) -> TaskPrice | None:
    if reservation is None:
        return None
    if reservation.refunded:
        state = PriceState.REFUNDED
    elif reservation.released:
        state = PriceState.RETURNED
    else:
        state = PriceState.CHARGED if reservation.charged else PriceState.HELD
    return TaskPrice(reservation.credits, state)


def signed_credits(text: str) -> int | None:
    """`10`, `+10` or `-10` (ASCII digits), not zero, within MAX_CREDITS; else None."""
    if not _SIGNED.fullmatch(text.strip()):
        return None
    value = int(text.strip())
    return value if value and abs(value) <= MAX_CREDITS else None


class MoneyAdmin:
    def __init__(
        self,
        *,
        ledger: LedgerRepository,
        users: UserRepository,
        tasks: TaskRepository,
        stars: StarsBank,
        messenger: Messenger,
        language_of: Callable[[int], Awaitable[str]],
        show_card: Callable[[int], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`messenger` tells users of their refunds; `show_card` redraws a task's status card
        (its price) once an admin settled it."""
        self._ledger = ledger
        self._users = users
        self._tasks = tasks
        self._stars = stars
        self._messenger = messenger
        self._language_of = language_of
        self._show_card = show_card
        self._clock = clock

    # --- /refund ------------------------------------------------------------------------------

    async def refund(self, charge_id: str, admin_id: int, reason: str) -> str:
        start, purchase, balance = await self._ledger.start_star_refund(
            charge_id, admin_id, reason, self._clock()
        )
        if purchase is None:
            return texts.money_no_such_charge(charge_id)
        if start is RefundStart.SPENT:
            return texts.money_refund_spent(purchase, balance)
        if start is RefundStart.REFUSED_BEFORE:
            return texts.money_refund_was_refused(purchase)
        # The credits are removed (now, or by an earlier /refund): Telegram returns the Stars.
        result = await self._stars.refund(purchase.user_id, charge_id)
        log.info(
            "Refund of %s (user %d, by admin %d): %s %s",
            charge_id,
            purchase.user_id,
            admin_id,
            result.answer,
            result.detail,
        )
        first = start is RefundStart.STARTED
        if result.answer is RefundAnswer.DONE or (result.answer is RefundAnswer.ALREADY and first):
            told = await self._tell_refunded(purchase, balance)
            return texts.money_refunded(purchase, balance, told)
        if result.answer is RefundAnswer.ALREADY:
            return texts.money_already_refunded(purchase, self._clock())
        if result.answer is RefundAnswer.REFUSED:
            back = await self._ledger.undo_star_refund(charge_id, result.detail, self._clock())
            return texts.money_refund_refused(purchase, result.detail, back)
        return texts.money_refund_no_answer(purchase, result.detail)

    async def refunded_outside(self, charge_id: str) -> OutsideRefund | None:
        """Telegram returned a payment's Stars. Refunded outside the bot (the ledger has no
        refund of it): its credits are removed now, all of them or, when the balance is short
        (spent, or held by a task), the whole balance (it never goes below zero); the admins
        are to hear of it, with what could not be removed. None when there is nothing to say:
        the ledger has the refund (/refund), or no purchase has that charge id."""
        outside = await self._ledger.refund_outside(
            charge_id, "refunded outside the bot", self._clock()
        )
        if outside is not None:
            log.warning(
                "Payment %s of user %d was refunded outside the bot: %d of its %d credits "
                "removed, balance now %d%s",
                charge_id,
                outside.purchase.user_id,
                outside.removed,
                outside.purchase.credits,
                outside.balance,
                " (a /refund of it was refused before: nothing removed)"
                if outside.refused_before
                else "",
            )
        return outside

    async def _tell_refunded(self, purchase: Purchase, balance: int) -> bool:
        with i18n.speaking(await self._language_of(purchase.user_id)):
            html = texts.money_user_refunded(purchase.stars, purchase.credits, balance)
        sent, _ = await self._messenger.send_text(purchase.user_id, html)
        return sent is SendResult.SENT

    # --- /grant -------------------------------------------------------------------------------

    async def grant(self, who: str, amount: str, reason: str, admin_id: int) -> str:
        credits = signed_credits(amount)
        if credits is None or not reason.strip():
            return texts.admin_usage("grant")
        ref = user_ref(who)
        user = await self._users.find_or_ensure(ref) if ref is not None else None
        if user is None:
            return texts.admin_no_such_user(who)
        balance = await self._ledger.grant(
            user.id, credits, reason.strip(), admin_id, self._clock()
        )
        if balance is None:
            return texts.money_grant_short(user, credits, await self._ledger.balance(user.id))
        return texts.money_grant_done(user, credits, balance, reason.strip())

    # --- /user, /stats, /task -----------------------------------------------------------------

    async def user_part(self, who: str) -> str | None:
        """The user's balance and latest movements; None when there is no such user."""
        ref = user_ref(who)
        user = await self._users.find(ref) if ref is not None else None
        if user is None:
            return None
        entries = await self._ledger.movements(user.id, MOVEMENTS_SHOWN)
        lines = [
            LedgerLine(e.kind, e.credits, e.task_id, e.charge_id, e.stars, e.reason, e.at)
            for e in entries
        ]
        return texts.money_user(await self._ledger.balance(user.id), lines, self._clock())

    async def stats_part(self) -> str:
        now = self._clock()
        periods = [await self._ledger.totals(since) for since in (now - DAY, now - 7 * DAY, 0)]
        return texts.money_stats(periods, await self._ledger.now())

    async def task_price(self, task_id: int) -> tuple[TaskPrice, bool] | None:
        """The task's price and what became of it, and whether an admin is to decide it (held,
        and the task's outcome unknown); None when the task has no price."""
        price = price_of(await self._ledger.reservation(task_id))
        if price is None:
            return None
        task = await self._tasks.get(task_id)
        unknown = task is not None and task.state == TaskState.UNKNOWN
        return price, unknown and price.state is PriceState.HELD

    async def settle(self, task_id: int, charge: bool, admin_id: int) -> Settled:
        """An admin pressed Charge (`charge`) or Return under a task whose outcome is unknown:
        its held price is settled so, once (the first press of any admin decides)."""
        task = await self._tasks.get(task_id)
        before = price_of(await self._ledger.reservation(task_id))
        if task is None or before is None:
            return Settled(texts.toast_money_settled_before(None))
        if before.state is PriceState.HELD and task.state != TaskState.UNKNOWN:
            return Settled(texts.toast_money_not_unknown())  # found after all: it follows it
        reason = "outcome unknown: charged by an admin" if charge else "outcome unknown: returned"
        done, after = await self._ledger.settle_held(
            task_id, charge, self._clock(), reason, admin_id
        )
        price = price_of(after)
        if not done or price is None:
            return Settled(texts.toast_money_settled_before(price))
        log.info("Task %d's price %s by admin %d", task_id, price.state, admin_id)
        with i18n.speaking(await self._language_of(task.user_id)):
            await self._show_card(task_id)  # the user's card says what became of the price
        return Settled(
            texts.toast_money_settled(charge), texts.money_task_settled(task_id, price, charge)
        )

    # --- /payments ----------------------------------------------------------------------------

    async def purchases(self, count: int) -> str:
        return texts.money_purchases(await self._ledger.purchases(count), self._clock())

    # --- /reconcile ---------------------------------------------------------------------------

    async def reconcile(self) -> str:
        try:
            transfers, complete = await self._star_transfers()
        except StarsUnavailableError as exc:
            return texts.money_reconcile_failed(exc.detail)
        result = compare(transfers, await self._ledger.purchases(), complete=complete)
        cache = await self._ledger.mismatches()
        return texts.money_reconciled(
            Reconciliation(
                payments=result.payments,
                refunds=result.refunds,
                differences=result.differences,
                cache=cache,
                complete=complete,
            )
        )

    async def _star_transfers(self) -> tuple[list[StarTransfer], bool]:
        """Every payment for an invoice and every refund Telegram lists (at most MAX_PAGES
        pages), and whether that was all of them."""
        transfers: list[StarTransfer] = []
        offset = 0
        for _ in range(MAX_PAGES):
            page = await self._stars.transactions(offset, PAGE)
            transfers.extend(page.transfers)
            offset += page.read
            if page.read < PAGE:
                return transfers, True
        return transfers, False


def compare(
    transfers: list[StarTransfer], purchases: list[Purchase], *, complete: bool
) -> Reconciliation:
    """Telegram's payments and refunds against the ledger's purchases and refunds. A payment
    Telegram refunded that the ledger never credited (one the bot could not match, returned at
    once) is no difference. Without the `complete` list, a purchase Telegram does not list may
    be in what was not read: not a difference either."""
    paid = {t.charge_id: t for t in transfers if not t.refund}
    refunded = {t.charge_id: t for t in transfers if t.refund}
    bought = {p.charge_id: p for p in purchases}
    differences: list[Difference] = []
    for charge_id, payment in paid.items():
        purchase = bought.get(charge_id)
        if purchase is None:
            if charge_id not in refunded:
                differences.append(
                    Difference(
                        Gap.NOT_CREDITED,
                        charge_id,
                        payment.user_id,
                        telegram_stars=payment.stars,
                    )
                )
        elif purchase.user_id != payment.user_id:
            differences.append(Difference(Gap.USER, charge_id, purchase.user_id))
        elif purchase.stars != payment.stars:
            differences.append(
                Difference(Gap.AMOUNT, charge_id, purchase.user_id, purchase.stars, payment.stars)
            )
    for charge_id, purchase in bought.items():
        if charge_id not in paid:
            if complete:
                differences.append(
                    Difference(
                        Gap.NOT_AT_TELEGRAM,
                        charge_id,
                        purchase.user_id,
                        ledger_stars=purchase.stars,
                    )
                )
            continue
        in_ledger = purchase.refund is RefundState.REFUNDED
        if charge_id in refunded and not in_ledger:
            differences.append(
                Difference(
                    Gap.REFUND_NOT_IN_LEDGER,
                    charge_id,
                    purchase.user_id,
                    purchase.stars,
                    refunded[charge_id].stars,
                )
            )
        elif in_ledger and charge_id not in refunded:
            differences.append(
                Difference(Gap.REFUND_NOT_AT_TELEGRAM, charge_id, purchase.user_id, purchase.stars)
            )
    order = list(Gap)
    differences.sort(key=lambda d: (order.index(d.gap), d.charge_id))
    return Reconciliation(
        payments=len(paid), refunds=len(refunded), differences=differences, complete=complete
    )
