"""Telegram Stars payments. The Bot API side: sendInvoice, answerPreCheckoutQuery,
refundStarPayment and getStarTransactions, checked as Telegram checks a Stars invoice. The user's
side, for tests: pay an invoice (a pre_checkout_query, the bot's answer within 10 s, then a
message with successful_payment), deliver a payment again, or send a forged pre-checkout query.

Wording of the errors: "query is too old ...", 'Parameter "x" is required', "Invalid user_id
specified", "There must be at least one price", "Total price must be positive" are the Bot API
server's own; STARS_INVOICE_INVALID, PAYMENT_PROVIDER_INVALID, INVOICE_PAYLOAD_INVALID,
REPLY_MARKUP_BUY_EMPTY and CHARGE_ALREADY_REFUNDED are Telegram's documented errors;
CHARGE_NOT_FOUND and the title and description lengths are the fake's wording (Telegram
documents no error for them)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram.messages import MessageMethods
from tests.fakes.telegram.params import _chat_id, _flag, _message_markup
from tests.fakes.telegram.protocol import (
    BOT_USER,
    MAX_INVOICE_DESCRIPTION,
    MAX_INVOICE_PAYLOAD_BYTES,
    MAX_INVOICE_TITLE,
    PRE_CHECKOUT_TIMEOUT,
    QUERY_INVALID,
    STARS,
    _bad,
)
from tests.fakes.telegram.state import Call, _Signal
from tests.fakes.telegram.updates import UpdateQueue


@dataclass
class SentInvoice:
    """An invoice the bot sent with sendInvoice (the message shows it as `invoice`)."""

    chat_id: int
    message_id: int
    title: str
    description: str
    payload: str
    currency: str
    total_amount: int
    prices: list[dict[str, Any]]
    start_parameter: str = ""


@dataclass
class PreCheckout:
    """A pre_checkout_query the fake sent the bot, and the bot's answer to it."""

    id: str
    user_id: int
    currency: str
    total_amount: int
    invoice_payload: str
    deadline: float  # time.monotonic() after which an answer is too late
    answer: Call | None = None  # the answerPreCheckoutQuery call accepted
    ok: bool | None = None
    error_message: str | None = None
    late_answers: int = 0  # answers refused because they came after the deadline

    def as_dict(self, user: dict[str, Any]) -> dict[str, Any]:
        """The Bot API PreCheckoutQuery object, `from` being `user`."""
        return {
            "id": self.id,
            "from": user,
            "currency": self.currency,
            "total_amount": self.total_amount,
            "invoice_payload": self.invoice_payload,
        }


@dataclass
class StarPayment:
    """A payment in Stars the bot received (and whether it was refunded)."""

    charge_id: str  # telegram_payment_charge_id
    user_id: int
    amount: int
    invoice_payload: str
    date: int
    message: dict[str, Any]  # the user's message with successful_payment
    refunded_at: int | None = None
    refund_message: dict[str, Any] | None = None  # the message with refunded_payment, if sent


@dataclass(frozen=True)
class PaymentResult:
    """How a pay() went: answered in time or not, paid or refused, and the charge id."""

    query_id: str
    answered: bool  # the bot answered the pre-checkout query in time
    ok: bool  # it answered ok=True: the payment went through
    error_message: str | None  # what the bot told the user when it refused
    charge_id: str | None  # telegram_payment_charge_id of the payment, when it went through
    update_id: int | None  # of the message with successful_payment


@dataclass(frozen=True)
class _StarTransaction:
    id: str
    amount: int
    date: int
    direction: str  # "source" (a payment in) or "receiver" (a refund out)
    user_id: int
    invoice_payload: str


