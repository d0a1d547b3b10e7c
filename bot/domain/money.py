"""The admins' side of payments (PAYMENTS=stars): the Stars port (refunds and the bot's Star
transactions at Telegram, implemented over the Bot API by bot.stars), and what the ledger tells
the admins: purchases, totals, a user's movements, a task's price, and the differences a
reconciliation with Telegram finds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

# --- Telegram's side --------------------------------------------------------------------------


class RefundAnswer(StrEnum):
    DONE = "done"  # the Stars went back
    ALREADY = "already"  # CHARGE_ALREADY_REFUNDED: they had gone back before
    REFUSED = "refused"  # Telegram said no (CHARGE_NOT_FOUND, ...): nothing went back
    NO_ANSWER = "no_answer"  # no answer, or "later": the Stars may or may not have gone back


@dataclass(frozen=True, slots=True)
class RefundResult:
    answer: RefundAnswer
    detail: str = ""  # Telegram's words (English), for the admin


@dataclass(frozen=True, slots=True)
class StarTransfer:
    """One of the bot's Star transactions with a user for an invoice: a payment in, or its
    refund out. `charge_id` is the payment's telegram_payment_charge_id (a refund's id is the
    id of the payment it returns)."""

    charge_id: str
    user_id: int
    stars: int
    at: float
    refund: bool
    payload: str | None = None  # the invoice's payload (a secret of the bot's: never logged)


class StarsUnavailableError(Exception):
    """Telegram could not list the transactions now; `detail` says why (English)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StarsBank(Protocol):
    """The bot's Stars at Telegram (bot.stars.TelegramStars implements it)."""

    async def refund(self, user_id: int, charge_id: str) -> RefundResult:
        """refundStarPayment: give the user back the Stars of that payment. Never raises."""
        ...

    async def transactions(self, offset: int, limit: int) -> StarPage:
        """getStarTransactions: up to `limit` (1-100) transactions after the first `offset`.
        Raises StarsUnavailableError."""
        ...


@dataclass(frozen=True, slots=True)
class StarPage:
    """One page of getStarTransactions: the payments for invoices and their refunds in it,
    and how many transactions it held in all (withdrawals and others included: what the next
    offset adds)."""

    transfers: Sequence[StarTransfer]
    read: int


# --- the ledger, for the admins -----------------------------------------------------------------


class RefundState(StrEnum):
    NONE = "none"  # the purchase stands
    REFUNDED = "refunded"  # its credits were removed to return its Stars (/refund)
    REFUSED = "refused"  # a refund was tried, Telegram refused it: its credits were put back


@dataclass(frozen=True, slots=True)
class Purchase:
    """A pack bought with Stars, as the ledger has it."""

    charge_id: str
    user_id: int
    username: str | None
    credits: int
    stars: int
    at: float
    refund: RefundState = RefundState.NONE
    refunded_at: float | None = None
    refunded_by: int | None = None  # the admin


@dataclass(frozen=True, slots=True)
class OutsideRefund:
    """A payment's Stars returned by other means than the bot's /refund (Telegram's
    refunded_payment for a refund the ledger did not have), and what the bot did about it:
    the purchase's credits removed, as far as the balance allowed (it never goes below zero)."""

    purchase: Purchase
    removed: int  # credits removed now: the purchase's, or the whole balance when it was short
    balance: int  # the user's balance after
    # An admin's /refund of it was refused by Telegram before, and its credits put back:
    # nothing is removed now (the ledger holds one refund a payment); an admin decides.
    refused_before: bool = False

    @property
    def short(self) -> int:
        """The purchase's credits that could not be removed (spent, or held by a task)."""
        return 0 if self.refused_before else self.purchase.credits - self.removed


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One movement of a user's credits (storage.ledger's kinds: purchase, reserve, charge,
    release, grant, star_refund, refund_refused, recharge, recharge_release)."""

    kind: str
    credits: int
    task_id: int | None
    charge_id: str | None
    stars: int | None
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class MoneyTotals:
    """What moved in a period (movements at or after its start)."""

    purchases: int = 0  # how many
    stars_in: int = 0  # paid for them
    stars_refunded: int = 0  # returned with /refund (refunds Telegram refused left out)
    sold: int = 0  # credits bought
    spent: int = 0  # prices of tasks charged in the period (and not returned since)
    returned: int = 0  # prices returned (tasks that ended without a video)
    granted: int = 0  # by admins (/grant)
    removed: int = 0  # by admins (/grant with a minus)
    refunded: int = 0  # credits removed with /refund


@dataclass(frozen=True, slots=True)
class MoneyNow:
    held: int = 0  # credits reserved by tasks not settled yet
    held_tasks: int = 0
    balances: int = 0  # credits in all users' balances


class PriceState(StrEnum):
    HELD = "held"  # reserved at Submit, not settled yet
    CHARGED = "charged"
    RETURNED = "returned"  # returned before it was charged
    REFUNDED = "refunded"  # charged, then returned (failed at the provider)


@dataclass(frozen=True, slots=True)
class TaskPrice:
    credits: int
    state: PriceState


# --- reconciliation -----------------------------------------------------------------------------


class Gap(StrEnum):
    NOT_CREDITED = "not_credited"  # Telegram has the payment, the ledger does not
    NOT_AT_TELEGRAM = "not_at_telegram"  # the ledger has a purchase Telegram does not
    AMOUNT = "amount"  # both have it, for different amounts of Stars
    USER = "user"  # both have it, from different users
    REFUND_NOT_IN_LEDGER = "refund_not_in_ledger"  # refunded at Telegram, credits kept
    REFUND_NOT_AT_TELEGRAM = "refund_not_at_telegram"  # credits removed, Stars not returned


@dataclass(frozen=True, slots=True)
class Difference:
    gap: Gap
    charge_id: str
    user_id: int | None = None
    ledger_stars: int | None = None
    telegram_stars: int | None = None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    payments: int  # payments Telegram listed
    refunds: int  # refunds Telegram listed
    differences: list[Difference] = field(default_factory=list)
    # Users whose cached balance is not the sum of their movements: (user, cached, sum).
    cache: list[tuple[int, int, int]] = field(default_factory=list)
    complete: bool = True  # False: Telegram's list was longer than the pages read

    @property
    def clean(self) -> bool:
        return self.complete and not self.differences and not self.cache
