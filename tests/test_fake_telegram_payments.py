"""The fake Bot API's Telegram Stars payments, driven by a real python-telegram-bot `Bot` (and a
tiny `Application`) over loopback HTTP: sendInvoice, the pre-checkout query and its answer, the
successful payment, refunds and the Star transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    SuccessfulPayment,
    TransactionPartnerUser,
    Update,
)
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from tests.fakes.telegram import BOT_USER_ID, TEST_BOT_TOKEN, FakeTelegram

USER = 4242
OTHER_USER = 5151
PAYLOAD = "offer:1"


def make_bot(fake: FakeTelegram) -> Bot:
    return Bot(TEST_BOT_TOKEN, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake) as b:
        yield b


class Poller:
    """getUpdates as a bot does it: each call confirms what the previous one returned."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.offset = 0

    async def next(self) -> Update:
        updates = await self.bot.get_updates(offset=self.offset, limit=1, timeout=5)
        assert updates, "no update within 5 s"
        self.offset = updates[0].update_id + 1
        return updates[0]


async def send_invoice(bot: Bot, chat_id: int = USER, amount: int = 50, **kwargs: Any) -> int:
    message = await bot.send_invoice(
        chat_id,
        "50 credits",
        "Credits for your next videos",
        kwargs.pop("payload", PAYLOAD),
        "XTR",
        [LabeledPrice("50 credits", amount)],
        **kwargs,
    )
    return message.message_id


async def pay_and_answer(
    fake: FakeTelegram, poller: Poller, message_id: int | None, user_id: int = USER, **kwargs: Any
) -> tuple[str, Update]:
    """The user pays, the bot answers ok by getUpdates; returns the charge id and the update
    with successful_payment."""
    task = asyncio.create_task(fake.pay(user_id, message_id, **kwargs))
    query = (await poller.next()).pre_checkout_query
    assert query is not None
    assert await poller.bot.answer_pre_checkout_query(query.id, ok=True)
    result = await task
    assert result.ok
    assert result.charge_id is not None
    update = await poller.next()
    return result.charge_id, update


def queued(fake: FakeTelegram, field: str) -> list[dict[str, Any]]:
    """The messages with `field` (successful_payment, refunded_payment) waiting for the bot."""
    return [u["message"] for u in fake.pending_updates if field in u.get("message", {})]


# ---------------------------------------------------------------------------- sendInvoice


async def test_send_invoice_in_stars(bot: Bot, fake: FakeTelegram) -> None:
    pay_button = InlineKeyboardMarkup([[InlineKeyboardButton("Pay ⭐️50", pay=True)]])
    message = await bot.send_invoice(
        USER,
        "50 credits",
        "Credits for your next videos",
        PAYLOAD,
        "XTR",
        [LabeledPrice("50 credits", 50)],
        provider_token="",
        reply_markup=pay_button,
    )
    invoice = message.invoice
    assert invoice is not None
    assert (invoice.title, invoice.description, invoice.start_parameter) == (
        "50 credits",
        "Credits for your next videos",
        "",
    )
    assert (invoice.currency, invoice.total_amount) == ("XTR", 50)
    assert message.reply_markup == pay_button
    assert message.from_user is not None
    assert message.from_user.id == BOT_USER_ID
    [sent] = fake.invoices(USER)
    assert (sent.message_id, sent.payload, sent.total_amount) == (message.message_id, PAYLOAD, 50)
    assert sent.prices == [{"label": "50 credits", "amount": 50}]
    assert fake.message(USER, message.message_id).kind == "invoice"
    assert fake.invoices(OTHER_USER) == []
    # A payload of exactly 128 bytes is accepted (the limit is in bytes: "é" takes two).
    await send_invoice(bot, payload="é" * 64)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"currency": "USD"}, "PAYMENT_PROVIDER_INVALID"),
        ({"provider_token": "284685063:TEST:abc"}, "STARS_INVOICE_INVALID"),
        (
            {"prices": [LabeledPrice("credits", 40), LabeledPrice("fee", 10)]},
            "STARS_INVOICE_INVALID",
        ),
        ({"max_tip_amount": 5}, "STARS_INVOICE_INVALID"),
        ({"prices": [LabeledPrice("credits", 0)]}, "Total price must be positive"),
        ({"prices": [LabeledPrice("credits", -5)]}, "Total price must be positive"),
        ({"prices": []}, "There must be at least one price"),
        ({"prices": [LabeledPrice("", 5)]}, "label must be non-empty"),
        ({"payload": "x" * 129}, "INVOICE_PAYLOAD_INVALID"),
        ({"payload": "é" * 65}, "INVOICE_PAYLOAD_INVALID"),
        ({"title": "x" * 33}, "invoice title must be 1-32 characters"),
        ({"title": ""}, 'Parameter "title" is required'),
        ({"description": "x" * 256}, "invoice description must be 1-255 characters"),
        (
            {
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("Buy", url="https://x.y")]]
                )
            },
            "REPLY_MARKUP_BUY_EMPTY",
        ),
    ],
)
async def test_send_invoice_refusals(
    bot: Bot, fake: FakeTelegram, kwargs: dict[str, Any], error: str
) -> None:
    args: dict[str, Any] = {
        "chat_id": USER,
        "title": "50 credits",
        "description": "Credits",
        "payload": PAYLOAD,
        "currency": "XTR",
        "prices": [LabeledPrice("50 credits", 50)],
    }
    args |= kwargs
    with pytest.raises(BadRequest) as raised:
        await bot.send_invoice(**args)
    assert error.lower() in raised.value.message.lower()
    assert fake.invoices() == []


