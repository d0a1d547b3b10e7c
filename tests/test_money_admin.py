"""The admins' side of payments (PAYMENTS=stars), end to end through the fake Telegram: /refund
(the credits removed first, then refundStarPayment; Telegram's refusal puts them back; no answer
leaves them removed until /refund again finishes it), /grant and removals, /payments, the
balance and movements in /user, the money lines of /stats, /reconcile against
getStarTransactions, and the Charge / Return buttons under /task of a task whose outcome is
unknown. Refusals too: spent credits, an unknown charge id, a second refund, a removal beyond
the balance, a non-admin's press, payments off."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from bot.domain.money import Purchase, RefundState, StarTransfer
from bot.domain.records import TaskState
from bot.services.money import compare, signed_credits
from bot.texts import i18n
from storage.db import Database
from storage.ledger import LedgerRepository
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, OTHER_USER_ID, PROMPT, USER_ID, Chat

PAYMENTS: dict[str, Any] = {
    "payments": "stars",
    "credit_packs": "10:50,50:225",
    "task_price": 10,
}

StartBot = Callable[..., Awaitable[BotApp]]


@pytest.fixture
async def db(database: TestDatabase) -> AsyncIterator[Database]:
    """The bot's database, from the test's own connection."""
    opened = await Database.open(database.target, pool_size=2)
    yield opened
    await opened.close()


@pytest.fixture
def ledger(db: Database) -> LedgerRepository:
    return LedgerRepository(db)


@pytest.fixture
def admin(telegram: FakeTelegram) -> Chat:
    return Chat(telegram, ADMIN_ID)


async def buy(chat: Chat, telegram: FakeTelegram, pack: str = "10 credits") -> str:
    """The user buys a pack with /buy and pays its invoice; the payment's charge id."""
    menu = await chat.say("/buy")
    before = len(telegram.invoices(chat.user_id))
    await chat.press(menu, pack)
    await telegram.wait_until(
        lambda: len(telegram.invoices(chat.user_id)) > before, what="the invoice"
    )
    invoice = telegram.invoices(chat.user_id)[-1]
    thanked = len([m for m in telegram.messages(chat.user_id) if "Thank you" in (m.text or "")])
    paid = await telegram.pay(chat.user_id, invoice.message_id)
    assert paid.ok
    assert paid.charge_id is not None
    await telegram.wait_until(
        lambda: (
            len([m for m in telegram.messages(chat.user_id) if "Thank you" in (m.text or "")])
            > thanked
        ),
        what="the payment credited",
    )
    return paid.charge_id


def rows(database: TestDatabase, kind: str) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT user_id, credits, charge_id, stars, admin_id, task_id FROM ledger "
                "WHERE kind = ? ORDER BY id",
                (kind,),
            ).fetchall()
        ]


async def said(chat: Chat, text: str) -> str:
    return (await chat.say(text)).rendered or ""


# ---------------------------------------------------------------------------------- /refund


