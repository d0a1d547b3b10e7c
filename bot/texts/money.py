"""Money, as the admins see it (PAYMENTS=stars): /refund, /grant, /payments, /reconcile, the
balance and movements in /user, the money lines of /stats, a task's price in /task with the
buttons that settle a held one; and what a user is told of a refund."""

from __future__ import annotations

from html import escape

from bot.domain.money import (
    Difference,
    Gap,
    LedgerLine,
    MoneyNow,
    MoneyTotals,
    OutsideRefund,
    PriceState,
    Purchase,
    Reconciliation,
    RefundState,
    TaskPrice,
)
from bot.domain.records import User
from bot.texts.formatting import (
    MESSAGE_LIMIT,
    NAME_SHOWN,
    REASON_SHOWN,
    format_duration,
    shorten,
    telegram_length,
)
from bot.texts.i18n import N_, gettext, ngettext

__all__ = [
    "button_money_charge",
    "button_money_return",
    "money_already_refunded",
    "money_grant_done",
    "money_grant_short",
    "money_no_such_charge",
    "money_payments_off",
    "money_purchases",
    "money_reconcile_failed",
    "money_reconciled",
    "money_refund_no_answer",
    "money_refund_refused",
    "money_refund_spent",
    "money_refund_was_refused",
    "money_refunded",
    "money_stats",
    "money_task_price",
    "money_task_settled",
    "money_user",
    "money_user_refunded",
    "report_refunded_outside",
    "toast_money_not_unknown",
    "toast_money_settled",
    "toast_money_settled_before",
]

# The admins' money commands (not translated) and what each does, for their command menu;
# bot.texts.admin lists them with the others.
MONEY_COMMANDS: tuple[tuple[str, str], ...] = (
    # TRANSLATORS: what an admin command does, in the admins' command menu (at most 256
    # characters). Commands (/refund), their arguments' examples stay as they are.
    ("refund", N_("Return a payment's Stars and remove its credits: /refund charge-id")),
    ("grant", N_("Give or take credits: /grant 12345 10 reason (or -10)")),
    ("payments", N_("Recent purchases: /payments [how many]")),
    ("reconcile", N_("Compare the ledger with Telegram's Star transactions")),
)
MONEY_USAGE: dict[str, str] = {
    # TRANSLATORS: how to use an admin command. Commands (/refund) are typed as they are:
    # keep them; the words in brackets may be translated.
    "refund": N_(
        "Usage: /refund charge-id [reason]. The charge id is in /payments, and in /user's "
        "movements."
    ),
    "grant": N_(
        "Usage: /grant 12345 10 reason, or /grant @username -10 reason: gives (or, with a "
        "minus, takes) credits; the reason is required."
    ),
    "payments": N_("Usage: /payments 20 (how many, at most 30), or /payments for the last 10"),
    "reconcile": N_("Usage: /reconcile (no arguments)"),
}

PURCHASES_LISTED = 30  # /payments' most
MOVEMENTS_LISTED = 10  # /user's movements
CHARGE_SHOWN = 64  # a charge id (Telegram's are about 50 characters)
_REASON_IN_LINE = 60
DIFFERENCES_BUDGET = MESSAGE_LIMIT - 500  # the differences /reconcile lists, all together


def _credits(count: int) -> str:
    # TRANSLATORS: an amount of credits (bought with Telegram Stars, spent on videos).
    return ngettext("{count} credit", "{count} credits", count).format(count=count)


def _stars(count: int) -> str:
    # TRANSLATORS: an amount of Telegram Stars (the currency payments are made in).
    return ngettext("{count} Star", "{count} Stars", count).format(count=count)


def _charge(charge_id: str) -> str:
    return f"<code>{escape(shorten(charge_id, CHARGE_SHOWN))}</code>"


def _user(user_id: int, username: str | None) -> str:
    handle = f" @{escape(shorten(username, NAME_SHOWN))}" if username else ""
    return f"<code>{user_id}</code>{handle}"


def _who(user: User) -> str:
    name = escape(shorten(user.first_name or "?", NAME_SHOWN))
    return f"{name} {_user(user.id, user.username)}"


def _ago(now: float, moment: float) -> str:
    # TRANSLATORS: when something happened; {duration} such as "3 min 20 sec".
    return gettext("{duration} ago").format(duration=format_duration(now - moment))


