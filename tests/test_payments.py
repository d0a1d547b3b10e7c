"""Buying credits with Telegram Stars, end to end through the fake Telegram (PAYMENTS=stars):
/buy, a pack's invoice, the pre-checkout's verdicts, the payment credited once, /paysupport and
/terms, and the "Buy credits" button under a refusal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from bot.domain.payments import CreditPack, Prices
from tests.database import TestDatabase, connect
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram.payments import SentInvoice
from tests.helpers import ADMIN_ID, OTHER_USER_ID, USER_ID, Chat

PACKS = "10:50,50:225"
SMALL = CreditPack(10, 50)


def paying(**overrides: Any) -> dict[str, Any]:
    return {"payments": "stars", "credit_packs": PACKS, "task_price": 10, **overrides}


@pytest.fixture
async def paying_bot(start_bot: Callable[..., Any]) -> BotApp:
    app: BotApp = await start_bot(**paying())
    return app


async def invoice_for(chat: Chat, telegram: FakeTelegram, word: str = "10 credits") -> SentInvoice:
    """/buy, then the pack's button: the invoice the bot sends."""
    menu = await chat.say("/buy")
    before = len(telegram.invoices(chat.user_id))
    await chat.press(menu, word)
    await telegram.wait_until(
        lambda: len(telegram.invoices(chat.user_id)) > before, what="the invoice"
    )
    return telegram.invoices(chat.user_id)[-1]


def ledger_rows(database: TestDatabase, kind: str) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return list(
            conn.execute(
                "SELECT user_id, credits, charge_id, stars FROM ledger WHERE kind = ? ORDER BY id",
                (kind,),
            ).fetchall()
        )


def balance(database: TestDatabase, user_id: int = USER_ID) -> int:
    with connect(database) as conn:
        row = conn.execute("SELECT credits FROM users WHERE id = ?", (user_id,)).fetchone()
    return 0 if row is None else int(row[0])


async def test_a_pack_is_bought_end_to_end_and_credited_once(
    paying_bot: BotApp, telegram: FakeTelegram, chat: Chat, database: TestDatabase
) -> None:
    menu = await chat.say("/buy")
    assert "You have 0 credits." in (menu.rendered or "")
    assert "A video costs 10 credits." in (menu.rendered or "")
    labels = [label for label, _ in telegram.buttons(USER_ID, menu.message_id)]
    assert labels == ["10 credits for 50 ⭐", "50 credits for 225 ⭐"]

    invoice = await invoice_for(chat, telegram)
    assert (invoice.currency, invoice.total_amount) == ("XTR", 50)
    assert invoice.title == "10 credits"
    assert len(invoice.payload) >= 32  # random: not guessable

    paid = await telegram.pay(USER_ID, invoice.message_id)
    assert (paid.answered, paid.ok) == (True, True)
    thanks = await chat.wait_for_text("Thank you!")
    assert thanks.rendered == texts.payment_received(10, 10)
    assert balance(database) == 10
    assert ledger_rows(database, "purchase") == [(USER_ID, 10, paid.charge_id, 50)]

    # The same payment delivered again (a replayed update): credited once, said once.
    assert paid.charge_id is not None
    telegram.replay_payment(paid.charge_id)
    await chat.settle()
    assert balance(database) == 10
    assert len(ledger_rows(database, "purchase")) == 1
    assert sum("Thank you!" in (m.rendered or "") for m in telegram.messages(USER_ID)) == 1

    # The invoice is paid: paying it again is refused before any Star moves.
    again = await telegram.pay(USER_ID, invoice.message_id)
    assert (again.answered, again.ok) == (True, False)
    assert again.error_message == texts.paid_already()
    assert len(telegram.star_payments(USER_ID)) == 1


async def test_the_credits_pay_for_a_task_and_the_card_says_so(
    paying_bot: BotApp, telegram: FakeTelegram, chat: Chat, database: TestDatabase, kie: Any
) -> None:
    await telegram.pay(USER_ID, (await invoice_for(chat, telegram)).message_id)
    await chat.wait_for_text("Thank you!")
    card = await chat.card()
    assert await chat.press(card, "Submit") == texts.toast_submitted()
    await kie.wait_for_task()
    await chat.wait_for_text("Price: 10 credits, spent.")
    assert balance(database) == 0


async def test_a_forged_payload_another_users_invoice_and_a_wrong_amount_are_refused(
    paying_bot: BotApp, telegram: FakeTelegram, chat: Chat, database: TestDatabase
) -> None:
    invoice = await invoice_for(chat, telegram)
    forged = telegram.send_pre_checkout_query(
        USER_ID, invoice_payload="made-up-by-someone", total_amount=50
    )
    other = Chat(telegram, OTHER_USER_ID)
    await other.say("/start")
    stolen = await telegram.pay(
        OTHER_USER_ID, None, invoice_payload=invoice.payload, total_amount=50
    )
    cheap = await telegram.pay(USER_ID, invoice.message_id, total_amount=1)

    await telegram.wait_until(lambda: telegram.pre_checkout(forged).answer is not None)
    assert telegram.pre_checkout(forged).ok is False
    assert telegram.pre_checkout(forged).error_message == texts.payment_refused_not_yours()
    assert (stolen.ok, stolen.error_message) == (False, texts.payment_refused_not_yours())
    assert (cheap.ok, cheap.error_message) == (False, texts.payment_refused_withdrawn())
    assert telegram.star_payments() == []
    assert balance(database) == 0
    assert balance(database, OTHER_USER_ID) == 0
    # The invoice itself is still good.
    paid = await telegram.pay(USER_ID, invoice.message_id)
    assert paid.ok
    await chat.wait_for_text("Thank you!")


