"""Invoices for packs of credits (PAYMENTS=stars). Each invoice the bot sends is a row whose
random `payload` Telegram hands back in the pre-checkout query and in the payment: the bot
accepts a payment only for an invoice it issued, to that user, for that amount, and credits it
once (the invoice marked paid and the credits written in one transaction)."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.payments import CreditPack
from storage.db import Database
from storage.ledger import purchase_in
from storage.models import from_row

# An invoice older than this is not paid out at the pre-checkout (its pack may have changed).
INVOICE_TTL_SECONDS = 24 * 3600


class InvoiceProblem(StrEnum):
    UNKNOWN = "unknown"  # not a payload this bot issued (forged, or from another database)
    OTHER_USER = "other_user"  # issued to someone else
    AMOUNT = "amount"  # the amount is not the invoice's
    PAID = "paid"  # paid already
    EXPIRED = "expired"  # older than INVOICE_TTL_SECONDS
    WITHDRAWN = "withdrawn"  # its pack is no longer offered (CREDIT_PACKS changed)


@dataclass(frozen=True, slots=True)
class Invoice:
    payload: str
    user_id: int
    credits: int
    stars: int
    created_at: float
    paid_at: float | None
    charge_id: str | None


@dataclass(frozen=True, slots=True)
class Payment:
    """What a successful payment did: `credited` False when it had been credited before (a
    replayed update, another instance), or `problem` when it named no invoice of this user."""

    credited: bool
    invoice: Invoice | None
    problem: InvoiceProblem | None = None


class InvoiceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def issue(self, user_id: int, pack: CreditPack, now: float) -> Invoice:
        payload = secrets.token_urlsafe(24)  # 32 characters; Telegram allows 1-128 bytes
        await self._db.execute(
            "INSERT INTO invoices (payload, user_id, credits, stars, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (payload, user_id, pack.credits, pack.stars, now),
        )
        return Invoice(payload, user_id, pack.credits, pack.stars, now, None, None)

    async def get(self, payload: str) -> Invoice | None:
        row = await self._db.fetch_one("SELECT * FROM invoices WHERE payload = ?", (payload,))
        return None if row is None else from_row(Invoice, row)

    async def check(
        self,
        payload: str,
        user_id: int,
        amount: int,
        offered: Collection[CreditPack],
        now: float,
    ) -> InvoiceProblem | None:
        """Whether a pre-checkout query may go on: None when it may, else why not."""
        invoice = await self.get(payload)
        if invoice is None:
            return InvoiceProblem.UNKNOWN
        if invoice.user_id != user_id:
            return InvoiceProblem.OTHER_USER
        if invoice.stars != amount:
            return InvoiceProblem.AMOUNT
        if invoice.paid_at is not None:
            return InvoiceProblem.PAID
        if now - invoice.created_at > INVOICE_TTL_SECONDS:
            return InvoiceProblem.EXPIRED
        if CreditPack(invoice.credits, invoice.stars) not in offered:
            return InvoiceProblem.WITHDRAWN
        return None

    async def pay(
        self, payload: str, user_id: int, charge_id: str, amount: int, now: float
    ) -> Payment:
        """A successful payment: the invoice marked paid and its credits written, together and
        once per `charge_id`."""
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                f"SELECT * FROM invoices WHERE payload = ?{conn.for_update}", (payload,)
            )
            invoice = None if row is None else from_row(Invoice, row)
            if invoice is None:
                return Payment(False, None, InvoiceProblem.UNKNOWN)
            if invoice.user_id != user_id:
                return Payment(False, invoice, InvoiceProblem.OTHER_USER)
            if invoice.stars != amount:
                return Payment(False, invoice, InvoiceProblem.AMOUNT)
            if invoice.paid_at is not None:
                # Paid before: the same payment again is no news; another one is a problem.
                again = invoice.charge_id == charge_id
                return Payment(False, invoice, None if again else InvoiceProblem.PAID)
            await conn.execute(
                "UPDATE invoices SET paid_at = ?, charge_id = ? WHERE payload = ?",
                (now, charge_id, payload),
            )
            credited = await purchase_in(
                conn, user_id, charge_id, invoice.credits, invoice.stars, now
            )
            return Payment(credited, invoice)