def money_payments_off() -> str:
    return gettext(
        "Payments are off (PAYMENTS=off in the settings): there are no credits to refund, "
        "grant or reconcile."
    )


# --- /refund ----------------------------------------------------------------------------------


def money_no_such_charge(charge_id: str) -> str:
    # TRANSLATORS: {charge} is the charge id the admin typed (telegram_payment_charge_id).
    return gettext(
        "No purchase was paid with the charge id {charge}. The ids are in /payments."
    ).format(charge=_charge(charge_id))


def money_refund_spent(purchase: Purchase, balance: int) -> str:
    # TRANSLATORS: {user} is a user's id and @username; {credits} and {balance} amounts of
    # credits ("10 credits"); {stars} an amount of Stars.
    return gettext(
        "Not refunded: this purchase gave {user} {credits} for {stars}, and their balance is "
        "only {balance}: the rest is spent, or held by a task not finished yet. Nothing was "
        "changed. (To return the Stars anyway, first /grant them the credits missing.)"
    ).format(
        user=_user(purchase.user_id, purchase.username),
        credits=_credits(purchase.credits),
        stars=_stars(purchase.stars),
        balance=_credits(balance),
    )


def money_refunded(purchase: Purchase, balance: int, told: bool) -> str:
    """The Stars went back and the credits are removed; `told`: the user got the message."""
    # TRANSLATORS: {stars} is an amount of Stars, {user} a user's id and @username, {credits}
    # and {balance} amounts of credits ("10 credits").
    done = gettext(
        "↩️ Refunded: {stars} returned to {user}, and {credits} removed from their balance "
        "(now {balance})."
    ).format(
        stars=_stars(purchase.stars),
        user=_user(purchase.user_id, purchase.username),
        credits=_credits(purchase.credits),
        balance=_credits(balance),
    )
    if told:
        return done + " " + gettext("They were told.")
    return done + " " + gettext("They could not be told (they may have blocked the bot).")


def money_already_refunded(purchase: Purchase, now: float) -> str:
    when = _ago(now, purchase.refunded_at) if purchase.refunded_at is not None else "—"
    if purchase.refunded_by is not None:
        # TRANSLATORS: {when} is "3 min ago"; {admin} the Telegram id of the admin who did it.
        return gettext(
            "This payment was refunded already ({when}, by <code>{admin}</code>): nothing to do."
        ).format(when=when, admin=purchase.refunded_by)
    # TRANSLATORS: {when} is "3 min ago".
    return gettext("This payment was refunded already ({when}): nothing to do.").format(when=when)


def money_refund_was_refused(purchase: Purchase) -> str:
    # TRANSLATORS: {credits} is an amount of credits ("10 credits").
    return gettext(
        "Telegram refused to refund this payment before, and its {credits} were put back on "
        "the balance then. It cannot be refunded with /refund again."
    ).format(credits=_credits(purchase.credits))


def money_refund_refused(purchase: Purchase, detail: str, balance: int | None) -> str:
    """Telegram refused: no Stars went back, the credits are back on the balance (`balance`:
    after that; None when they had been put back already)."""
    fields = {
        "detail": escape(shorten(detail, REASON_SHOWN)),
        "credits": _credits(purchase.credits),
    }
    if balance is None:
        # TRANSLATORS: {detail} is Telegram's answer, in English; {credits} an amount of
        # credits ("10 credits").
        return gettext(
            "Telegram refused the refund ({detail}): no Stars were returned, and the {credits} "
            "are on the balance."
        ).format(**fields)
    # TRANSLATORS: {detail} is Telegram's answer, in English; {credits} and {balance} amounts
    # of credits ("10 credits").
    return gettext(
        "Telegram refused the refund ({detail}): no Stars were returned, and the {credits} "
        "are back on the balance (now {balance})."
    ).format(**fields, balance=_credits(balance))


def money_refund_no_answer(purchase: Purchase, detail: str) -> str:
    # TRANSLATORS: {detail} is the error, in English; {credits} an amount of credits; {charge}
    # the payment's charge id. /refund stays as it is.
    return gettext(
        "Telegram did not answer ({detail}): the Stars may not have been returned yet. The "
        "{credits} stay removed from the balance; send /refund {charge} again to finish it."
    ).format(
        detail=escape(shorten(detail, REASON_SHOWN)),
        credits=_credits(purchase.credits),
        charge=_charge(purchase.charge_id),
    )