async def test_a_stale_invoice_and_a_withdrawn_pack_are_refused(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat, database: TestDatabase
) -> None:
    first = await start_bot(**paying())
    old = await invoice_for(chat, telegram)
    withdrawn = await invoice_for(chat, telegram, "50 credits")
    with connect(database) as conn:
        conn.execute(
            "UPDATE invoices SET created_at = ? WHERE payload = ?",
            (time.time() - 25 * 3600, old.payload),
        )
    await first.stop()
    await start_bot(**paying(credit_packs="10:50,100:400"))  # the operator changed the packs

    stale = await telegram.pay(USER_ID, old.message_id)
    gone = await telegram.pay(USER_ID, withdrawn.message_id)

    assert (stale.ok, stale.error_message) == (False, texts.payment_refused_expired())
    assert (gone.ok, gone.error_message) == (False, texts.payment_refused_withdrawn())
    # An old menu's button for the withdrawn pack says so, and sends no invoice.
    menus = [m for m in telegram.messages(USER_ID) if "Choose a pack" in (m.rendered or "")]
    invoices = len(telegram.invoices(USER_ID))
    assert await chat.press(menus[0], "50 credits") == texts.toast_pack_withdrawn()
    assert len(telegram.invoices(USER_ID)) == invoices
    assert balance(database) == 0


async def test_a_banned_user_cannot_pay(
    paying_bot: BotApp, telegram: FakeTelegram, chat: Chat, database: TestDatabase
) -> None:
    invoice = await invoice_for(chat, telegram)
    await Chat(telegram, ADMIN_ID).say(f"/ban {USER_ID}")

    refused = await telegram.pay(USER_ID, invoice.message_id)

    assert (refused.answered, refused.ok) == (True, False)
    assert refused.error_message == texts.payment_refused_banned()
    assert telegram.star_payments() == []


async def test_a_payment_for_no_invoice_of_the_payers_adds_nothing_and_is_reported(
    paying_bot: BotApp, telegram: FakeTelegram, chat: Chat, database: TestDatabase
) -> None:
    """Telegram took Stars the bot never agreed to (it should not happen): no credits; the
    Stars go back when Telegram knows the charge, and the admins hear of it."""
    await chat.say("/start")
    telegram.send_update_message(
        USER_ID,
        successful_payment={
            "currency": "XTR",
            "total_amount": 50,
            "invoice_payload": "not-one-of-ours",
            "telegram_payment_charge_id": "stxNOTOURS",
            "provider_payment_charge_id": "",
        },
    )
    said = await chat.wait_for_text("could not match your payment")
    assert said.rendered == texts.payment_not_matched(False)  # the fake knows no such charge
    await Chat(telegram, ADMIN_ID).wait_for_text("stxNOTOURS")
    assert balance(database) == 0
    assert ledger_rows(database, "purchase") == []


async def test_short_of_credits_a_button_shows_the_packs(
    paying_bot: BotApp, telegram: FakeTelegram, chat: Chat
) -> None:
    card = await chat.card()
    await chat.press(card, "Submit")
    refusal = await chat.wait_for_text("not enough for this task")
    labels = [label for label, _ in telegram.buttons(USER_ID, refusal.message_id)]
    assert labels == [texts.button_buy_credits()]

    await chat.press(refusal, "Buy credits")
    menu = await chat.wait_for_text("Choose a pack")
    assert len(telegram.buttons(USER_ID, menu.message_id)) == 2


async def test_paysupport_terms_and_the_menu(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    await start_bot(**paying(paysupport_text="Write to @shop_help <any time>"))
    support = await chat.say("/paysupport")
    assert support.text == "Write to @shop_help <any time>"  # the operator's text, as written
    terms = await chat.say("/terms")
    assert terms.rendered == texts.terms_default(Prices(10))
    menu = [c["command"] for c in telegram.commands({"type": "all_private_chats"})]
    assert {"buy", "paysupport", "terms"} <= set(menu)
    assert "/buy" in ((await chat.say("/help")).rendered or "")


async def test_with_payments_off_there_is_nothing_to_buy(
    bot: BotApp, telegram: FakeTelegram, chat: Chat
) -> None:
    assert (await chat.say("/buy")).rendered == texts.unknown_command()
    menu = [c["command"] for c in telegram.commands({"type": "all_private_chats"})]
    assert "buy" not in menu


async def test_a_payment_whose_update_was_lost_is_credited_from_telegrams_list_once(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat, database: TestDatabase
) -> None:
    """Telegram took the Stars but the bot never stored the payment (its update died with the
    process): at the next start it is found in getStarTransactions and credited, once."""
    first = await start_bot(**paying())
    paid = await telegram.pay(USER_ID, (await invoice_for(chat, telegram)).message_id)
    await chat.wait_for_text("Thank you!")
    await first.stop()
    with connect(database) as conn:  # as if the update had never been handled
        conn.execute("DELETE FROM ledger")
        conn.execute("UPDATE users SET credits = 0")
        conn.execute("UPDATE invoices SET paid_at = NULL, charge_id = NULL")
        conn.execute("DELETE FROM bot_state WHERE key = 'stars-transactions-read'")

    await start_bot(**paying())
    await telegram.wait_until(
        lambda: sum("Thank you!" in (m.rendered or "") for m in telegram.messages(USER_ID)) == 2,
        what="the payment credited at start",
    )
    assert balance(database) == 10
    assert ledger_rows(database, "purchase") == [(USER_ID, 10, paid.charge_id, 50)]
    # Read again (a second instance, the next round): nothing more.
    await start_bot(**paying())
    await chat.settle()
    assert len(ledger_rows(database, "purchase")) == 1
    assert sum("Thank you!" in (m.rendered or "") for m in telegram.messages(USER_ID)) == 2