async def test_a_refund_returns_the_stars_and_removes_the_credits_once(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    await start_bot(**PAYMENTS)
    charge_id = await buy(chat, telegram)
    assert await ledger.balance(USER_ID) == 10

    listed = await said(admin, "/payments")
    assert charge_id in listed
    assert "@tester" in listed
    assert "refunded" not in listed

    reply = await said(admin, f"/refund {charge_id} asked nicely")
    assert reply.startswith("↩️ Refunded: 50 Stars returned to 1001 @tester, and 10 credits")
    assert "They were told." in reply
    (payment,) = telegram.star_payments(USER_ID)
    assert payment.refunded_at is not None
    assert rows(database, "star_refund") == [(USER_ID, -10, charge_id, 50, ADMIN_ID, None)]
    assert await ledger.balance(USER_ID) == 0
    told = await chat.wait_for_text("were returned to you")
    assert told.text == texts.money_user_refunded(50, 10, 0)

    # Twice: Telegram says it was refunded already, and nothing moves again.
    again = await said(admin, f"/refund {charge_id}")
    assert again.startswith("This payment was refunded already (")
    assert f"by {ADMIN_ID}" in again
    assert len(rows(database, "star_refund")) == 1
    assert await ledger.balance(USER_ID) == 0
    assert "refunded" in await said(admin, "/payments")

    user_info = await said(admin, f"/user {USER_ID}")
    assert "💰 Balance: 0 credits" in user_info
    assert f"-10 · refunded in Stars · {charge_id} · ⭐50 · asked nicely" in user_info
    assert f"+10 · bought · {charge_id} · ⭐50" in user_info

    assert (await said(admin, "/reconcile")).startswith(
        "✅ The ledger matches Telegram (1 payment and 1 refund at Telegram)"
    )
    assert await ledger.mismatches() == []


async def test_the_user_is_told_of_the_refund_in_their_language(
    start_bot: StartBot, telegram: FakeTelegram, admin: Chat, ledger: LedgerRepository
) -> None:
    await start_bot(**PAYMENTS)
    await Chat(telegram, USER_ID, language_code="ru").say("/start")
    charge_id = telegram.add_star_payment(USER_ID, 50)
    assert await ledger.credit_purchase(USER_ID, charge_id, 10, 50, time.time())

    assert (await said(admin, f"/refund {charge_id}")).startswith("↩️ Refunded")
    with i18n.speaking("ru"):
        told = texts.money_user_refunded(50, 10, 0)
    await telegram.wait_until(
        lambda: any(m.text == told for m in telegram.messages(USER_ID)),
        what="the refund told in Russian",
    )


async def test_a_refund_is_refused_when_the_credits_were_spent_or_the_id_is_unknown(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    await start_bot(**PAYMENTS)
    charge_id = await buy(chat, telegram)
    assert (await said(admin, "/grant @tester -3 spent in a test")).startswith("➖ 3 credits")

    reply = await said(admin, f"/refund {charge_id}")
    assert reply.startswith("Not refunded: this purchase gave 1001 @tester 10 credits for 50")
    assert "balance is only 7 credits" in reply
    assert telegram.star_payments(USER_ID)[0].refunded_at is None
    assert rows(database, "star_refund") == []
    assert await ledger.balance(USER_ID) == 7

    unknown = await said(admin, "/refund stxNoSuchCharge")
    assert (
        unknown
        == "No purchase was paid with the charge id stxNoSuchCharge. The ids are in /payments."
    )
    assert (await said(admin, "/refund")) == texts.admin_usage("refund")
    assert not [c for c in telegram.calls if c.method == "refundStarPayment"]

    # Given back what was spent, the purchase can be refunded.
    await said(admin, "/grant @tester 3 to refund it")
    assert (await said(admin, f"/refund {charge_id}")).startswith("↩️ Refunded")
    assert await ledger.balance(USER_ID) == 0
    assert await ledger.mismatches() == []


async def test_telegram_refusing_a_refund_puts_the_credits_back(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """A purchase in the ledger that Telegram does not know: CHARGE_NOT_FOUND."""
    await start_bot(**PAYMENTS)
    await chat.say("/start")
    assert await ledger.credit_purchase(USER_ID, "stxNotAtTelegram", 10, 50, time.time())

    reply = await said(admin, "/refund stxNotAtTelegram")
    assert reply.startswith("Telegram refused the refund (")
    assert "charge_not_found" in reply.lower()
    assert reply.endswith("the 10 credits are back on the balance (now 10 credits).")
    assert await ledger.balance(USER_ID) == 10
    assert [r[:4] for r in rows(database, "star_refund")] == [
        (USER_ID, -10, "stxNotAtTelegram", 50)
    ]
    assert [r[:4] for r in rows(database, "refund_refused")] == [
        (USER_ID, 10, "stxNotAtTelegram", 50)
    ]
    assert await said(admin, "/refund stxNotAtTelegram") == texts.money_refund_was_refused(
        Purchase("stxNotAtTelegram", USER_ID, None, 10, 50, 0.0)
    )
    assert len(rows(database, "refund_refused")) == 1
    assert "refund refused" in await said(admin, "/payments")
    assert await ledger.balance(USER_ID) == 10
    assert await ledger.mismatches() == []
    assert not [m for m in telegram.messages(USER_ID) if "returned to you" in (m.text or "")]


async def test_no_answer_keeps_the_credits_removed_until_refund_again_finishes(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """As a crash between removing the credits and asking Telegram would leave it: the user's
    credits are gone, the Stars not yet returned, /reconcile says so, /refund again ends it."""
    await start_bot(**PAYMENTS)
    charge_id = await buy(chat, telegram)
    telegram.fail_next("refundStarPayment", error_code=500, description="Internal Server Error")

    reply = await said(admin, f"/refund {charge_id}")
    assert reply.startswith("Telegram did not answer (")
    assert f"send /refund {charge_id} again" in reply
    assert await ledger.balance(USER_ID) == 0
    assert telegram.star_payments(USER_ID)[0].refunded_at is None

    reconciled = await said(admin, "/reconcile")
    assert "the credits were removed for a refund Telegram has not made" in reconciled
    assert charge_id in reconciled

    finished = await said(admin, f"/refund {charge_id}")
    assert finished.startswith("↩️ Refunded: 50 Stars returned to 1001 @tester")
    assert telegram.star_payments(USER_ID)[0].refunded_at is not None
    await chat.wait_for_text("were returned to you")
    assert len(rows(database, "star_refund")) == 1
    assert await ledger.balance(USER_ID) == 0
    assert (await said(admin, "/reconcile")).startswith("✅")


async def test_stars_refunded_outside_the_bot_remove_the_credits_and_are_reported(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """Telegram's refunded_payment for a refund the bot did not make (another copy of the bot,
    the operator's own script): the purchase's credits are removed (a `star_refund` row, once)
    and the admins told; the same message again changes nothing and says nothing."""
    await start_bot(**PAYMENTS)
    charge_id = await buy(chat, telegram)

    telegram.refund_star_payment_outside(charge_id, tell_bot=True)
    report = await admin.wait_for_text("was refunded outside the bot")
    assert charge_id in (report.rendered or "")
    assert "Its 10 credits were removed from their balance (now 0 credits)." in (
        report.rendered or ""
    )
    assert await ledger.balance(USER_ID) == 0
    assert rows(database, "star_refund") == [(USER_ID, -10, charge_id, 50, None, None)]

    (payment,) = telegram.star_payments(USER_ID)
    assert payment.refund_message is not None
    telegram.inject_update({"message": payment.refund_message})  # delivered again
    await chat.settle()
    reports = [m for m in telegram.messages(ADMIN_ID) if charge_id in (m.rendered or "")]
    assert len(reports) == 1
    assert len(rows(database, "star_refund")) == 1
    assert (await said(admin, "/reconcile")).startswith("✅ The ledger matches Telegram")
    assert await ledger.mismatches() == []


async def test_stars_refunded_outside_the_bot_remove_only_what_the_balance_has(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """The balance never goes below zero: what is left of the purchase is removed, and the
    admins hear how much could not be."""
    await start_bot(**PAYMENTS)
    charge_id = await buy(chat, telegram)
    assert (await said(admin, "/grant @tester -4 spent in a test")).startswith("➖ 4 credits")

    telegram.refund_star_payment_outside(charge_id, tell_bot=True)
    report = await admin.wait_for_text("was refunded outside the bot")
    assert "Only 6 credits of its 10 credits could be removed" in (report.rendered or "")
    assert await ledger.balance(USER_ID) == 0
    assert rows(database, "star_refund") == [(USER_ID, -6, charge_id, 50, None, None)]
    assert await ledger.mismatches() == []


async def test_a_refund_the_ledger_has_says_nothing_more_when_telegram_tells_of_it(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """/refund writes its `star_refund` row before asking Telegram: the refunded_payment that
    follows finds it, and the admin hears only /refund's own reply."""
    await start_bot(**PAYMENTS)
    charge_id = await buy(chat, telegram)
    assert (await said(admin, f"/refund {charge_id}")).startswith("↩️ Refunded")
    (payment,) = telegram.star_payments(USER_ID)
    assert payment.refund_message is not None  # queued for the bot
    await chat.wait_for_text("were returned to you")
    await chat.settle()
    await admin.settle()
    assert not [m for m in telegram.messages(ADMIN_ID) if "outside the bot" in (m.rendered or "")]
    assert len(rows(database, "star_refund")) == 1
    assert await ledger.balance(USER_ID) == 0


# ----------------------------------------------------------------------------------- /grant


async def test_grants_and_removals_with_a_reason_never_below_zero(
    start_bot: StartBot,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    await start_bot(**PAYMENTS)
    await chat.say("/start")

    given = await said(admin, "/grant @tester 5 welcome bonus")
    assert (
        given == "➕ 5 credits given to Test 1001 @tester (welcome bonus). Balance now: 5 credits."
    )
    refused = await said(admin, f"/grant {USER_ID} -6 too many")
    assert refused.startswith("Not taken: Test 1001 @tester has only 5 credits")
    assert await ledger.balance(USER_ID) == 5
    taken = await said(admin, f"/grant {USER_ID} -5 mistake")
    assert taken.endswith("(mistake). Balance now: 0 credits.")
    assert [(r[0], r[1], r[4]) for r in rows(database, "grant")] == [
        (USER_ID, 5, ADMIN_ID),
        (USER_ID, -5, ADMIN_ID),
    ]
    with connect(database) as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM ledger ORDER BY id")]
    assert reasons == ["welcome bonus", "mistake"]

    usage = texts.admin_usage("grant")
    for wrong in (
        "/grant",
        f"/grant {USER_ID} 5",
        f"/grant {USER_ID} 0 x",
        f"/grant {USER_ID} 1.5 x",
    ):
        assert await said(admin, wrong) == usage, wrong
    assert await said(admin, f"/grant {USER_ID} ５ x") == usage  # ASCII digits only
    assert (await said(admin, "/grant @nobody 5 x")).startswith("I don't know a user @nobody")
    # An id that has not written yet can be given credits ahead.
    assert (await said(admin, f"/grant {OTHER_USER_ID} 7 prepaid")).endswith("7 credits.")
    assert await ledger.balance(OTHER_USER_ID) == 7
    assert await ledger.mismatches() == []


def test_signed_credits() -> None:
    assert [signed_credits(t) for t in ("10", "+10", "-10", " 3 ")] == [10, 10, -10, 3]
    for wrong in ("0", "-0", "x", "1e3", "--1", "١٢", "", "1000001", "9" * 20):
        assert signed_credits(wrong) is None, wrong


# ------------------------------------------------------------------- /payments, /stats, /user


async def test_payments_stats_and_user_show_the_money(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
) -> None:
    await start_bot(**PAYMENTS)
    first = await buy(chat, telegram)
    second = await buy(chat, telegram, "50 credits")
    await said(admin, "/grant @tester 5 bonus")
    await said(admin, f"/grant {USER_ID} -2 fix")
    await said(admin, f"/refund {first}")

    newest = await said(admin, "/payments 1")
    assert second in newest
    assert first not in newest
    both = await said(admin, "/payments")
    assert both.index(second) < both.index(first)  # newest first
    assert "50 credits · ⭐225" in both
    for wrong in ("/payments 0", "/payments 31", "/payments x", "/payments 1 2"):
        assert await said(admin, wrong) == texts.admin_usage("payments"), wrong

    stats = await said(admin, "/stats")
    assert "Payments (24 h / 7 d / all):" in stats
    assert "Purchases: 2 / 2 / 2 · Stars received: 275 / 275 / 275" in stats
    assert "Stars refunded: 50 / 50 / 50 · their credits removed: 10 / 10 / 10" in stats
    assert "Credits sold: 60 / 60 / 60 · spent: 0 / 0 / 0 · returned: 0 / 0 / 0" in stats
    assert "Credits given by admins: 5 / 5 / 5 · taken: 2 / 2 / 2" in stats
    assert "Now: 0 credits held by 0 tasks · 53 credits in balances" in stats
    assert "Credits at KIE.ai" in stats  # the provider's, as before

    user_info = await said(admin, f"/user {USER_ID}")
    assert "💰 Balance: 53 credits" in user_info
    assert user_info.index("refunded in Stars") < user_info.index("· fix ·")
    assert await ledger.balance(USER_ID) == 53


# ------------------------------------------------------------------------------- /reconcile


async def test_reconcile_reports_each_kind_of_difference(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    db: Database,
    ledger: LedgerRepository,
) -> None:
    await start_bot(**PAYMENTS)
    fine = await buy(chat, telegram)
    refunded_elsewhere = await buy(chat, telegram)
    telegram.refund_star_payment_outside(refunded_elsewhere)
    never_stored = telegram.add_star_payment(USER_ID, 225)
    cheaper = telegram.add_star_payment(USER_ID, 40)
    assert await ledger.credit_purchase(USER_ID, cheaper, 10, 50, time.time())
    assert await ledger.credit_purchase(USER_ID, "stxOnlyInTheLedger", 10, 50, time.time())
    # A balance written around the ledger.
    await db.execute("UPDATE users SET credits = credits + 1 WHERE id = ?", (USER_ID,))

    report = await said(admin, "/reconcile")
    assert report.startswith("🧾 Reconciliation (4 payments and 1 refund at Telegram):")
    assert (
        f"• {never_stored} (user {USER_ID}): paid 225 Stars at Telegram, never credited" in report
    )
    assert f"• stxOnlyInTheLedger (user {USER_ID}): credited in the ledger for 50 Stars" in report
    assert f"• {cheaper} (user {USER_ID}): 50 Stars in the ledger, 40 Stars at Telegram." in report
    assert f"• {refunded_elsewhere} (user {USER_ID}): 50 Stars refunded at Telegram" in report
    assert fine not in report
    assert f"• user {USER_ID}: balance 41, movements 40" in report


def test_compare_leaves_out_what_it_cannot_judge() -> None:
    """A payment Telegram refunded that the ledger never credited (one the bot could not
    match) is no difference; without the whole list, neither is a purchase not listed."""
    transfers = [
        StarTransfer("a", USER_ID, 50, 1.0, refund=False),
        StarTransfer("a", USER_ID, 50, 2.0, refund=True),
        StarTransfer("b", USER_ID, 50, 3.0, refund=False),
    ]
    purchases = [
        Purchase("b", OTHER_USER_ID, None, 10, 50, 3.0),
        Purchase("c", USER_ID, None, 10, 50, 4.0, RefundState.REFUNDED, 5.0, ADMIN_ID),
    ]
    partial = compare(transfers, purchases, complete=False)
    assert [(d.gap, d.charge_id) for d in partial.differences] == [("user", "b")]
    whole = compare(transfers, purchases, complete=True)
    assert [(d.gap, d.charge_id) for d in whole.differences] == [
        ("not_at_telegram", "c"),
        ("user", "b"),
    ]
    assert (whole.payments, whole.refunds) == (2, 1)


async def test_reconcile_pages_through_every_transaction(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
) -> None:
    await start_bot(**PAYMENTS)
    await chat.say("/start")
    for n in range(230):
        charge_id = telegram.add_star_payment(USER_ID, 50, date=1_700_000_000 + n)
        assert await ledger.credit_purchase(USER_ID, charge_id, 10, 50, time.time())
    before = len(telegram.calls)  # the look for lost payments at start reads the list too
    assert (await said(admin, "/reconcile")).startswith(
        "✅ The ledger matches Telegram (230 payments and 0 refunds"
    )
    offsets = [
        c.params.get("offset") for c in telegram.calls[before:] if c.method == "getStarTransactions"
    ]
    assert offsets == [0, 100, 200]


# ------------------------------------------------------------- /task: outcome unknown, decided


async def unknown_task(
    start_bot: StartBot, telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    """Task 1 of USER_ID, priced 10 and held: its submit got no answer."""
    await start_bot(**PAYMENTS, provider_timeout_seconds=0.5)
    await chat.say("/start")
    await said(admin, f"/grant {USER_ID} 10 for a task")
    kie.hang_next_generate(3.0, accept=True)
    card = await chat.card(f"https://v.example.com/clip.mp4 {PROMPT}")
    await chat.press(card, "Submit")
    await chat.wait_for_text("charging you twice")
    await admin.wait_for_text("may or may not be running")


@pytest.mark.parametrize("decision", ["Charge", "Return"])
async def test_an_admin_settles_a_held_price_once_with_the_task_buttons(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    admin: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
    decision: str,
) -> None:
    await unknown_task(start_bot, telegram, kie, chat, admin)
    shown = await admin.say("/task 1")
    assert "State: " + texts.state_label(TaskState.UNKNOWN) in (shown.rendered or "")
    assert "💳 Price: 10 credits, held (not charged, not returned)" in (shown.rendered or "")
    labels = [label for label, _ in telegram.buttons(ADMIN_ID, shown.message_id)]
    assert labels == ["💳 Charge 10 credits", "↩️ Return 10 credits"]
    data = admin.button_data(shown, decision)

    # Anyone can send any button data: a user's forged press settles nothing.
    card = telegram.messages(USER_ID)[-1]
    assert await chat.press_data(card.message_id, data) == texts.toast_card_gone()
    reservation = await ledger.reservation(1)
    assert reservation is not None
    assert reservation.held

    charge = decision == "Charge"
    assert await admin.press(shown, decision) == texts.toast_money_settled(charge)
    edited = telegram.message(ADMIN_ID, shown.message_id)
    assert telegram.buttons(ADMIN_ID, shown.message_id) == []
    state = "charged" if charge else "returned to the balance"
    assert f"💳 Price: 10 credits, {state}" in (edited.rendered or "")
    assert f"Task #1: its price (10 credits) is {'charged' if charge else 'returned'}" in (
        edited.rendered or ""
    )
    kind = "charge" if charge else "release"
    assert [(r[4], r[5]) for r in rows(database, kind)] == [(ADMIN_ID, 1)]
    assert await ledger.balance(USER_ID) == (0 if charge else 10)

    # A second press (or a second admin's) changes nothing.
    expected = "Settled already: charged." if charge else "Settled already: returned."
    assert await admin.press_data(shown.message_id, data) == expected
    other = "price:1:return" if charge else "price:1:charge"
    assert await admin.press_data(shown.message_id, other) == expected
    assert len(rows(database, "charge")) == (1 if charge else 0)
    assert len(rows(database, "release")) == (0 if charge else 1)
    assert await ledger.balance(USER_ID) == (0 if charge else 10)
    assert await ledger.mismatches() == []

    # /task now shows the price's state, without buttons.
    again = await admin.say("/task 1")
    assert f"💳 Price: 10 credits, {state}" in (again.rendered or "")
    assert telegram.buttons(ADMIN_ID, again.message_id) == []


async def test_task_shows_the_price_of_an_ordinary_task_and_no_buttons(
    start_bot: StartBot, telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    await start_bot(**PAYMENTS)
    await chat.say("/start")
    await said(admin, f"/grant {USER_ID} 10 for a task")
    await chat.press(await chat.card(), "Submit")
    (job,) = await kie.wait_for_task()
    kie.complete(job.task_id, success_flag=1)
    await telegram.wait_for("sendVideo")
    shown = await admin.say("/task 1")
    assert "💳 Price: 10 credits, charged" in (shown.rendered or "")
    assert telegram.buttons(ADMIN_ID, shown.message_id) == []
    # A task that is not of unknown outcome is not settled by a (forged) press.
    assert await admin.press_data(shown.message_id, "price:1:return") == (
        "Settled already: charged."
    )


# --------------------------------------------------------------------------------- payments off


async def test_the_admins_menu_has_the_money_commands_only_with_payments_on(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    await start_bot(**PAYMENTS)
    menu = {c["command"] for c in telegram.commands({"type": "chat", "chat_id": ADMIN_ID})}
    assert {"refund", "grant", "payments", "reconcile", "stats"} <= menu


async def test_with_payments_off_the_money_commands_say_so(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, admin: Chat
) -> None:
    off = texts.money_payments_off()
    for command in ("/refund stx1", f"/grant {USER_ID} 5 x", "/payments", "/reconcile"):
        assert await said(admin, command) == off, command
    assert await said(admin, "/refund") == texts.admin_usage("refund")  # usage first
    assert "Payments" not in await said(admin, "/stats")
    assert "Balance" not in await said(admin, f"/user {USER_ID}")
    await chat.press(await chat.card(), "Submit")
    await kie.wait_for_task()
    shown = await admin.say("/task 1")
    assert "Price" not in (shown.rendered or "")
    assert await admin.press_data(shown.message_id, "price:1:return") == texts.toast_card_gone()
    # Not admins: the commands do not exist for them.
    assert await said(chat, "/grant 1001 5 x") != off
    assert not [
        c for c in telegram.calls if c.method in ("refundStarPayment", "getStarTransactions")
    ]