def money_user_refunded(stars: int, credits: int, balance: int) -> str:
    """To the user, in their language."""
    # TRANSLATORS: to a user: {stars} is an amount of Stars, {credits} and {balance} amounts
    # of credits ("10 credits").
    return gettext(
        "↩️ {stars} of your purchase were returned to you, and its {credits} removed from "
        "your balance. You have {balance}."
    ).format(stars=_stars(stars), credits=_credits(credits), balance=_credits(balance))


def report_refunded_outside(outside: OutsideRefund) -> str:
    """To the admins: Telegram returned a payment's Stars that no /refund of the bot's returned
    (another copy of the bot, the operator by hand), and what became of its credits."""
    purchase = outside.purchase
    # TRANSLATORS: a report to the admins; {charge} is a payment's id, {user} a user's id and
    # @username, {stars} an amount of Stars ("50 Stars").
    head = gettext(
        "↩️ Payment {charge} of {user} ({stars}) was refunded outside the bot: Telegram "
        "returned the Stars, and no /refund of this bot did."
    ).format(
        charge=_charge(purchase.charge_id),
        user=_user(purchase.user_id, purchase.username),
        stars=_stars(purchase.stars),
    )
    fields = {
        "credits": _credits(purchase.credits),
        "removed": _credits(outside.removed),
        "balance": _credits(outside.balance),
    }
    if outside.refused_before:
        # TRANSLATORS: after "Payment ... was refunded outside the bot"; {credits} and
        # {balance} are amounts of credits ("10 credits").
        more = gettext(
            "An earlier /refund of it was refused by Telegram and its {credits} put back; "
            "they were not removed now (balance {balance}). Take them with /grant if they "
            "should go."
        )
    elif outside.short == 0:
        # TRANSLATORS: after "Payment ... was refunded outside the bot"; {credits} and
        # {balance} are amounts of credits ("10 credits").
        more = gettext("Its {credits} were removed from their balance (now {balance}).")
    elif outside.removed:
        # TRANSLATORS: after "Payment ... was refunded outside the bot"; {removed},
        # {credits} and {balance} are amounts of credits ("10 credits").
        more = gettext(
            "Only {removed} of its {credits} could be removed: the rest was spent or is held "
            "by a task, and a balance never goes below zero (now {balance})."
        )
    else:
        # TRANSLATORS: after "Payment ... was refunded outside the bot"; {credits} and
        # {balance} are amounts of credits ("10 credits").
        more = gettext(
            "None of its {credits} could be removed: they were spent or are held by a task, "
            "and a balance never goes below zero (now {balance})."
        )
    return head + "\n" + more.format(**fields)


# --- /grant -----------------------------------------------------------------------------------


def money_grant_done(user: User, credits: int, balance: int, reason: str) -> str:
    fields = {
        "who": _who(user),
        "reason": escape(shorten(reason, REASON_SHOWN)),
        "balance": _credits(balance),
    }
    if credits >= 0:
        # TRANSLATORS: {credits} and {balance} are amounts of credits ("10 credits"); {who}
        # a user (name, id, @username); {reason} the admin's reason.
        return gettext("➕ {credits} given to {who} ({reason}). Balance now: {balance}.").format(
            credits=_credits(credits), **fields
        )
    # TRANSLATORS: {credits} and {balance} are amounts of credits ("10 credits"); {who} a user
    # (name, id, @username); {reason} the admin's reason.
    return gettext("➖ {credits} taken from {who} ({reason}). Balance now: {balance}.").format(
        credits=_credits(-credits), **fields
    )


def money_grant_short(user: User, credits: int, balance: int) -> str:
    # TRANSLATORS: {credits} and {balance} are amounts of credits ("10 credits"); {who} a user
    # (name, id, @username).
    return gettext(
        "Not taken: {who} has only {balance}, fewer than the {credits} to take. A balance "
        "never goes below zero."
    ).format(who=_who(user), balance=_credits(balance), credits=_credits(abs(credits)))


# --- /user ------------------------------------------------------------------------------------

_KINDS: dict[str, str] = {
    # TRANSLATORS: a movement of a user's credits, in /user: bought with Stars, held at a
    # task's Submit, charged when the provider took the task, returned, given or taken by an
    # admin, removed when the purchase's Stars were refunded, put back when Telegram refused
    # that refund; a task's price an admin returned taken again (the task was found at the
    # video service after all), and returned again (that task then failed).
    "purchase": N_("bought"),
    "reserve": N_("held"),
    "charge": N_("charged"),
    "release": N_("returned"),
    "grant": N_("by an admin"),
    "star_refund": N_("refunded in Stars"),
    "refund_refused": N_("refund refused"),
    "recharge": N_("taken again"),
    "recharge_release": N_("returned again"),
}


