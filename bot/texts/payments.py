"""Buying credits with Telegram Stars (PAYMENTS=stars), as users see it: /buy and its packs, the
invoice, what the pre-checkout refuses, the payment received, /paysupport and /terms."""

from __future__ import annotations

from html import escape

from bot.domain.payments import CreditPack, Prices
from bot.texts.formatting import shorten
from bot.texts.i18n import gettext, ngettext

__all__ = [
    "button_buy_credits",
    "button_pack",
    "buy_menu",
    "invoice_description",
    "invoice_label",
    "invoice_title",
    "paid_already",
    "payment_not_matched",
    "payment_received",
    "payment_refused_banned",
    "payment_refused_expired",
    "payment_refused_not_yours",
    "payment_refused_unavailable",
    "payment_refused_withdrawn",
    "paysupport_default",
    "report_payment_not_matched",
    "terms_default",
    "toast_pack_withdrawn",
]


def _credits(count: int) -> str:
    # TRANSLATORS: an amount of credits (bought with Telegram Stars, spent on videos).
    return ngettext("{count} credit", "{count} credits", count).format(count=count)


def _price(prices: Prices) -> str:
    """What a video costs: one price, or the range over the modes."""
    low = min((prices.default, *prices.by_mode.values()))
    high = max((prices.default, *prices.by_mode.values()))
    if low == high:
        # TRANSLATORS: {credits} is an amount of credits ("10 credits").
        return gettext("A video costs {credits}.").format(credits=_credits(low))
    # TRANSLATORS: {low} and {high} are amounts of credits ("10 credits"), by the edit's mode.
    return gettext("A video costs {low} to {high}, by its mode.").format(
        low=_credits(low), high=_credits(high)
    )


def buy_menu(balance: int, prices: Prices, free_per_day: int) -> str:
    """/buy: the balance, the price, and the packs (as buttons below)."""
    # TRANSLATORS: {credits} is the user's balance ("3 credits").
    lines = [gettext("You have {credits}.").format(credits=_credits(balance)), _price(prices)]
    if free_per_day:
        # TRANSLATORS: {count} is how many tasks a day cost nothing.
        free = ngettext(
            "Your first task of each day is free.",
            "Your first {count} tasks of each day are free.",
            free_per_day,
        )
        lines.append(free.format(count=free_per_day))
    lines.append(
        gettext(
            "Choose a pack to pay in Telegram Stars. If a task fails, its credits come back "
            "to your balance."
        )
    )
    return "\n".join(lines)


def button_pack(pack: CreditPack) -> str:
    # TRANSLATORS: a button that opens an invoice: {credits} is the pack ("10 credits"), {stars}
    # its price in Telegram Stars (a number; ⭐ stands for Stars).
    return gettext("{credits} for {stars} ⭐").format(
        credits=_credits(pack.credits), stars=pack.stars
    )


def button_buy_credits() -> str:
    # TRANSLATORS: a button under "not enough credits" that shows the packs to buy.
    return gettext("Buy credits")


def invoice_title(pack: CreditPack) -> str:
    """The invoice's title (at most 32 characters)."""
    return _credits(pack.credits)


def invoice_description(pack: CreditPack, prices: Prices) -> str:
    """The invoice's description (at most 255 characters)."""
    # TRANSLATORS: an invoice's description (at most 255 characters with the next sentence);
    # {credits} is the pack ("10 credits").
    what = gettext("{credits} for editing videos with AI in this bot.").format(
        credits=_credits(pack.credits)
    )
    return f"{what} {_price(prices)}"


def invoice_label(pack: CreditPack) -> str:
    """The invoice's one price line."""
    return _credits(pack.credits)


def toast_pack_withdrawn() -> str:
    # TRANSLATORS: a short notice (at most 200 characters) after pressing a pack that is gone.
    return gettext("That pack is no longer offered: /buy shows the ones there are.")


# What Telegram shows when the bot says no at the pre-checkout (the payment does not happen).


def payment_refused_withdrawn() -> str:
    return gettext("This pack is no longer offered. Nothing was charged: /buy shows the packs.")


def payment_refused_expired() -> str:
    return gettext("This invoice is too old. Nothing was charged: /buy makes a new one.")


def payment_refused_not_yours() -> str:
    return gettext("This invoice is not for you. Nothing was charged: /buy makes your own.")


def paid_already() -> str:
    return gettext("This invoice is paid already. Nothing was charged again.")


def payment_refused_banned() -> str:
    return gettext("You can't use this bot, so it can't take your payment. Nothing was charged.")


def payment_refused_unavailable() -> str:
    return gettext("I can't take payments right now. Nothing was charged: please try again soon.")


def payment_received(credits: int, balance: int) -> str:
    # TRANSLATORS: {credits} is the pack bought ("10 credits"); {balance} the balance now.
    return gettext("Thank you! {credits} added: you have {balance} now.").format(
        credits=_credits(credits), balance=_credits(balance)
    )


def payment_not_matched(refunded: bool) -> str:
    """A payment that names no invoice of this user's (it should not happen)."""
    if refunded:
        return gettext(
            "I could not match your payment to an invoice of mine, so I have returned your "
            "Stars. Please use /buy again."
        )
    return gettext(
        "I could not match your payment to an invoice of mine. The admins have been told and "
        "will return your Stars; /paysupport says how to reach them."
    )


def paysupport_default() -> str:
    """/paysupport when PAYSUPPORT_TEXT is not set."""
    return gettext(
        "Questions about a payment? Write to the bot's admins through the contact in its "
        "profile, with the date and the amount. A failed task's credits come back to your "
        "balance by themselves; Stars are returned for credits not spent."
    )


def terms_default(prices: Prices) -> str:
    """/terms when TERMS_TEXT is not set."""
    return "\n".join(
        [
            gettext(
                "You buy credits with Telegram Stars and spend them on video edits. "
                "{price} The credits are taken when the video service starts the task; if "
                "the task fails, times out or is cancelled before it starts, they come back to "
                "your balance."
            ).format(price=_price(prices)),
            gettext(
                "Credits are for this bot only and cannot be exchanged for money. Unspent "
                "credits from a payment can be refunded in Stars by the admins (/paysupport). "
                "Results depend on the AI service and are not guaranteed."
            ),
        ]
    )


def report_payment_not_matched(
    user_id: int, charge_id: str, stars: int, problem: str, refunded: bool
) -> str:
    """To the admins: Stars paid for no invoice of the payer's (a bug, or a forged update)."""
    # TRANSLATORS: a report to the admins; {stars} is a number of Telegram Stars, {charge} the
    # payment's id, {problem} a code ("other_user", "paid", ...).
    head = gettext(
        "⚠️ User {user} paid {stars} ⭐ (payment <code>{charge}</code>) for no invoice of "
        "theirs ({problem}); no credits were added."
    ).format(
        user=user_id,
        stars=stars,
        charge=escape(shorten(charge_id, 80)),
        problem=escape(shorten(problem, 40)),
    )
    if refunded:
        return head + " " + gettext("The Stars were returned.")
    return head + " " + gettext("Returning the Stars failed: use /refund with the payment's id.")
