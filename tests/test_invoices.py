"""Invoices for packs of credits: paid out only as issued (this user, this amount, a pack still
offered), and credited once per payment, however often its update comes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.domain.payments import CreditPack
from storage.db import Database
from storage.invoices import INVOICE_TTL_SECONDS, InvoiceProblem, InvoiceRepository
from storage.ledger import LedgerRepository
from storage.users import UserRepository
from tests.database import TestDatabase

USER, OTHER = 7, 8
PACK = CreditPack(10, 50)
OFFERED = (PACK, CreditPack(50, 225))


@pytest.fixture
async def db(database: TestDatabase) -> AsyncIterator[Database]:
    opened = await Database.open(database.target)
    for user in (USER, OTHER):
        await UserRepository(opened).seen(user, f"u{user}", "U", now=1.0)
    yield opened
    await opened.close()


async def test_an_invoice_checks_out_only_as_it_was_issued(db: Database) -> None:
    invoices = InvoiceRepository(db)
    invoice = await invoices.issue(USER, PACK, now=10.0)
    assert 1 <= len(invoice.payload.encode()) <= 128

    async def check(payload: str, user: int = USER, amount: int = 50, now: float = 20.0) -> object:
        return await invoices.check(payload, user, amount, OFFERED, now)

    assert await check(invoice.payload) is None
    assert await check("forged-payload") == InvoiceProblem.UNKNOWN
    assert await check(invoice.payload, user=OTHER) == InvoiceProblem.OTHER_USER
    assert await check(invoice.payload, amount=1) == InvoiceProblem.AMOUNT
    late = 10.0 + INVOICE_TTL_SECONDS + 1
    assert await check(invoice.payload, now=late) == InvoiceProblem.EXPIRED
    assert (
        await invoices.check(invoice.payload, USER, 50, (CreditPack(50, 225),), 20.0)
        == InvoiceProblem.WITHDRAWN
    )
    await invoices.pay(invoice.payload, USER, "charge-1", 50, now=30.0)
    assert await check(invoice.payload) == InvoiceProblem.PAID


async def test_a_payment_is_credited_once_however_often_it_comes(db: Database) -> None:
    invoices, ledger = InvoiceRepository(db), LedgerRepository(db)
    invoice = await invoices.issue(USER, PACK, now=10.0)

    payments = await asyncio.gather(
        *(invoices.pay(invoice.payload, USER, "charge-1", 50, now=30.0) for _ in range(5))
    )

    assert sum(p.credited for p in payments) == 1
    assert all(p.problem is None for p in payments)  # the same payment again is no news
    assert await ledger.balance(USER) == 10
    paid = await invoices.get(invoice.payload)
    assert paid is not None
    assert (paid.paid_at, paid.charge_id) == (30.0, "charge-1")
    again = await invoices.pay(invoice.payload, USER, "charge-2", 50, now=40.0)
    assert (again.credited, again.problem) == (False, InvoiceProblem.PAID)
    assert await ledger.balance(USER) == 10
    assert await ledger.mismatches() == []


async def test_a_payment_naming_no_invoice_of_the_user_credits_nothing(db: Database) -> None:
    invoices, ledger = InvoiceRepository(db), LedgerRepository(db)
    invoice = await invoices.issue(USER, PACK, now=10.0)

    forged = await invoices.pay("forged", USER, "charge-1", 50, now=30.0)
    stolen = await invoices.pay(invoice.payload, OTHER, "charge-2", 50, now=30.0)
    cheap = await invoices.pay(invoice.payload, USER, "charge-3", 1, now=30.0)

    assert (forged.credited, forged.problem) == (False, InvoiceProblem.UNKNOWN)
    assert (stolen.credited, stolen.problem) == (False, InvoiceProblem.OTHER_USER)
    assert (cheap.credited, cheap.problem) == (False, InvoiceProblem.AMOUNT)
    assert await ledger.balance(USER) == 0
    assert await ledger.balance(OTHER) == 0
    unpaid = await invoices.get(invoice.payload)
    assert unpaid is not None
    assert unpaid.paid_at is None