def _movement(line: LedgerLine, now: float) -> str:
    amount = f"{line.credits:+d}" if line.credits else "0"
    parts = [
        f"<b>{amount}</b>",
        escape(gettext(_KINDS[line.kind]) if line.kind in _KINDS else shorten(line.kind, 20)),
    ]
    if line.task_id is not None:
        parts.append(f"#{line.task_id}")
    if line.charge_id:
        parts.append(_charge(line.charge_id))
    if line.stars:
        parts.append(f"⭐{line.stars}")
    if line.reason:
        parts.append(f"<i>{escape(shorten(line.reason, _REASON_IN_LINE))}</i>")
    parts.append(_ago(now, line.at))
    return "  " + " · ".join(parts)


def money_user(balance: int, movements: list[LedgerLine], now: float) -> str:
    """/user's part: the balance and the last MOVEMENTS_LISTED movements, newest first."""
    # TRANSLATORS: in /user; {credits} is an amount of credits ("10 credits").
    lines = [gettext("💰 Balance: {credits}").format(credits=_credits(balance))]
    if movements:
        # TRANSLATORS: in /user, above the user's latest movements of credits.
        lines.append(gettext("Latest movements:"))
        lines.extend(_movement(line, now) for line in movements[:MOVEMENTS_LISTED])
    else:
        # TRANSLATORS: in /user: the user's credits have never moved.
        lines.append(gettext("No movements yet."))
    return "\n".join(lines)


# --- /stats -----------------------------------------------------------------------------------


def _three(values: list[int]) -> str:
    return " / ".join(str(v) for v in values)


def money_stats(periods: list[MoneyTotals], now: MoneyNow) -> str:
    """/stats' part: the last 24 h, 7 days and all time (`periods`, in that order), and now."""
    lines = [
        # TRANSLATORS: in /stats, above the lines about payments: "Credits sold: 10 / 50 / 200".
        gettext("<b>Payments</b> (24 h / 7 d / all):"),
        # TRANSLATORS: in /stats: payments received, and the Stars they brought; each value
        # is "24 h / 7 d / all".
        gettext("  Purchases: {count} · Stars received: {stars}").format(
            count=_three([p.purchases for p in periods]),
            stars=_three([p.stars_in for p in periods]),
        ),
        # TRANSLATORS: in /stats: Stars returned to users with /refund, and the credits those
        # refunds removed; each value is "24 h / 7 d / all".
        gettext("  Stars refunded: {stars} · their credits removed: {credits}").format(
            stars=_three([p.stars_refunded for p in periods]),
            credits=_three([p.refunded for p in periods]),
        ),
        # TRANSLATORS: in /stats: credits bought; spent on tasks the provider took; returned
        # for tasks that ended without a video. Each value is "24 h / 7 d / all".
        gettext("  Credits sold: {sold} · spent: {spent} · returned: {returned}").format(
            sold=_three([p.sold for p in periods]),
            spent=_three([p.spent for p in periods]),
            returned=_three([p.returned for p in periods]),
        ),
        # TRANSLATORS: in /stats: credits admins gave and took with /grant; each value is
        # "24 h / 7 d / all".
        gettext("  Credits given by admins: {granted} · taken: {removed}").format(
            granted=_three([p.granted for p in periods]),
            removed=_three([p.removed for p in periods]),
        ),
        # TRANSLATORS: in /stats: {held} is an amount of credits ("10 credits") reserved by
        # {count} tasks whose price is not settled yet; {balances} the credits in all users'
        # balances.
        ngettext(
            "  Now: {held} held by {count} task · {balances} in balances",
            "  Now: {held} held by {count} tasks · {balances} in balances",
            now.held_tasks,
        ).format(held=_credits(now.held), count=now.held_tasks, balances=_credits(now.balances)),
    ]
    return "\n".join(lines)


# --- /task ------------------------------------------------------------------------------------

_PRICE_STATES: dict[PriceState, str] = {
    # TRANSLATORS: in /task: {credits} is the task's price ("10 credits") and what became of it.
    PriceState.HELD: N_("Price: {credits}, held (not charged, not returned)"),
    PriceState.CHARGED: N_("Price: {credits}, charged"),
    PriceState.RETURNED: N_("Price: {credits}, returned to the balance"),
    PriceState.REFUNDED: N_("Price: {credits}, charged, then returned to the balance"),
}