class PaymentMethods(UpdateQueue, MessageMethods):
    """The Bot API's payment methods and the Stars the fake's bot received and refunded."""

    def __init__(self) -> None:
        super().__init__()
        self.refund_messages = True  # queue a message with refunded_payment after a refund
        self._invoices: list[SentInvoice] = []
        self._pre_checkouts: dict[str, PreCheckout] = {}
        self._next_pre_checkout = 1
        self._star_payments: dict[str, StarPayment] = {}
        self._star_transactions: list[_StarTransaction] = []  # in the order they happened
        self._payments_signal = _Signal()

    # ------------------------------------------------------------------ Bot API methods

    def _send_invoice(self, call: Call) -> dict[str, Any]:
        """An invoice message in Telegram Stars (the only currency the fake knows)."""
        params = call.params
        chat_id = _chat_id(params)
        title = _required(params, "title")
        description = _required(params, "description")
        payload = _required(params, "payload")
        currency = _required(params, "currency")
        prices = _prices(params)
        total = sum(int(price["amount"]) for price in prices)
        if total <= 0:
            raise _bad("Total price must be positive")
        if len(title) > MAX_INVOICE_TITLE:
            raise _bad(f"invoice title must be 1-{MAX_INVOICE_TITLE} characters")
        if len(description) > MAX_INVOICE_DESCRIPTION:
            raise _bad(f"invoice description must be 1-{MAX_INVOICE_DESCRIPTION} characters")
        if len(payload.encode()) > MAX_INVOICE_PAYLOAD_BYTES:
            raise _bad("INVOICE_PAYLOAD_INVALID")
        provider_token = params.get("provider_token") or ""
        if currency != STARS:  # the fake has no payment provider: every token is invalid to it
            raise _bad("PAYMENT_PROVIDER_INVALID")
        tips = params.get("max_tip_amount") not in (None, 0, "0", "") or bool(
            params.get("suggested_tip_amounts")
        )
        if provider_token or len(prices) != 1 or tips:
            raise _bad("STARS_INVOICE_INVALID")
        markup = _message_markup(params)
        if markup is not None:  # its first button must be the Pay button
            buttons: list[dict[str, Any]] = [b for row in markup["inline_keyboard"] for b in row]
            if not buttons[0].get("pay"):
                raise _bad("REPLY_MARKUP_BUY_EMPTY")
        reply_to = self._reply_target(chat_id, params)
        start_parameter = str(params.get("start_parameter") or "")
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": start_parameter,
            "currency": currency,
            "total_amount": total,
        }
        message = self._store_new(
            chat_id,
            "invoice",
            None,
            None,
            markup,
            reply_to,
            text=None,
            caption=None,
            file=None,
            media=invoice,
        )
        self._invoices.append(
            SentInvoice(
                chat_id,
                int(message["message_id"]),
                title,
                description,
                payload,
                currency,
                total,
                prices,
                start_parameter,
            )
        )
        return message

    def _answer_pre_checkout_query(self, call: Call) -> bool:
        """Accept the bot's first answer within the time limit; refuse any other."""
        params = call.params
        ok = _flag(params, "ok")
        error_message = params.get("error_message")
        if not ok and not (isinstance(error_message, str) and error_message):
            raise _bad('Parameter "error_message" is required')
        query = self._pre_checkouts.get(str(params.get("pre_checkout_query_id", "")))
        if query is None or query.answer is not None:
            raise _bad(QUERY_INVALID)
        if time.monotonic() > query.deadline:
            query.late_answers += 1
            raise _bad(QUERY_INVALID)
        query.answer, query.ok = call, ok
        query.error_message = None if ok else str(error_message)
        self._payments_signal.notify()
        return True

    def _refund_star_payment(self, call: Call) -> bool:
        """Give a user back the Stars of a payment of theirs, once."""
        user_id = call.params.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
            raise _bad("Invalid user_id specified")
        charge_id = call.params.get("telegram_payment_charge_id")
        if not isinstance(charge_id, str) or not charge_id:
            raise _bad('Parameter "telegram_payment_charge_id" is required')
        payment = self._star_payments.get(charge_id)
        if payment is None or payment.user_id != user_id:
            raise _bad("CHARGE_NOT_FOUND")
        if payment.refunded_at is not None:
            raise _bad("CHARGE_ALREADY_REFUNDED")
        payment.refunded_at = int(time.time())
        self._star_transactions.append(
            _StarTransaction(
                charge_id,
                payment.amount,
                payment.refunded_at,
                "receiver",
                user_id,
                payment.invoice_payload,
            )
        )
        if self.refund_messages:
            payment.refund_message = self._queue_refund_message(payment)
        return True

    def _get_star_transactions(self, call: Call) -> dict[str, Any]:
        """StarTransactions: the payments in and the refunds out, oldest first (the docs:
        "in chronological order"); `offset` transactions skipped, at most `limit` (1-100)."""
        offset = call.params.get("offset", 0)
        offset = max(offset, 0) if isinstance(offset, int) else 0
        limit = call.params.get("limit", 100)
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        chosen = self._star_transactions[offset : offset + limit]
        return {"transactions": [self._transaction_dict(t) for t in chosen]}

    # ------------------------------------------------------------------ the objects

    def _transaction_dict(self, transaction: _StarTransaction) -> dict[str, Any]:
        partner: dict[str, Any] = {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": self._user(transaction.user_id).as_dict(),
        }
        if transaction.invoice_payload:
            partner["invoice_payload"] = transaction.invoice_payload
        return {
            "id": transaction.id,
            "amount": transaction.amount,
            "date": transaction.date,
            transaction.direction: partner,
        }

    def _queue_refund_message(self, payment: StarPayment) -> dict[str, Any]:
        """The bot's service message about the refund, which the Bot API delivers to the bot."""
        chat = self._chat(payment.user_id)
        message: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "date": payment.refunded_at,
            "chat": self._chat_dict(payment.user_id),
            "from": dict(BOT_USER),
            "refunded_payment": {
                "currency": STARS,
                "total_amount": payment.amount,
                "invoice_payload": payment.invoice_payload,
                "telegram_payment_charge_id": payment.charge_id,
            },
        }
        chat.next_message_id += 1
        self._enqueue({"message": message})
        return message

    def _record_payment(self, query: PreCheckout) -> tuple[StarPayment, int]:
        """The payment a pre-checkout query answered ok makes: the user's message with
        successful_payment, queued for the bot; returns it with the update_id."""
        charge_id = _new_charge_id(self._star_payments)
        chat = self._chat(query.user_id)
        now = int(time.time())
        message: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "date": now,
            "chat": self._chat_dict(query.user_id),
            "from": self._user(query.user_id).as_dict(),
            "successful_payment": {
                "currency": query.currency,
                "total_amount": query.total_amount,
                "invoice_payload": query.invoice_payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": "",
            },
        }
        chat.received[message["message_id"]] = message
        chat.next_message_id += 1
        payment = StarPayment(
            charge_id, query.user_id, query.total_amount, query.invoice_payload, now, message
        )
        self._star_payments[charge_id] = payment
        self._star_transactions.append(
            _StarTransaction(
                charge_id, query.total_amount, now, "source", query.user_id, query.invoice_payload
            )
        )
        return payment, self._enqueue({"message": message})


