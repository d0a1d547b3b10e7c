"""Every text the bot builds fits Telegram's limits by construction, whatever it is given.

Each public function of the bot.texts package that returns text is in BUILDERS, with the kind of
text it makes and strategies for its arguments that reach the longest values the bot can meet and
beyond: names, links, prompts, reasons, provider ids and answers of up to HUGE characters, made of
emoji (two UTF-16 code units each), HTML's special characters (several characters that count as
one) and links with bidi controls in them. A function added to bot.texts without an entry here
fails test_every_text_builder_is_checked.

Limits, as Telegram counts them: UTF-16 code units of the text once its HTML markup is parsed
away (by the fake Bot API's parser, which also refuses broken markup):
- a message 4096, a caption 1024, a callback answer (toast) 200;
- a button label BUTTON_LABEL_BYTES (the Bot API documents no limit for labels: this is the
  bot's own), and callback data 64 bytes (documented).
No link's bidi control may reach a text raw (a U+202E in a link reverses how the rest shows).
Two kinds are not held to a limit: the report of an unhandled error (Telegram's limit is kept
by the Outbox, which sends one too long as shortened plain text), and what the command line
prints on a terminal.
"""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from html import escape
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import texts
from bot.app import BotApp
from bot.domain import modes
from bot.domain.capabilities import Capabilities
from bot.domain.delivery import DeliveryResult, Estimate
from bot.domain.failures import Failure
from bot.domain.links import LinkRefusal
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
from bot.domain.payments import (
    MAX_CREDITS,
    MAX_STARS,
    ChargeState,
    CreditPack,
    FoundCharge,
    FoundPrice,
    Prices,
    TaskCharge,
)
from bot.domain.records import Access, Draft, DraftState, Instance, Task, TaskState, User
from bot.providers import kie, luma, segmind
from bot.texts import i18n
from handlers import ADMIN_COMMANDS as ADMIN_HANDLERS
from handlers.requests import card_keyboard
from storage.models import column_names
from tests.fakes.kie import FakeKie
from tests.fakes.segmind import TEST_SEGMIND_KEY, FakeSegmind
from tests.fakes.telegram import FakeTelegram, _render
from tests.helpers import ADMIN_ID, USER_ID, Chat