async def test_send_invoice_to_a_blocked_user_and_a_bad_amount(
    bot: Bot, fake: FakeTelegram
) -> None:
    fake.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await send_invoice(bot)
    fake.unblock(USER)
    async with httpx.AsyncClient() as client:  # what PTB cannot send: a fractional amount
        r = await client.post(
            f"{fake.url}/bot{TEST_BOT_TOKEN}/sendInvoice",
            json={
                "chat_id": USER,
                "title": "t",
                "description": "d",
                "payload": "p",
                "currency": "XTR",
                "prices": [{"label": "x", "amount": 1.5}],
            },
        )
    assert r.status_code == 400
    assert "must be a valid Number" in r.json()["description"]
    assert fake.invoices() == []


# ---------------------------------------------------------------------------- paying


async def test_full_pay_flow_with_an_application(fake: FakeTelegram) -> None:
    """A tiny PTB Application answers the pre-checkout query; a forged payload is refused, the
    right one paid, and a duplicate delivery reaches the bot with the same charge id."""
    app = (
        Application.builder()
        .token(TEST_BOT_TOKEN)
        .base_url(f"{fake.url}/bot")
        .base_file_url(f"{fake.url}/file/bot")
        .build()
    )
    paid: list[SuccessfulPayment] = []

    async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.pre_checkout_query
        assert query is not None
        if query.invoice_payload == PAYLOAD and query.total_amount == 50:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="This offer is no longer valid.")

    async def successful_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        assert update.message.successful_payment is not None
        paid.append(update.message.successful_payment)

    app.add_handler(PreCheckoutQueryHandler(pre_checkout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, successful_payment))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            message_id = await send_invoice(app.bot)

            forged = await fake.pay(USER, message_id, invoice_payload="offer:999")
            assert (forged.answered, forged.ok, forged.charge_id) == (True, False, None)
            assert forged.error_message == "This offer is no longer valid."
            cheaper = await fake.pay(USER, message_id, total_amount=1)
            assert not cheaper.ok
            assert fake.pre_checkout(cheaper.query_id).error_message is not None

            result = await fake.pay(USER, message_id)
            assert (result.answered, result.ok, result.error_message) == (True, True, None)
            assert result.charge_id is not None
            assert result.charge_id.startswith("stx")
            await fake.wait_until(lambda: len(paid) == 1, what="the successful payment")
            payment = paid[0]
            assert (payment.currency, payment.total_amount, payment.invoice_payload) == (
                "XTR",
                50,
                PAYLOAD,
            )
            assert payment.telegram_payment_charge_id == result.charge_id
            assert payment.provider_payment_charge_id == ""
            [answer] = [
                c
                for c in fake.calls_to("answerPreCheckoutQuery")
                if c.params["pre_checkout_query_id"] == result.query_id
            ]
            assert fake.pre_checkout(result.query_id).answer is answer

            fake.replay_payment(result.charge_id)  # Telegram delivers the same payment again
            await fake.wait_until(lambda: len(paid) == 2, what="the duplicate delivery")
            assert paid[1].telegram_payment_charge_id == result.charge_id
            [recorded] = fake.star_payments(USER)
            assert (recorded.charge_id, recorded.amount, recorded.refunded_at) == (
                result.charge_id,
                50,
                None,
            )
        finally:
            await app.updater.stop()
            await app.stop()