def money_task_price(price: TaskPrice, decide: bool) -> str:
    """/task's line; `decide`: the task's outcome is unknown, and buttons settle its price."""
    line = gettext(_PRICE_STATES[price.state]).format(credits=_credits(price.credits))
    if not decide:
        return "💳 " + line
    # TRANSLATORS: in /task, under a task whose outcome is unknown, above the Charge and
    # Return buttons.
    return (
        "💳 "
        + line
        + "\n"
        + gettext(
            "The provider may or may not have made the video: charge the price, or return it?"
        )
    )


def button_money_charge(credits: int) -> str:
    # TRANSLATORS: a button's label (keep it short): {credits} is "10 credits".
    return gettext("💳 Charge {credits}").format(credits=_credits(credits))


def button_money_return(credits: int) -> str:
    # TRANSLATORS: a button's label (keep it short): {credits} is "10 credits".
    return gettext("↩️ Return {credits}").format(credits=_credits(credits))


def money_task_settled(task_id: int, price: TaskPrice, charged: bool) -> str:
    if charged:
        # TRANSLATORS: {credits} is the task's price ("10 credits").
        return gettext("💳 Task #{id}: its price ({credits}) is charged.").format(
            id=task_id, credits=_credits(price.credits)
        )
    # TRANSLATORS: {credits} is the task's price ("10 credits").
    return gettext("↩️ Task #{id}: its price ({credits}) is returned to the user.").format(
        id=task_id, credits=_credits(price.credits)
    )


def toast_money_settled(charged: bool) -> str:
    return gettext("Charged.") if charged else gettext("Returned.")


def toast_money_settled_before(price: TaskPrice | None) -> str:
    if price is None:
        return gettext("This task has no price to settle.")
    if price.state is PriceState.CHARGED:
        return gettext("Settled already: charged.")
    return gettext("Settled already: returned.")


def toast_money_not_unknown() -> str:
    return gettext(
        "This task's outcome is known now, and its price goes with it: charged for a video, "
        "returned otherwise."
    )


# --- /payments --------------------------------------------------------------------------------

_REFUND_STATES: dict[RefundState, str] = {
    # TRANSLATORS: in /payments: a purchase whose Stars were returned (/refund), and one whose
    # refund Telegram refused.
    RefundState.REFUNDED: N_("refunded"),
    RefundState.REFUSED: N_("refund refused"),
}


def _purchase_line(purchase: Purchase, now: float) -> str:
    parts = [
        _ago(now, purchase.at),
        _user(purchase.user_id, purchase.username),
        _credits(purchase.credits),
        f"⭐{purchase.stars}",
        _charge(purchase.charge_id),
    ]
    if purchase.refund in _REFUND_STATES:
        parts.append(f"<b>{gettext(_REFUND_STATES[purchase.refund])}</b>")
    return "• " + " · ".join(parts)


def money_purchases(purchases: list[Purchase], now: float) -> str:
    """/payments: the first PURCHASES_LISTED, newest first."""
    if not purchases:
        return gettext("No purchases yet.")
    # TRANSLATORS: above /payments' list of purchases (when, who, credits, Stars, charge id).
    lines = [gettext("<b>Latest purchases</b> (newest first):")]
    listed = [_purchase_line(p, now) for p in purchases[:PURCHASES_LISTED]]
    lines.extend(_fitting(listed, MESSAGE_LIMIT - 300))
    # TRANSLATORS: the end of /payments. /refund stays as it is.
    lines.append(gettext("To refund one: /refund and its charge id."))
    return "\n".join(lines)


# --- /reconcile -------------------------------------------------------------------------------


