"""Payments in Telegram Stars where they could go wrong, found by a review of issue 16 and fixed:
each test states the behaviour the issue and README promise, through the fake Telegram."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from bot.domain.database import DatabaseUnavailableError
from storage.db import Database
from storage.ledger import LedgerRepository
from storage.users import UserRepository
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram.payments import SentInvoice
from tests.helpers import ADMIN_ID, PROMPT, USER_ID, Chat

PRICE = 10
PAYMENTS: dict[str, Any] = {
    "payments": "stars",
    "credit_packs": "10:50,50:225",
    "task_price": PRICE,
}
StartBot = Callable[..., Awaitable[BotApp]]


@pytest.fixture
async def ledger(database: TestDatabase) -> AsyncIterator[LedgerRepository]:
    db = await Database.open(database.target, pool_size=2)
    yield LedgerRepository(db)
    await db.close()


async def funded(chat: Chat, ledger: LedgerRepository, credits: int) -> None:
    await chat.say("/start")
    assert await ledger.grant(chat.user_id, credits, "test", ADMIN_ID, time.time()) == credits


async def invoice_for(chat: Chat, telegram: FakeTelegram) -> SentInvoice:
    menu = await chat.say("/buy")
    before = len(telegram.invoices(chat.user_id))
    await chat.press(menu, "10 credits")
    await telegram.wait_until(lambda: len(telegram.invoices(chat.user_id)) > before)
    return telegram.invoices(chat.user_id)[-1]


async def held_price_is_returned(ledger: LedgerRepository, task_id: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await ledger.reservation(task_id)
        if found is not None and found.released:
            return True
        await asyncio.sleep(0.1)
    return False


async def failed_task_whose_release_was_lost(
    start_bot: StartBot, kie: FakeKie, chat: Chat, ledger: LedgerRepository, database: TestDatabase
) -> None:
    """Task 1 refused by the provider; the process killed after the row said `failed` and
    before the release was written (Endings.fail: transition, then give_back, in two
    transactions). The same state follows a database error raised by the release."""
    first = await start_bot(**PAYMENTS)
    await funded(chat, ledger, PRICE)
    kie.refuse_next_generate(402, "Credits insufficient", http_status=200)
    card = await chat.card(f"https://v.example.com/clip-1.mp4 {PROMPT}")
    await chat.press(card, "Submit")
    await chat.wait_for_text("failed")
    assert await held_price_is_returned(ledger, 1, 10)
    await first.stop()
    with connect(database) as conn:
        conn.execute("DELETE FROM ledger WHERE task_id = 1 AND kind = 'release'")
        conn.execute("UPDATE users SET credits = credits - ? WHERE id = ?", (PRICE, USER_ID))
    assert await ledger.mismatches() == []
    found = await ledger.reservation(1)
    assert found is not None
    assert found.held


async def test_a_failed_tasks_price_left_held_by_a_crash_is_returned_after_restart(
    start_bot: StartBot, kie: FakeKie, chat: Chat, ledger: LedgerRepository, database: TestDatabase
) -> None:
    """A crash between a task's failing and its price's return: returned at the next start."""
    await failed_task_whose_release_was_lost(start_bot, kie, chat, ledger, database)
    await start_bot(**PAYMENTS)
    assert await held_price_is_returned(ledger, 1, 10), "task 1 failed, its price held forever"
    assert await ledger.balance(USER_ID) == PRICE


async def test_a_pre_checkout_is_answered_when_the_users_language_cannot_be_read(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The user's language is a database read (once its one-minute cache is stale, or on
    another instance): it is inside the pre-checkout's 7 s guard, so a database error there
    still gets an answer (Telegram fails an unanswered payment after 10 s)."""
    app = await start_bot(**PAYMENTS)
    invoice = await invoice_for(chat, telegram)
    assert app._services is not None
    app._services.runtime.languages._kept.clear()  # the user's last update was > 1 minute ago

    async def away(self: UserRepository, user_id: int) -> None:
        raise DatabaseUnavailableError("PostgreSQL went away")

    monkeypatch.setattr(UserRepository, "get", away)
    paid = await telegram.pay(USER_ID, invoice.message_id)
    assert paid.answered, "the pre-checkout query was never answered"
    assert (paid.ok, paid.error_message) == (False, texts.payment_refused_unavailable())


async def test_a_second_payment_of_one_invoice_found_only_in_telegrams_list_is_returned(
    start_bot: StartBot, telegram: FakeTelegram, chat: Chat, database: TestDatabase
) -> None:
    """A payment that names no invoice of the payer's gets its Stars back, also when its update
    was lost and the look at Telegram's list finds it. Here: the invoice paid twice (two
    devices, both pre-checkouts answered before either payment), the second's update lost."""
    first = await start_bot(**PAYMENTS)
    invoice = await invoice_for(chat, telegram)
    await telegram.pay(USER_ID, invoice.message_id)
    await chat.wait_for_text("Thank you!")
    await first.stop()
    second = telegram.add_star_payment(USER_ID, 50, invoice.payload)  # no update reaches the bot

    await start_bot(**PAYMENTS)
    await telegram.wait_until(
        lambda: any(c.method == "getStarTransactions" for c in telegram.calls),
        what="the missed-payments sweep",
    )
    await asyncio.sleep(2.0)
    payment = next(p for p in telegram.star_payments(USER_ID) if p.charge_id == second)
    assert payment.refunded_at is not None, "Stars kept for nothing credited"


async def test_a_replayed_payment_for_no_invoice_is_answered_once(
    start_bot: StartBot, telegram: FakeTelegram, chat: Chat
) -> None:
    """A payment that matched no invoice writes nothing; a replay of its update hears from
    Telegram that it was returned already, and says nothing more."""
    await start_bot(**PAYMENTS)
    await chat.say("/start")
    charge = telegram.add_star_payment(USER_ID, 50, "not-one-of-ours")
    fields = {
        "successful_payment": {
            "currency": "XTR",
            "total_amount": 50,
            "invoice_payload": "not-one-of-ours",
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "",
        }
    }
    telegram.send_update_message(USER_ID, **fields)
    await chat.wait_for_text("could not match your payment")
    telegram.send_update_message(USER_ID, **fields)  # the same payment delivered again
    await chat.settle()
    await asyncio.sleep(1.0)
    said = [m for m in telegram.messages(USER_ID) if "could not match" in (m.rendered or "")]
    reports = [m for m in telegram.messages(ADMIN_ID) if charge in (m.rendered or m.text or "")]
    assert (len(said), len(reports)) == (1, 1)
    # The replay asked for the refund again and heard it was made already: nothing more.
    (payment,) = telegram.star_payments(USER_ID)
    assert payment.refunded_at is not None