async def test_pre_checkout_query_and_successful_payment_by_get_updates(
    bot: Bot, fake: FakeTelegram
) -> None:
    fake.meet(USER, first_name="Ann", username="ann")
    message_id = await send_invoice(bot)
    poller = Poller(bot)
    task = asyncio.create_task(fake.pay(USER, message_id))
    update = await poller.next()
    query = update.pre_checkout_query
    assert query is not None
    assert (query.currency, query.total_amount, query.invoice_payload) == ("XTR", 50, PAYLOAD)
    assert (query.from_user.id, query.from_user.first_name) == (USER, "Ann")
    assert await bot.answer_pre_checkout_query(query.id, ok=True)
    result = await task
    update = await poller.next()
    message = update.message
    assert message is not None
    assert message.successful_payment is not None
    assert message.chat.id == USER
    assert message.from_user is not None
    assert message.from_user.id == USER
    assert message.successful_payment.telegram_payment_charge_id == result.charge_id
    assert message.message_id in fake.user_message_ids(USER)
    # Two payments never share a charge id.
    other, _ = await pay_and_answer(fake, poller, message_id)
    assert other != result.charge_id


async def test_answer_pre_checkout_query_refusals(bot: Bot, fake: FakeTelegram) -> None:
    message_id = await send_invoice(bot)
    poller = Poller(bot)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_pre_checkout_query("123", ok=True)  # never sent

    task = asyncio.create_task(fake.pay(USER, message_id))
    query = (await poller.next()).pre_checkout_query
    assert query is not None
    with pytest.raises(BadRequest, match='Parameter "error_message" is required'):
        await bot.answer_pre_checkout_query(query.id, ok=False)
    assert await bot.answer_pre_checkout_query(query.id, ok=False, error_message="Sold out")
    with pytest.raises(BadRequest, match="Query is too old"):  # answered twice
        await bot.answer_pre_checkout_query(query.id, ok=True)
    result = await task
    assert (result.answered, result.ok, result.error_message) == (True, False, "Sold out")
    assert result.charge_id is None
    assert queued(fake, "successful_payment") == []  # no payment follows a refusal
    assert fake.star_payments() == []


async def test_an_answer_after_the_deadline_is_too_late(bot: Bot, fake: FakeTelegram) -> None:
    message_id = await send_invoice(bot)
    poller = Poller(bot)
    result = await fake.pay(USER, message_id, timeout=0.2)  # nobody answers in time
    assert (result.answered, result.ok, result.charge_id) == (False, False, None)
    query = (await poller.next()).pre_checkout_query
    assert query is not None
    assert query.id == result.query_id
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_pre_checkout_query(query.id, ok=True)
    assert fake.pre_checkout(query.id).late_answers == 1
    assert fake.pre_checkout(query.id).answer is None
    assert queued(fake, "successful_payment") == []
    assert fake.star_payments() == []


async def test_forged_pre_checkout_query_and_invoice_links(bot: Bot, fake: FakeTelegram) -> None:
    poller = Poller(bot)
    query_id = fake.send_pre_checkout_query(USER, invoice_payload="offer:forged", total_amount=1)
    query = (await poller.next()).pre_checkout_query
    assert query is not None
    assert (query.id, query.invoice_payload, query.total_amount) == (query_id, "offer:forged", 1)
    assert await bot.answer_pre_checkout_query(query.id, ok=False, error_message="No such offer")
    assert fake.pre_checkout(query_id).ok is False
    # An invoice link has no message: pay() then needs the payload and the amount.
    charge_id, update = await pay_and_answer(
        fake, poller, None, invoice_payload="link:7", total_amount=30
    )
    assert update.message is not None
    assert update.message.successful_payment is not None
    assert update.message.successful_payment.invoice_payload == "link:7"
    assert update.message.successful_payment.total_amount == 30
    assert fake.star_payments(USER)[0].charge_id == charge_id
    with pytest.raises(ValueError, match="needs a payload and an amount"):
        await fake.pay(USER, None)
    with pytest.raises(AssertionError, match="no invoice 99"):
        await fake.pay(USER, 99)