def _difference(d: Difference) -> str:
    fields = {
        "charge": _charge(d.charge_id),
        "user": f"<code>{d.user_id}</code>" if d.user_id is not None else "—",
        "ledger": _stars(d.ledger_stars or 0),
        "telegram": _stars(d.telegram_stars or 0),
    }
    match d.gap:
        case Gap.NOT_CREDITED:
            # TRANSLATORS: in /reconcile: {charge} is a charge id, {user} a user's id,
            # {telegram} an amount of Stars.
            text = gettext(
                "{charge} (user {user}): paid {telegram} at Telegram, never credited in the ledger."
            )
        case Gap.NOT_AT_TELEGRAM:
            # TRANSLATORS: in /reconcile: {charge} is a charge id, {user} a user's id,
            # {ledger} an amount of Stars.
            text = gettext(
                "{charge} (user {user}): credited in the ledger for {ledger}, unknown to Telegram."
            )
        case Gap.AMOUNT:
            # TRANSLATORS: in /reconcile: {charge} is a charge id, {user} a user's id,
            # {ledger} and {telegram} amounts of Stars.
            text = gettext(
                "{charge} (user {user}): {ledger} in the ledger, {telegram} at Telegram."
            )
        case Gap.USER:
            # TRANSLATORS: in /reconcile: {charge} is a charge id, {user} a user's id.
            text = gettext(
                "{charge}: credited to user {user} in the ledger, paid by another user at Telegram."
            )
        case Gap.REFUND_NOT_IN_LEDGER:
            # TRANSLATORS: in /reconcile: {charge} is a charge id, {user} a user's id,
            # {telegram} an amount of Stars.
            text = gettext(
                "{charge} (user {user}): {telegram} refunded at Telegram, but the credits "
                "were not removed in the ledger."
            )
        case Gap.REFUND_NOT_AT_TELEGRAM:
            # TRANSLATORS: in /reconcile: {charge} is a charge id, {user} a user's id.
            # /refund stays as it is.
            text = gettext(
                "{charge} (user {user}): the credits were removed for a refund Telegram has "
                "not made: send /refund with this id again."
            )
    return "• " + text.format(**fields)


def money_reconciled(result: Reconciliation) -> str:
    # TRANSLATORS: in /reconcile: how many payments Telegram listed.
    payments = ngettext("{count} payment", "{count} payments", result.payments)
    # TRANSLATORS: in /reconcile: how many refunds Telegram listed.
    refunds = ngettext("{count} refund", "{count} refunds", result.refunds)
    # TRANSLATORS: in /reconcile: {payments} is "3 payments", {refunds} "1 refund".
    counted = gettext("{payments} and {refunds} at Telegram").format(
        payments=payments.format(count=result.payments),
        refunds=refunds.format(count=result.refunds),
    )
    if result.clean:
        # TRANSLATORS: {counted} is "3 payments and 1 refund at Telegram".
        return gettext(
            "✅ The ledger matches Telegram ({counted}), and every balance is the sum of its "
            "movements."
        ).format(counted=counted)
    # TRANSLATORS: {counted} is "3 payments and 1 refund at Telegram".
    lines = [gettext("🧾 <b>Reconciliation</b> ({counted}):").format(counted=counted)]
    if not result.complete:
        lines.append(
            gettext(
                "Telegram listed more transactions than were read: the oldest were not compared."
            )
        )
    if result.differences:
        # TRANSLATORS: in /reconcile, above the payments the ledger and Telegram disagree on.
        lines.append(gettext("Differences:"))
        lines.extend(_fitting([_difference(d) for d in result.differences], DIFFERENCES_BUDGET))
    if result.cache:
        # TRANSLATORS: in /reconcile: users whose stored balance is not the sum of their
        # movements (a bug, or an edit of the database by hand), then a line for each.
        lines.append(gettext("Balances that are not the sum of their movements:"))
        lines.extend(
            _fitting(
                [
                    # TRANSLATORS: in /reconcile: {user} is a user's id; {cached} and {sum}
                    # amounts of credits.
                    "• "
                    + gettext("user {user}: balance {cached}, movements {sum}").format(
                        user=f"<code>{user}</code>", cached=cached, sum=total
                    )
                    for user, cached, total in result.cache
                ],
                300,
            )
        )
    return "\n".join(lines)


def _fitting(lines: list[str], budget: int) -> list[str]:
    """As many of `lines` as fit in `budget` UTF-16 code units, then "… and N more"."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        used += telegram_length(line) + 1
        if used > budget:
            # TRANSLATORS: after the first lines of a list too long for one message.
            kept.append(gettext("… and {count} more").format(count=len(lines) - index))
            break
        kept.append(line)
    return kept


def money_reconcile_failed(detail: str) -> str:
    # TRANSLATORS: {detail} is Telegram's error, in English.
    return gettext(
        "Telegram's list of Star transactions could not be read ({detail}). Try again later."
    ).format(detail=escape(shorten(detail, REASON_SHOWN)))