class PaymentActions(PaymentMethods):
    """The user's side of a payment, and what a test reads of the bot's invoices and Stars."""

    def invoices(self, chat_id: int | None = None) -> list[SentInvoice]:
        """The invoices the bot sent (to `chat_id` only, if given), oldest first."""
        return [i for i in self._invoices if chat_id is None or i.chat_id == chat_id]

    def star_payments(self, user_id: int | None = None) -> list[StarPayment]:
        """The payments the bot received (from `user_id` only, if given), oldest first."""
        return [p for p in self._star_payments.values() if user_id is None or p.user_id == user_id]

    def pre_checkout(self, query_id: str) -> PreCheckout:
        """A pre-checkout query the fake sent, with the bot's answer (KeyError if unknown)."""
        return self._pre_checkouts[query_id]

    def send_pre_checkout_query(
        self,
        user_id: int,
        *,
        invoice_payload: str,
        total_amount: int,
        currency: str = STARS,
        timeout: float = PRE_CHECKOUT_TIMEOUT,
    ) -> str:
        """Queue a pre_checkout_query from the user with any payload and amount (forged ones
        included), to be answered within `timeout` seconds; returns its id. No payment follows
        it: pay() is the whole flow."""
        query_id = f"{user_id}{self._next_pre_checkout:07d}"
        self._next_pre_checkout += 1
        query = PreCheckout(
            query_id,
            user_id,
            currency,
            total_amount,
            invoice_payload,
            deadline=time.monotonic() + timeout,
        )
        self._pre_checkouts[query_id] = query
        self._enqueue({"pre_checkout_query": query.as_dict(self._user(user_id).as_dict())})
        return query_id

    async def pay(
        self,
        user_id: int,
        invoice_message_id: int | None,
        *,
        invoice_payload: str | None = None,
        total_amount: int | None = None,
        timeout: float = PRE_CHECKOUT_TIMEOUT,
    ) -> PaymentResult:
        """User `user_id` taps Pay on the bot's invoice message: a pre_checkout_query, then (if
        the bot answers ok=True within `timeout` seconds, 10 like Telegram) a message from the
        user with successful_payment. `invoice_payload`/`total_amount` replace the invoice's (a
        forged query); with no invoice message (an invoice link) both must be given. An invoice
        can be paid again: the fake does not mark it paid."""
        invoice = None if invoice_message_id is None else self._invoice(user_id, invoice_message_id)
        if invoice_payload is None or total_amount is None:
            if invoice is None:
                raise ValueError("pay() without an invoice message needs a payload and an amount")
            invoice_payload = invoice.payload if invoice_payload is None else invoice_payload
            total_amount = invoice.total_amount if total_amount is None else total_amount
        query_id = self.send_pre_checkout_query(
            user_id,
            invoice_payload=invoice_payload,
            total_amount=total_amount,
            currency=STARS if invoice is None else invoice.currency,
            timeout=timeout,
        )
        query = self._pre_checkouts[query_id]
        while query.answer is None:
            remaining = query.deadline - time.monotonic()
            if remaining <= 0:
                return PaymentResult(query_id, False, False, None, None, None)
            await self._payments_signal.wait(remaining)
        if not query.ok:
            return PaymentResult(query_id, True, False, query.error_message, None, None)
        payment, update_id = self._record_payment(query)
        return PaymentResult(query_id, True, True, None, payment.charge_id, update_id)

    def replay_payment(self, charge_id: str) -> int:
        """Deliver the message with that successful_payment again (a duplicate delivery, the
        same message in a new update); returns the new update_id."""
        payment = self._star_payments.get(charge_id)
        if payment is None:
            raise AssertionError(f"no payment with charge id {charge_id!r}")
        return self._enqueue({"message": payment.message})

    def add_star_payment(
        self, user_id: int, amount: int, invoice_payload: str = "", *, date: int | None = None
    ) -> str:
        """A payment in Stars the bot received from the user, as pay() leaves it at Telegram
        (in star_payments() and getStarTransactions), but with no update queued for the bot:
        for tests that store the purchase themselves. Returns its charge id."""
        charge_id = _new_charge_id(self._star_payments)
        now = int(time.time()) if date is None else date
        message: dict[str, Any] = {
            "message_id": 0,
            "date": now,
            "chat": self._chat_dict(user_id),
            "from": self._user(user_id).as_dict(),
            "successful_payment": {
                "currency": STARS,
                "total_amount": amount,
                "invoice_payload": invoice_payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": "",
            },
        }
        self._star_payments[charge_id] = StarPayment(
            charge_id, user_id, amount, invoice_payload, now, message
        )
        self._star_transactions.append(
            _StarTransaction(charge_id, amount, now, "source", user_id, invoice_payload)
        )
        return charge_id

    def refund_star_payment_outside(self, charge_id: str, *, tell_bot: bool = False) -> None:
        """The payment's Stars returned to the user by other means than this bot's
        refundStarPayment (another copy of the bot, the operator by hand): in
        getStarTransactions; with `tell_bot`, Telegram's message with refunded_payment queued
        for the bot too (as a refund by another copy of the bot brings), else none."""
        payment = self._star_payments[charge_id]
        payment.refunded_at = int(time.time())
        self._star_transactions.append(
            _StarTransaction(
                charge_id,
                payment.amount,
                payment.refunded_at,
                "receiver",
                payment.user_id,
                payment.invoice_payload,
            )
        )
        if tell_bot:
            payment.refund_message = self._queue_refund_message(payment)

    def _invoice(self, chat_id: int, message_id: int) -> SentInvoice:
        sent = self._chat(chat_id).sent.get(message_id)
        invoice = next(
            (i for i in self._invoices if (i.chat_id, i.message_id) == (chat_id, message_id)),
            None,
        )
        if sent is None or sent.deleted or invoice is None:
            raise AssertionError(f"the bot has no invoice {message_id} in chat {chat_id}")
        return invoice