# ---------------------------------------------------------------------------- refunds


async def test_refund_star_payment(bot: Bot, fake: FakeTelegram) -> None:
    message_id = await send_invoice(bot)
    poller = Poller(bot)
    charge_id, _ = await pay_and_answer(fake, poller, message_id)

    # PTB shows "Bad Request: CHARGE_NOT_FOUND" as "Charge_not_found": matched ignoring case.
    with pytest.raises(BadRequest, match=r"(?i)CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(OTHER_USER, charge_id)  # not this user's payment
    with pytest.raises(BadRequest, match=r"(?i)CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(USER, "stxNoSuchCharge")
    with pytest.raises(BadRequest, match="Invalid user_id specified"):
        await bot.refund_star_payment(0, charge_id)
    assert await bot.refund_star_payment(USER, charge_id)
    with pytest.raises(BadRequest, match=r"(?i)CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER, charge_id)

    [payment] = fake.star_payments(USER)
    assert payment.refunded_at is not None
    update = await poller.next()  # the service message Telegram sends about the refund
    message = update.message
    assert message is not None
    assert message.refunded_payment is not None
    assert message.from_user is not None
    assert message.from_user.id == BOT_USER_ID
    refunded = message.refunded_payment
    assert (refunded.currency, refunded.total_amount, refunded.invoice_payload) == (
        "XTR",
        50,
        PAYLOAD,
    )
    assert refunded.telegram_payment_charge_id == charge_id
    assert payment.refund_message is not None
    assert payment.refund_message["message_id"] == message.message_id


async def test_refund_without_the_service_message(bot: Bot, fake: FakeTelegram) -> None:
    fake.refund_messages = False
    message_id = await send_invoice(bot)
    charge_id, _ = await pay_and_answer(fake, Poller(bot), message_id)
    assert await bot.refund_star_payment(USER, charge_id)
    assert fake.star_payments(USER)[0].refund_message is None
    assert queued(fake, "refunded_payment") == []


# ---------------------------------------------------------------------------- transactions


async def test_get_star_transactions(bot: Bot, fake: FakeTelegram) -> None:
    assert (await bot.get_star_transactions()).transactions == ()
    fake.meet(OTHER_USER, first_name="Bo")
    poller = Poller(bot)
    first, _ = await pay_and_answer(fake, poller, await send_invoice(bot))
    second, _ = await pay_and_answer(
        fake, poller, await send_invoice(bot, OTHER_USER, 20, payload="offer:2"), OTHER_USER
    )
    assert await bot.refund_star_payment(USER, first)

    transactions = (await bot.get_star_transactions()).transactions
    assert [(t.id, t.amount) for t in transactions] == [(first, 50), (second, 20), (first, 50)]
    incoming, other, refund = transactions
    assert incoming.receiver is None
    assert refund.source is None
    for transaction, user_id, payload in (
        (incoming.source, USER, PAYLOAD),
        (other.source, OTHER_USER, "offer:2"),
        (refund.receiver, USER, PAYLOAD),
    ):
        assert isinstance(transaction, TransactionPartnerUser)
        assert transaction.transaction_type == "invoice_payment"
        assert transaction.user.id == user_id
        assert transaction.invoice_payload == payload
    assert incoming.date.timestamp() <= refund.date.timestamp()

    page = (await bot.get_star_transactions(offset=1, limit=1)).transactions
    assert [t.id for t in page] == [second]
    assert len((await bot.get_star_transactions(limit=500)).transactions) == 3  # at most 100
    assert len((await bot.get_star_transactions(limit=0)).transactions) == 1  # at least 1
    assert (await bot.get_star_transactions(offset=3)).transactions == ()