LIMITS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "0")) or 40,
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI") == "true",
    # The one function-scoped fixture only sets the language in force, the same for all examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True, params=i18n.available_languages())
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every text test here runs in every shipped language (a translation may be longer); the
    tests that drive a bot, whose user speaks English, run once."""
    if inspect.iscoroutinefunction(request.function) and request.param != i18n.SOURCE_LANGUAGE:
        pytest.skip("drives the bot with an English-speaking user")
    with i18n.speaking(request.param):
        yield request.param


HUGE = 10_000  # characters: more than anyone can send in one Telegram message
# Characters that make a text long or hard to cut: an emoji, HTML's specials, a letter with a
# combining accent, a space, a line break.
TRICKY = "a<&>\"'é🎨\u0301 \n"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
BIGGEST = 2**63 - 1  # ids, counts and sizes come from SQLite's 64-bit integers


def long_text(alphabet: str = TRICKY, max_size: int = HUGE) -> st.SearchStrategy[str]:
    """Mostly the longest text: a short random piece repeated to `max_size` or fewer characters
    (drawing every character would exhaust hypothesis's budget long before 10,000)."""
    piece = st.text(st.sampled_from(alphabet), min_size=1, max_size=12)
    size = st.one_of(st.just(max_size), st.integers(0, max_size))
    return st.builds(lambda p, n: (p * (n // len(p) + 1))[:n], piece, size)


TEXT = long_text()
NAME = long_text()  # Telegram allows 64 characters; a name is shortened whatever its length
# A link with any characters in its path, bidi controls included (a user's link has at most
# 2,048; a provider's result link has no limit).
LINK = st.builds(
    lambda host, path: f"https://{host}/{path}",
    long_text("abc-.", max_size=300),
    long_text(TRICKY + BIDI + "/?=%", max_size=HUGE),
)
ID = st.integers(0, BIGGEST)
COUNT = st.integers(0, BIGGEST)
SECONDS = st.floats(0, 1e12)
MOMENT = st.floats(0, 2e9)  # epoch seconds, from 1970 to 2033
CAPABILITIES = st.sampled_from(
    [
        kie.capabilities("KIE.ai"),
        kie.capabilities("Apikley"),
        segmind.CAPABILITIES,
        *(luma.capabilities(model) for model in luma.MAX_INPUT_SECONDS),
        # The sandbox's, without starting one.
        replace(
            kie.capabilities("Sandbox (offline, on this machine)"), offline=True, max_size_mb=100
        ),
    ]
)
MODE = st.sampled_from(modes.ALL_MODES)
# Sentences of bot.texts that other builders take: what prompt_problem() may say.
# (Sentences are drawn as functions and said when drawn: in the language of the test.)
PROMPT_PROBLEM = st.one_of(
    st.sampled_from([texts.prompt_empty, texts.prompt_no_words, texts.prompt_not_english]).map(
        lambda sentence: sentence()
    ),
    st.builds(texts.prompt_too_long, COUNT, COUNT),
)
NOTE = st.sampled_from([None, texts.preflight_unchecked]).map(lambda note: note and note())
DELIVERY_REASON = st.one_of(
    st.sampled_from([texts.video_not_taken, texts.result_too_slow]).map(
        lambda sentence: sentence()
    ),
    st.builds(texts.too_big_to_upload, st.none() | SECONDS, COUNT),
)
# A language named in itself, as bot.texts.i18n.language_name gives it.
LANGUAGE_NAME = st.sampled_from(
    [i18n.language_name(code) for code in (*i18n.available_languages(), "ru", "uk")]
)


@st.composite
def tasks(draw: st.DrawFn) -> Task:
    fields: dict[str, Any] = dict.fromkeys(column_names(Task))
    fields.update(
        id=draw(ID),
        user_id=draw(ID),
        chat_id=draw(ID),
        draft_id=draw(ID),
        provider=draw(st.sampled_from(["kie", "apikley", "segmind", "luma", "sandbox"])),
        video_url=draw(LINK),
        prompt=draw(TEXT),
        state=draw(st.sampled_from(TaskState)),
        provider_task_id=draw(st.none() | TEXT),
        result_url=draw(st.none() | LINK),
        failure=draw(st.none() | st.sampled_from(Failure)),
        error_detail=draw(st.none() | TEXT),
        delivered_as=draw(st.sampled_from([None, "video", "document", "link"])),
        attempts=draw(COUNT),
        created_at=draw(MOMENT),
        submitted_at=draw(st.none() | MOMENT),
        finished_at=draw(st.none() | MOMENT),
        delivered_at=draw(st.none() | MOMENT),
        mode=draw(st.none() | MODE),
        first_frame_url=draw(st.none() | LINK),
        media_token=draw(st.sampled_from([None, "token"])),
    )
    return Task(**fields)


TASK = tasks()
TASKS = st.lists(TASK, max_size=40)
USER = st.builds(
    User,
    id=ID,
    username=st.none() | NAME,
    first_name=NAME,
    first_seen_at=MOMENT,
    last_seen_at=MOMENT,
    access=st.none() | st.sampled_from(Access),
    banned_at=st.none() | MOMENT,
    ban_reason=st.none() | TEXT,
    daily_limit=st.none() | COUNT,
    blocked_bot_at=st.none() | MOMENT,
)
CREDITS_LINE = st.one_of(
    st.builds(texts.admin_credits, CAPABILITIES.map(lambda c: c.display_name), st.none() | SECONDS),
    st.builds(texts.admin_credits_not_reported, CAPABILITIES.map(lambda c: c.display_name)),
    st.builds(texts.admin_credits_unavailable, CAPABILITIES.map(lambda c: c.display_name), TEXT),
)
COUNTS_BY_STATE = st.dictionaries(st.sampled_from(TaskState), COUNT)
HTML_TEXT = TEXT.map(escape)  # a broadcast or maintenance message: escaped plain text
# A broadcast with the admin's formatting, as python-telegram-bot makes HTML of their entities:
# escaped text in tags, nested, a code span inside any of them.
FORMATTED_HTML = st.recursive(
    HTML_TEXT | HTML_TEXT.map(lambda text: f"<code>{text}</code>"),
    lambda inner: st.builds(
        lambda tag, parts: f"<{tag}>{''.join(parts)}</{tag.split()[0]}>",
        st.sampled_from(
            [
                "b",
                "i",
                "u",
                "s",
                'span class="tg-spoiler"',
                'a href="https://example.com/?a=1&amp;b"',
            ]
        ),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)


class Kind(Enum):
    MESSAGE = "message"  # HTML: the text of a message
    CAPTION = "caption"  # HTML: a video's caption
    PART = "part"  # HTML put into messages (it must fit one too)
    PLAIN = "plain"  # plain text put into messages: a duration, a shortened text
    TOAST = "toast"  # plain text: a callback query's answer
    BUTTON = "button"  # plain text: a button's label
    REPORT = "report"  # HTML to the admins, of any length: the Outbox makes it fit
    TERMINAL = "terminal"  # plain text printed by the command line (bot/cli.py)
    DETAIL = "detail"  # raw text stored with a task; escaped and shortened where it is shown
    INVOICE_TITLE = "invoice_title"  # plain text: an invoice's title (1-32 characters)
    INVOICE_TEXT = "invoice_text"  # plain text: an invoice's description (1-255 characters)


@dataclass(frozen=True)
class Builder:
    kind: Kind
    args: st.SearchStrategy[tuple[Any, ...]]
    kwargs: st.SearchStrategy[dict[str, Any]]


def builder(kind: Kind, *args: st.SearchStrategy[Any], **kwargs: st.SearchStrategy[Any]) -> Builder:
    return Builder(kind, st.tuples(*args), st.fixed_dictionaries(kwargs))


M, P, T = Kind.MESSAGE, Kind.PART, Kind.TERMINAL
# Every public builder of bot.texts: what it makes, and the longest arguments it can get.
INSTANCE = st.builds(
    Instance,
    id=TEXT,
    host=TEXT,
    pid=COUNT,
    mode=st.sampled_from(["webhook", "polling"]),
    started_at=MOMENT,
    seen_at=MOMENT,
    tasks_held=COUNT,
)

PACK = st.builds(CreditPack, st.integers(1, MAX_CREDITS), st.integers(1, MAX_STARS))
PRICES = st.builds(
    Prices,
    st.integers(0, MAX_CREDITS),
    st.dictionaries(st.sampled_from(modes.ALL_MODES), st.integers(0, MAX_CREDITS)),
)
CHARGE = st.builds(TaskCharge, st.integers(0, MAX_CREDITS), st.sampled_from(ChargeState))

PURCHASE = st.builds(
    Purchase,
    charge_id=TEXT,
    user_id=ID,
    username=st.none() | NAME,
    credits=COUNT,
    stars=COUNT,
    at=MOMENT,
    refund=st.sampled_from(RefundState),
    refunded_at=st.none() | MOMENT,
    refunded_by=st.none() | ID,
)
SIGNED = st.integers(-BIGGEST, BIGGEST)
OUTSIDE_REFUND = st.builds(OutsideRefund, PURCHASE, COUNT, COUNT, st.booleans())
FOUND_CHARGE = st.builds(
    FoundCharge, st.sampled_from(FoundPrice), st.integers(0, MAX_CREDITS), COUNT
)
PRICE = st.builds(TaskPrice, st.integers(0, MAX_CREDITS), st.sampled_from(PriceState))
RECONCILIATION = st.builds(
    Reconciliation,
    COUNT,
    COUNT,
    st.lists(
        st.builds(
            Difference,
            st.sampled_from(Gap),
            TEXT,
            st.none() | ID,
            st.none() | COUNT,
            st.none() | COUNT,
        ),
        max_size=200,
    ),
    st.lists(st.tuples(ID, SIGNED, SIGNED), max_size=100),
    st.booleans(),
)
# The admins' money texts (bot.texts.money).
MONEY_BUILDERS: dict[str, Builder] = {
    "button_money_charge": builder(Kind.BUTTON, st.integers(0, MAX_CREDITS)),
    "button_money_return": builder(Kind.BUTTON, st.integers(0, MAX_CREDITS)),
    "money_already_refunded": builder(M, PURCHASE, MOMENT),
    "money_grant_done": builder(M, USER, SIGNED, COUNT, TEXT),
    "money_grant_short": builder(M, USER, SIGNED, COUNT),
    "money_no_such_charge": builder(M, TEXT),
    "money_purchases": builder(M, st.lists(PURCHASE, max_size=40), MOMENT),
    "money_reconcile_failed": builder(M, TEXT),
    "money_reconciled": builder(M, RECONCILIATION),
    "money_refund_no_answer": builder(M, PURCHASE, TEXT),
    "money_refund_refused": builder(M, PURCHASE, TEXT, st.none() | COUNT),
    "money_refund_spent": builder(M, PURCHASE, COUNT),
    "money_refund_was_refused": builder(M, PURCHASE),
    "money_refunded": builder(M, PURCHASE, COUNT, st.booleans()),
    "money_stats": builder(
        P,
        st.lists(st.builds(MoneyTotals, *[COUNT] * 9), min_size=3, max_size=3),
        st.builds(MoneyNow, COUNT, COUNT, SIGNED),
    ),
    "money_task_price": builder(P, PRICE, st.booleans()),
    "money_task_settled": builder(M, ID, PRICE, st.booleans()),
    "money_user": builder(
        P,
        SIGNED,
        st.lists(
            st.builds(
                LedgerLine,
                st.sampled_from(
                    [
                        "purchase",
                        "reserve",
                        "charge",
                        "release",
                        "grant",
                        "star_refund",
                        "refund_refused",
                        "recharge",
                        "recharge_release",
                    ]
                )
                | TEXT,
                SIGNED,
                st.none() | ID,
                st.none() | TEXT,
                st.none() | COUNT,
                TEXT,
                MOMENT,
            ),
            max_size=40,
        ),
        MOMENT,
    ),
    "money_user_refunded": builder(M, COUNT, COUNT, COUNT),
    "report_refunded_outside": builder(M, OUTSIDE_REFUND),
    "toast_money_settled": builder(Kind.TOAST, st.booleans()),
    "toast_money_settled_before": builder(Kind.TOAST, st.none() | PRICE),
}

BUILDERS: dict[str, Builder] = {
    "price_line": builder(P, CHARGE),
    "buy_menu": builder(M, COUNT, PRICES, st.integers(0, 1000)),
    "button_pack": builder(Kind.BUTTON, PACK),
    "invoice_title": builder(Kind.INVOICE_TITLE, PACK),
    "invoice_description": builder(Kind.INVOICE_TEXT, PACK, PRICES),
    "invoice_label": builder(Kind.PLAIN, PACK),
    "payment_received": builder(M, COUNT, COUNT),
    "payment_not_matched": builder(M, st.booleans()),
    "terms_default": builder(M, PRICES),
    "report_payment_not_matched": builder(Kind.REPORT, ID, TEXT, COUNT, TEXT, st.booleans()),
    "format_duration": builder(Kind.PLAIN, SECONDS),
    "format_number": builder(Kind.PLAIN, SECONDS, decimals=st.integers(0, 3)),
    "shorten": builder(
        Kind.PLAIN, TEXT, st.integers(0, texts.MESSAGE_LIMIT), keep_end=st.integers(0, 5000)
    ),
    "show_link": builder(P, LINK, st.integers(1, texts.MESSAGE_LIMIT), href=st.booleans()),
    "welcome": builder(M, NAME, CAPABILITIES),
    "bot_description": builder(Kind.PLAIN, CAPABILITIES),
    "help_text": builder(M, CAPABILITIES, payments=st.booleans()),
    "video_formats": builder(P, CAPABILITIES),
    "upload_failed": builder(M, TEXT),
    "upload_too_big_for_telegram": builder(M, SECONDS, COUNT),
    "first_frame_too_big": builder(M, SECONDS, COUNT),
    "caption_not_a_prompt": builder(M, PROMPT_PROBLEM),
    "link_blocked": builder(M, st.sampled_from(LinkRefusal), LINK, COUNT),
    "link_unreachable": builder(M, LINK),
    "link_not_found": builder(M, COUNT),
    "link_not_public": builder(M, COUNT),
    "link_refused": builder(M, COUNT),
    "not_a_video": builder(M, TEXT),
    "format_not_taken": builder(M, TEXT, CAPABILITIES),
    "video_too_big": builder(M, SECONDS, COUNT),
    "video_too_long": builder(M, SECONDS, SECONDS),
    "prompt_too_long": builder(M, COUNT, COUNT),
    "standing": builder(Kind.PLAIN, COUNT, st.none() | COUNT, COUNT, st.none() | COUNT),
    "translation_too_long": builder(M, COUNT),
    "mode_family": builder(Kind.BUTTON, st.sampled_from(modes.FAMILIES)),
    "describe_mode": builder(P, MODE),
    "confirmation_card": builder(
        M,
        LINK | st.builds(texts.uploaded_video),
        TEXT,
        st.none() | MODE,
        st.none() | LINK | st.builds(texts.uploaded_image),
        original_prompt=st.none() | TEXT,
        note=NOTE,
        replaced=st.booleans(),
    ),
    "ask_for_prompt": builder(
        M, problem=st.none() | PROMPT_PROBLEM, note=NOTE, replaced=st.booleans()
    ),
    "toast_already_submitted": builder(Kind.TOAST, ID),
    "language_menu": builder(M, LANGUAGE_NAME),
    "language_chosen": builder(M, LANGUAGE_NAME),
    "toast_language_chosen": builder(Kind.TOAST, LANGUAGE_NAME),
    "active_limit_reached": builder(M, COUNT, st.lists(ID, max_size=200)),
    "daily_limit_reached": builder(M, COUNT, SECONDS),
    "not_enough_credits": builder(M, COUNT),
    "state_label": builder(P, st.sampled_from(TaskState)),
    "status_card": builder(
        M,
        TASK,
        MOMENT,
        st.none() | COUNT,
        st.none() | st.builds(Estimate, st.none() | SECONDS, st.none() | SECONDS),
        st.none() | CHARGE,
    ),
    "result_caption": builder(Kind.CAPTION, TASK),
    "too_big_to_upload": builder(P, st.none() | SECONDS, COUNT),
    "result_as_link": builder(M, TASK, DELIVERY_REASON, SECONDS),
    "failure_reason": builder(P, st.sampled_from(Failure), st.none() | TEXT),
    "task_failed": builder(M, ID, st.sampled_from(Failure), st.none() | TEXT),
    "task_found_after_all": builder(M, ID),
    "task_not_found": builder(M, ID),
    "task_line": builder(P, TASK, MOMENT),
    "task_list": builder(M, TASKS, MOMENT),
    "task_detail": builder(M, TASK, MOMENT),
    "report_status_checks_failing": builder(M, ID, COUNT, TEXT),
    "report_checks_behind": builder(M, SECONDS, SECONDS, SECONDS, COUNT, st.booleans()),
    "report_found_after_all": builder(M, ID, TEXT, TEXT, st.none() | FOUND_CHARGE),
    "failure_name": builder(Kind.PLAIN, st.sampled_from(Failure).map(str)),
    "report_task_failed": builder(M, ID, ID, st.sampled_from(Failure).map(str) | TEXT, TEXT),
    "report_outcome_unknown": builder(M, TASK, TEXT, TEXT),
    "unexpected_in_status_check": builder(M, ID, TEXT),
    "unexpected_in_delivery": builder(M, ID, TEXT),
    "unexpected_in_callback": builder(M, ID, TEXT),
    "unexpected_in_task": builder(M, ID, TEXT),
    "detail_no_public_link": builder(Kind.DETAIL, LINK | st.none()),
    "detail_not_downloaded": builder(Kind.DETAIL, LINK | st.none()),
    "detail_expired": builder(Kind.DETAIL, COUNT),
    "detail_unexpected": builder(Kind.DETAIL, TEXT),
    "detail_unexpected_submit": builder(Kind.DETAIL, TEXT),
    "report_unhandled": builder(Kind.REPORT, st.none() | ID, TEXT, TEXT),
    "reports_held_back": builder(M, COUNT, SECONDS),
    "admin_usage": builder(M, st.sampled_from(sorted(ADMIN_HANDLERS.keys() - {"stats"}))),
    "admin_access_request": builder(M, USER),
    "admin_access_unchanged": builder(M, USER),
    "admin_access_decided": builder(M, USER, st.booleans(), NAME),
    "admin_maintenance_on": builder(M, HTML_TEXT | st.builds(texts.maintenance_default)),
    "admin_no_such_user": builder(M, TEXT),
    "admin_no_such_task": builder(M, ID),
    "admin_banned": builder(M, USER, st.none() | TEXT),
    "admin_was_not_banned": builder(M, USER),
    "admin_unbanned": builder(M, USER),
    "admin_limit_set": builder(M, USER, COUNT),
    "admin_stats": builder(
        M,
        users=st.tuples(COUNT, COUNT, COUNT),
        by_state=st.lists(COUNTS_BY_STATE, min_size=3, max_size=3),
        processing_times=st.lists(SECONDS, max_size=50).map(sorted),
        queued=COUNT,
        at_provider=COUNT,
        max_at_provider=COUNT,
        credits=CREDITS_LINE,
        instances=st.none() | st.lists(INSTANCE, max_size=40),
        poller=st.none() | TEXT,
        now=MOMENT,
    ),
    "admin_credits": builder(P, CAPABILITIES.map(lambda c: c.display_name), st.none() | SECONDS),
    "admin_credits_not_reported": builder(P, CAPABILITIES.map(lambda c: c.display_name)),
    "admin_chart_day": builder(Kind.PLAIN, st.dates()),  # drawn on /stats' picture
    "admin_credits_unavailable": builder(P, CAPABILITIES.map(lambda c: c.display_name), TEXT),
    "admin_user": builder(
        M,
        USER,
        now=MOMENT,
        daily_limit=COUNT,
        own_limit=st.booleans(),
        active=COUNT,
        recent=TASKS,
    ),
    "admin_task": builder(M, TASK, MOMENT),
    "admin_nothing_to_redeliver": builder(M, ID),
    "admin_redelivered": builder(M, ID, st.sampled_from(DeliveryResult).map(str)),
    "admin_redeliver_failed": builder(M, ID, st.sampled_from(DeliveryResult).map(str)),
    "button_broadcast_send": builder(Kind.BUTTON, COUNT),
    "broadcast_preview": builder(M, HTML_TEXT | FORMATTED_HTML, COUNT),
    "broadcast_copy_preview": builder(M, COUNT),
    "broadcast_not_copied": builder(M, TEXT),
    "broadcast_progress": builder(
        M,
        st.fixed_dictionaries({"sent": COUNT, "blocked": COUNT, "failed": COUNT}),
        COUNT,
        st.booleans(),
    ),
    "cli_cannot_save": builder(T, TEXT),
    "cli_needs_public_link": builder(T, NAME),
    "cli_no_such_file": builder(T, TEXT),
    "cli_modes_offered": builder(T, NAME, st.lists(MODE).map(tuple)),
    "cli_no_first_frame": builder(T, NAME),
    "cli_submitted": builder(T, NAME, TEXT),
    "cli_processing": builder(T, SECONDS),
    "cli_done_after": builder(T, SECONDS),
    "cli_job_failed": builder(T, st.sampled_from(Failure), st.none() | TEXT),
    "cli_gave_up": builder(T, SECONDS),
    "cli_refused": builder(T, st.sampled_from(Failure), st.none() | TEXT, TEXT),
    "cli_outcome_unknown": builder(T, TEXT),
    "cli_not_downloaded": builder(T, LINK),
    "cli_saved": builder(T, TEXT),
    **MONEY_BUILDERS,
}


def text_functions() -> dict[str, Any]:
    """The public functions of bot.texts (defined in its modules) that return text."""
    return {
        name: function
        for name, function in inspect.getmembers(texts, inspect.isfunction)
        if function.__module__.startswith(f"{texts.__name__}.")
        and not name.startswith("_")
        and typing.get_type_hints(function).get("return") is str
    }


def text_builders() -> set[str]:
    """The text functions that take arguments (those without are fixed texts, below)."""
    return {
        name
        for name, function in text_functions().items()
        if inspect.signature(function).parameters
    }


def test_every_text_builder_is_checked() -> None:
    builders = text_builders()
    assert builders - set(BUILDERS) == set(), "give these an entry in BUILDERS"
    assert set(BUILDERS) - builders == set(), "these are not text builders of bot.texts"


def assert_fits(text: str, kind: Kind) -> None:
    """The limit of `kind`, as Telegram counts; HTML must parse; no raw bidi control."""
    if kind in (Kind.TERMINAL, Kind.DETAIL):  # not for Telegram as it is
        assert text.strip()
        return
    if kind in (Kind.MESSAGE, Kind.CAPTION, Kind.PART, Kind.REPORT):
        shown, entities = _render(text, "HTML")  # raises on broken markup
        hrefs = [str(e.get("url", "")) for e in entities]
    else:
        shown, hrefs = text, []
    limit = {
        Kind.MESSAGE: texts.MESSAGE_LIMIT,
        Kind.CAPTION: texts.CAPTION_LIMIT,
        Kind.TOAST: texts.TOAST_LIMIT,
        Kind.INVOICE_TITLE: 32,
        Kind.INVOICE_TEXT: 255,
    }.get(kind, texts.MESSAGE_LIMIT)
    if kind != Kind.REPORT:
        assert texts.telegram_length(shown) <= limit
    if kind in (Kind.MESSAGE, Kind.CAPTION, Kind.TOAST, Kind.BUTTON, Kind.REPORT):
        assert shown.strip(), "Telegram refuses an empty text"
    if kind in (Kind.INVOICE_TITLE, Kind.INVOICE_TEXT):
        assert shown.strip(), "Telegram refuses an empty title or description"
    if kind == Kind.BUTTON:
        assert len(text.encode()) <= texts.BUTTON_LABEL_BYTES
    for seen in (text, shown, *hrefs):
        assert not set(BIDI) & set(seen), "a link's bidi control is shown raw"


@pytest.mark.parametrize("name", sorted(BUILDERS))
@LIMITS
@given(data=st.data())
def test_every_text_fits_telegrams_limits(name: str, data: st.DataObject) -> None:
    entry = BUILDERS[name]
    build = getattr(texts, name)
    text = build(*data.draw(entry.args, "args"), **data.draw(entry.kwargs, "kwargs"))
    assert_fits(text, entry.kind)


def constants() -> dict[str, str]:
    """The fixed texts: the text functions without arguments, and the string constants."""
    fixed = {
        name: function()
        for name, function in text_functions().items()
        if not inspect.signature(function).parameters
    }
    return fixed | {
        name: value
        for name, value in vars(texts).items()
        if name.isupper() and isinstance(value, str)
    }


@pytest.mark.parametrize("name", sorted(constants()))
def test_every_fixed_text_fits_too(name: str) -> None:
    kind = Kind.MESSAGE
    if name.upper().startswith("BUTTON_"):
        kind = Kind.BUTTON
    elif name.upper().startswith("TOAST_"):
        kind = Kind.TOAST
    elif name.upper().startswith(("CLI_", "DETAIL_")):
        kind = Kind.TERMINAL
    assert_fits(constants()[name], kind)


def test_usages_and_commands_fit_telegrams_limits() -> None:
    for command, _ in texts.admin_commands():
        if command != "stats":  # the one that takes no arguments
            assert_fits(texts.admin_usage(command), Kind.MESSAGE)
    for command, description in (
        *texts.commands(payments=True),
        *texts.admin_commands(payments=True),
    ):
        assert 1 <= len(command) <= 32  # setMyCommands' limits
        assert 1 <= len(description) <= 256
    for capabilities in (kie.capabilities("KIE.ai"), segmind.CAPABILITIES):
        description = texts.bot_description(capabilities)
        assert 1 <= texts.telegram_length(description) <= 512  # setMyDescription's
    assert 1 <= texts.telegram_length(texts.bot_short_description()) <= 120


@LIMITS
@given(
    draft_id=st.integers(1, BIGGEST),
    capabilities=CAPABILITIES,
    mode=MODE,
    first_frame_url=st.none() | LINK,
)
def test_the_cards_buttons_fit_telegrams_limits(
    draft_id: int, capabilities: Capabilities, mode: str, first_frame_url: str | None
) -> None:
    fields: dict[str, Any] = dict.fromkeys(column_names(Draft))
    fields.update(
        id=draft_id,
        user_id=BIGGEST,
        chat_id=BIGGEST,
        video_url="https://v.example.com/a.mp4",
        state=DraftState.PENDING,
        created_at=0.0,
        updated_at=0.0,
        mode=mode,
        first_frame_url=first_frame_url,
        awaiting_first_frame=False,
    )
    keyboard = card_keyboard(Draft(**fields), capabilities)
    for row in keyboard.inline_keyboard:
        for button in row:
            assert_fits(button.text, Kind.BUTTON)
            assert button.callback_data is not None
            assert 1 <= len(str(button.callback_data).encode()) <= 64


def test_a_long_link_is_shown_as_its_start_and_end() -> None:
    link = "https://videos.example.com/" + "a/" * 500 + "clip.mp4?token=xyz"
    shown = texts.show_link(link)
    assert shown.startswith("<code>https://videos.example.com/a/a/")
    assert shown.endswith("a/a/clip.mp4?token=xyz</code>")
    assert texts.telegram_length(_render(shown, "HTML")[0]) == texts.LINK_SHOWN
    assert "…" in shown
    # Where it must be opened (a result), the shortened text links to the whole address.
    assert texts.show_link(link, href=True).startswith(f'<a href="{link}">https://videos.')
    assert texts.show_link("https://example.com/a.mp4?a=1&b=2") == (
        "https://example.com/a.mp4?a=1&amp;b=2"
    )


def test_a_links_bidi_controls_are_shown_percent_encoded() -> None:
    link = "https://example.com/clip\u202egpj.exe"
    assert texts.show_link(link) == "https://example.com/clip%E2%80%AEgpj.exe"
    card = texts.confirmation_card(link, "make it red", None, None)
    assert "\u202e" not in card
    assert "clip%E2%80%AEgpj.exe" in card


# ----------------------------------------------------------------- the whole bot, end to end

LONG_VIDEO_LINK = "https://videos.example.com/" + "🎬" * 1000 + "\u202e4pm.exe/clip.mp4"
LONG_FRAME_LINK = "https://images.example.com/" + "🖼" * 1000 + "/first-frame.png"
EMOJI_PROMPT = "make it look like a watercolor painting " + "🎨" * 700


async def test_a_card_with_long_links_and_a_first_frame_is_shown_and_sends_them_whole(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    """Issue 11: with Segmind, a long video link plus a long first-frame link made a card
    Telegram refused; the user got "something went wrong" and could not add the frame."""
    async with FakeSegmind() as provider:
        await start_bot(
            provider="segmind", provider_base_url=provider.url, provider_api_key=TEST_SEGMIND_KEY
        )
        card = await chat.card(f"{LONG_VIDEO_LINK} {EMOJI_PROMPT}")
        assert await chat.press(card, "first frame") == texts.toast_waiting_for_first_frame()
        await chat.wait_for_text("Send an image for the first frame")
        new_card = await chat.card(LONG_FRAME_LINK)
        shown = new_card.rendered or ""
        assert "First frame: https://images.example.com/🖼" in shown
        assert "/first-frame.png" in shown
        assert EMOJI_PROMPT in shown  # a prompt the provider takes is shown whole
        await chat.press(new_card, "Submit")
        (job,) = await provider.wait_for_job()
        # Only the display was shortened: the provider gets the links as the user sent them.
        assert (job.video_url, job.first_frame_url) == (LONG_VIDEO_LINK, LONG_FRAME_LINK)
        assert job.prompt == EMOJI_PROMPT
        sent = [m.text or "" for m in telegram.messages(USER_ID)]
        assert texts.unexpected_error() not in sent
        assert not any("\u202e" in text for text in sent)


async def test_task_shows_a_task_with_a_long_link_an_emoji_prompt_and_a_long_failure(
    bot: BotApp, kie: FakeKie, chat: Chat
) -> None:
    """Issue 11: the admin's /task on such a task failed with "Message is too long"."""
    await chat.press(await chat.card(f"{LONG_VIDEO_LINK} {EMOJI_PROMPT}"), "Submit")
    (job,) = await kie.wait_for_task()
    kie.complete(job.task_id, success_flag=3, error_code=500, error_message="🔥 failed " * 400)
    admin = Chat(chat.telegram, ADMIN_ID)
    await admin.wait_for_text("failed: generation_failed")  # the report of it, first
    detail = await admin.say("/task 1")
    shown = detail.rendered or ""
    assert shown.startswith("Task #1\nState: ❌ Failed")
    assert f"Prompt: {EMOJI_PROMPT}\n" in shown
    assert "Video: https://videos.example.com/🎬" in shown
    assert "Detail: " in shown
    assert "\u202e" not in (detail.text or "")