def _required(params: dict[str, Any], name: str) -> str:
    """A string parameter the Bot API requires (an empty one counts as missing)."""
    value = params.get(name)
    if value is None or value == "":
        raise _bad(f'Parameter "{name}" is required')
    return str(value)


def _prices(params: dict[str, Any]) -> list[dict[str, Any]]:
    """`prices`, a JSON list of LabeledPrice {label, amount}, checked as the Bot API checks it."""
    prices = params.get("prices")
    if prices is None or prices == "":
        raise _bad('Parameter "prices" is required')
    if isinstance(prices, str):  # it did not decode as JSON
        raise _bad("Can't parse prices JSON object")
    if not isinstance(prices, list):
        raise _bad("Expected an Array of labeled prices")
    checked: list[dict[str, Any]] = []
    for price in prices:
        if not isinstance(price, dict):
            raise _bad("Can't parse labeled price: LabeledPrice must be an Object")
        label, amount = price.get("label"), price.get("amount")
        if not isinstance(label, str):
            raise _bad('Can\'t parse labeled price: Field "label" must be of type String')
        if not label:
            raise _bad("Can't parse labeled price: LabeledPrice label must be non-empty")
        if isinstance(amount, str) and amount.lstrip("-").isdigit():
            amount = int(amount)
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise _bad('Can\'t parse labeled price: Field "amount" must be a valid Number')
        checked.append({"label": label, "amount": amount})
    if not checked:
        raise _bad("There must be at least one price")
    return checked


def _new_charge_id(taken: dict[str, Any]) -> str:
    """A telegram_payment_charge_id like Telegram's for Stars ("stx" and random letters)."""
    while True:
        charge_id = "stx" + secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")
        if charge_id not in taken:
            return charge_id
