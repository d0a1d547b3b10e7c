"""Payments in Telegram Stars (PAYMENTS=stars), spending side, end to end through the fake
Telegram and the fake providers: a user's credits against many Submits at once, every way a
task can end with the balance checked after each, and a restart in the middle.

What a task's price becomes (storage/ledger.py): reserved by Submit in the transaction that
creates the task, charged when the provider accepts it, returned when it ends without a video
(refused, failed at the provider, timed out, cancelled while queued), held while its outcome is
unknown. Each at most once per task, and the cached balance always the sum of the rows.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from telegram.ext import BaseUpdateProcessor

from bot import texts
from bot.app import BotApp
from bot.domain.failures import Failure
from bot.domain.records import TaskState
from bot.updates import PerChatUpdateProcessor
from storage.db import Database
from storage.ledger import LedgerRepository, Movement, Reservation
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.segmind import TEST_SEGMIND_KEY, FakeSegmind
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, PROMPT, USER_ID, Chat
from tests.test_webhook import webhook_settings

PRICE = 10
PAYMENTS: dict[str, Any] = {
    "payments": "stars",
    "credit_packs": "10:50,50:225",
    "task_price": PRICE,
}
# The per-user limits out of the way: credits are the limit that binds.
ROOMY: dict[str, Any] = {"daily_task_limit": 1000, "max_active_tasks_per_user": 1000}

StartBot = Callable[..., Awaitable[BotApp]]


@pytest.fixture
async def ledger(database: TestDatabase) -> AsyncIterator[LedgerRepository]:
    """The ledger of the bot's database, read (and granted to) from the test's own connection."""
    db = await Database.open(database.target, pool_size=2)
    yield LedgerRepository(db)
    await db.close()


def link(n: int) -> str:
    return f"https://v.example.com/clip-{n}.mp4 {PROMPT}"


async def funded(chat: Chat, ledger: LedgerRepository, credits: int) -> None:
    """The user exists (a /start) and has `credits`, granted by an admin."""
    await chat.say("/start")
    if credits:
        balance = await ledger.grant(chat.user_id, credits, "test", ADMIN_ID, time.time())
        assert balance == credits


async def submit(chat: Chat, n: int = 0) -> str:
    """A new card, Submit pressed; Telegram's toast."""
    card = await chat.card(link(n))
    return await chat.press(card, "Submit")


def movements(database: TestDatabase, task_id: int) -> Counter[str]:
    """The task's ledger rows, by kind."""
    with connect(database) as conn:
        rows = conn.execute("SELECT kind FROM ledger WHERE task_id = ?", (task_id,)).fetchall()
    return Counter(str(kind) for (kind,) in rows)


def all_movements(database: TestDatabase) -> Counter[str]:
    with connect(database) as conn:
        rows = conn.execute("SELECT kind FROM ledger").fetchall()
    return Counter(str(kind) for (kind,) in rows)


def task_states(database: TestDatabase) -> dict[int, str]:
    with connect(database) as conn:
        rows = conn.execute("SELECT id, state FROM tasks").fetchall()
    return {int(t): str(s) for t, s in rows}


async def reservation_becomes(
    ledger: LedgerRepository,
    task_id: int,
    *,
    charged: bool,
    released: bool,
    timeout: float = 20.0,
) -> Reservation:
    """The task's reservation once it is charged and/or released as given."""
    deadline = time.monotonic() + timeout
    while True:
        found = await ledger.reservation(task_id)
        if found is not None and (found.charged, found.released) == (charged, released):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"task {task_id}: reservation {found}, not charged={charged} released={released}"
            )
        await asyncio.sleep(0.05)


async def consistent(ledger: LedgerRepository) -> None:
    """Every cached balance is the sum of its user's rows."""
    assert await ledger.mismatches() == []


# ------------------------------------------------------------------ many Submits, one balance


def toast(telegram: FakeTelegram, query_id: str) -> str:
    answer = telegram.callback_answer(query_id)
    assert answer is not None
    return str(answer.params.get("text", ""))


class UnorderedUpdates(PerChatUpdateProcessor):
    """Every update handled as soon as it arrives, a chat's too (the bot's own processor handles
    a chat's updates one at a time): 50 Submits of one user then race inside the bot."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._all_at_once = asyncio.Semaphore(max_concurrent_updates)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        async with self._all_at_once:
            await coroutine


@pytest.mark.parametrize("order", ["per-chat", "unordered"])
async def test_fifty_submits_at_once_against_credits_for_three_make_exactly_three_tasks(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    order: str,
) -> None:
    """50 cards open at once, then 50 presses of Submit sent without waiting for any answer.

    One balance means one user, and so one private chat, where the bot keeps one card open at a
    time (a new link retires the card before it) and handles the chat's updates one at a time
    (bot/updates.py). Used as it is, the bot never lets one user's Submits meet at the ledger.
    So the test makes the worst case: 50 cards, the 49 retired ones opened again in the
    database, and 50 presses sent at once. With the bot's own processor ("per-chat") the 50
    claims run one after another, beside the rest of the bot (the tracker submitting and
    charging the first tasks while later presses are claimed). "unordered" also takes the
    ordering away (a processor that runs every update at once, up to the bot's 64): the 50
    claims then race inside the bot, on the engine's locks alone (SQLite's write lock,
    PostgreSQL's FOR UPDATE on the user's row). Either way exactly 3 go.
    """
    if order == "unordered":
        monkeypatch.setattr("bot.app.PerChatUpdateProcessor", UnorderedUpdates)
    app = await start_bot(**PAYMENTS, **ROOMY)
    processor: BaseUpdateProcessor = app.application.update_processor
    assert isinstance(processor, UnorderedUpdates) == (order == "unordered")
    await funded(chat, ledger, 3 * PRICE)
    cards = [await chat.card(link(n)) for n in range(50)]
    submits = [chat.button_data(card, "Submit") for card in cards]
    with connect(database) as conn:  # as if the 49 cards before the last were still open
        reopened = conn.execute(
            "UPDATE drafts SET state = 'pending' WHERE user_id = ? AND state = 'replaced'",
            (USER_ID,),
        ).rowcount
    assert reopened == 49

    queries = [
        telegram.press_button(USER_ID, card.message_id, data)
        for card, data in zip(cards, submits, strict=True)
    ]
    await telegram.wait_until(
        lambda: all(telegram.callback_answer(q) is not None for q in queries),
        timeout=120,
        what="the 50 presses to be answered",
    )

    toasts = Counter(toast(telegram, q) for q in queries)
    assert toasts == {texts.toast_submitted(): 3, texts.toast_not_now(): 47}
    refusal = texts.not_enough_credits(0)
    await telegram.wait_until(
        lambda: sum(m.text == refusal for m in telegram.messages(USER_ID)) >= 47,
        timeout=60,
        what="47 refusals",
    )
    assert task_states(database).keys() == {1, 2, 3}
    await kie.wait_for_task(count=3, timeout=30)
    for task_id in (1, 2, 3):
        await reservation_becomes(ledger, task_id, charged=True, released=False)
        assert movements(database, task_id) == {Movement.RESERVE: 1, Movement.CHARGE: 1}
    assert all_movements(database) == {Movement.GRANT: 1, Movement.RESERVE: 3, Movement.CHARGE: 3}
    assert await ledger.balance(USER_ID) == 0
    await consistent(ledger)
    await asyncio.sleep(0.5)
    assert len(kie.tasks) == 3
    assert sum(m.text == refusal for m in telegram.messages(USER_ID)) == 47
    with connect(database) as conn:
        pending = conn.execute(
            "SELECT COUNT(*) FROM drafts WHERE user_id = ? AND state = 'pending'", (USER_ID,)
        ).fetchone()[0]
    assert pending == 47  # each refused card stays, to be submitted once credits are bought


# ------------------------------------------------------------------ every way a task ends


async def test_a_delivered_task_is_charged_once(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    await start_bot(**PAYMENTS)
    await funded(chat, ledger, PRICE + 5)
    assert await submit(chat) == texts.toast_submitted()
    assert await ledger.balance(USER_ID) == 5  # reserved as the task was created
    (task,) = await kie.wait_for_task()
    await reservation_becomes(ledger, 1, charged=True, released=False)

    kie.complete(task.task_id)
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")

    assert await ledger.balance(USER_ID) == 5
    assert movements(database, 1) == {Movement.RESERVE: 1, Movement.CHARGE: 1}
    await consistent(ledger)


async def test_a_task_the_provider_refuses_at_submit_gets_its_price_back(
    start_bot: StartBot, kie: FakeKie, chat: Chat, ledger: LedgerRepository, database: TestDatabase
) -> None:
    await start_bot(**PAYMENTS)
    await funded(chat, ledger, PRICE)
    kie.refuse_next_generate(402, "Credits insufficient", http_status=200)
    await submit(chat)
    await chat.wait_for_text("failed")

    await reservation_becomes(ledger, 1, charged=False, released=True)
    assert await ledger.balance(USER_ID) == PRICE
    assert movements(database, 1) == {Movement.RESERVE: 1, Movement.RELEASE: 1}
    await consistent(ledger)


async def test_a_task_that_fails_at_the_provider_is_charged_then_returned(
    start_bot: StartBot, kie: FakeKie, chat: Chat, ledger: LedgerRepository, database: TestDatabase
) -> None:
    await start_bot(**PAYMENTS)
    await funded(chat, ledger, PRICE)
    await submit(chat)
    (task,) = await kie.wait_for_task()
    await reservation_becomes(ledger, 1, charged=True, released=False)
    assert await ledger.balance(USER_ID) == 0

    kie.complete(task.task_id, success_flag=3, error_code=400, error_message="Prompt blocked")
    await chat.wait_for_text("failed")

    await reservation_becomes(ledger, 1, charged=True, released=True)
    assert await ledger.balance(USER_ID) == PRICE
    assert movements(database, 1) == {
        Movement.RESERVE: 1,
        Movement.CHARGE: 1,
        Movement.RELEASE: 1,
    }
    await consistent(ledger)


async def test_a_task_that_times_out_gets_its_price_back(
    start_bot: StartBot, kie: FakeKie, chat: Chat, ledger: LedgerRepository, database: TestDatabase
) -> None:
    await start_bot(**PAYMENTS, task_timeout_seconds=1.0)
    await funded(chat, ledger, PRICE)
    await submit(chat)
    await kie.wait_for_task()
    notice = await chat.wait_for_text("failed", timeout=20)
    assert texts.failure_reason(Failure.TIMED_OUT, None) in (notice.rendered or "")

    await reservation_becomes(ledger, 1, charged=True, released=True)
    assert await ledger.balance(USER_ID) == PRICE
    assert movements(database, 1) == {
        Movement.RESERVE: 1,
        Movement.CHARGE: 1,
        Movement.RELEASE: 1,
    }
    await consistent(ledger)


async def test_a_task_cancelled_while_queued_gets_its_price_back(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    await start_bot(**PAYMENTS, max_concurrent_tasks=1)
    await funded(chat, ledger, 2 * PRICE)
    await submit(chat, 1)
    await kie.wait_for_task()
    queued = await chat.card(link(2))
    await chat.press(queued, "Submit")
    await chat.wait_for_text("Place in the queue")
    assert await ledger.balance(USER_ID) == 0

    assert await chat.press(queued, "Cancel") == texts.toast_task_cancelled()

    await reservation_becomes(ledger, 2, charged=False, released=True)
    assert await ledger.balance(USER_ID) == PRICE
    assert movements(database, 2) == {Movement.RESERVE: 1, Movement.RELEASE: 1}
    assert movements(database, 1) == {Movement.RESERVE: 1, Movement.CHARGE: 1}
    assert len(kie.tasks) == 1
    await consistent(ledger)


async def test_a_task_whose_outcome_is_unknown_keeps_its_price_held(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """The submit got no answer: the job may exist and cost; an admin decides."""
    await start_bot(**PAYMENTS, provider_timeout_seconds=0.5)
    await funded(chat, ledger, PRICE)
    kie.hang_next_generate(3.0, accept=True)
    await submit(chat)
    await chat.wait_for_text("charging you twice")
    await Chat(telegram, ADMIN_ID).wait_for_text("may or may not be running")

    assert task_states(database) == {1: TaskState.UNKNOWN}
    await asyncio.sleep(1.0)  # nothing settles it by itself
    found = await ledger.reservation(1)
    assert found is not None
    assert found.held
    assert await ledger.balance(USER_ID) == 0
    assert movements(database, 1) == {Movement.RESERVE: 1}
    await consistent(ledger)


@pytest.mark.parametrize("ending", ["delivered", "failed"])
async def test_a_task_found_after_all_by_its_callback_is_charged_once(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
    ending: str,
) -> None:
    """Outcome unknown, then the provider calls back: the job existed after all. Its held price
    is spent (charged once: a repeated callback changes nothing), as if the submit had been
    answered; a job that failed at the provider is then returned, as any other."""
    await start_bot(**PAYMENTS, **webhook_settings(provider_timeout_seconds=0.5))
    await funded(chat, ledger, PRICE)
    kie.hang_next_generate(3.0, accept=True)
    await submit(chat)
    await chat.wait_for_text("charging you twice")
    (task,) = await kie.wait_for_task()
    assert task_states(database) == {1: TaskState.UNKNOWN}

    kie.complete(task.task_id, success_flag=1 if ending == "delivered" else 3)
    assert (await kie.send_callback(task.task_id)).status_code == 200
    await chat.wait_for_text(texts.task_found_after_all(1))
    assert (await kie.send_callback(task.task_id)).status_code == 200  # a repeated callback

    if ending == "delivered":
        await chat.wait_for_text("Done")
        # Charged on adoption (Callbacks._adopt, commit 32dfad2); were it not, the delivery's
        # claim would charge it (Delivering.deliver): either way once.
        await reservation_becomes(ledger, 1, charged=True, released=False)
        assert await ledger.balance(USER_ID) == 0
        assert movements(database, 1) == {Movement.RESERVE: 1, Movement.CHARGE: 1}
        assert len(chat.videos()) == 1
    else:
        await telegram.wait_until(
            lambda: task_states(database) == {1: TaskState.FAILED}, what="task 1 failed"
        )
        # Charged on adoption (only Callbacks._adopt does it on this path), then returned.
        await reservation_becomes(ledger, 1, charged=True, released=True)
        assert await ledger.balance(USER_ID) == PRICE
        assert movements(database, 1) == {
            Movement.RESERVE: 1,
            Movement.CHARGE: 1,
            Movement.RELEASE: 1,
        }
        assert chat.videos() == []
    await consistent(ledger)


async def test_the_days_free_tasks_come_first(
    start_bot: StartBot, kie: FakeKie, chat: Chat, ledger: LedgerRepository, database: TestDatabase
) -> None:
    await start_bot(**PAYMENTS, **ROOMY, free_tasks_per_day=1)
    await funded(chat, ledger, 0)

    assert await submit(chat, 1) == texts.toast_submitted()  # free: no credits needed
    card = await chat.card(link(2))
    assert await chat.press(card, "Submit") == texts.toast_not_now()
    await chat.wait_for_text(texts.not_enough_credits(0))
    await ledger.grant(USER_ID, PRICE, "test", ADMIN_ID, time.time())
    assert await chat.press(card, "Submit") == texts.toast_submitted()  # the card stayed

    await kie.wait_for_task(count=2)
    assert await ledger.reservation(1) is None
    await reservation_becomes(ledger, 2, charged=True, released=False)
    assert await ledger.balance(USER_ID) == 0
    assert movements(database, 1) == {}
    await consistent(ledger)


async def test_admins_submit_for_free(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    await start_bot(**PAYMENTS)
    admin = Chat(telegram, ADMIN_ID)
    await funded(admin, ledger, 0)

    assert await submit(admin) == texts.toast_submitted()
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id)
    await admin.wait_for_text("Done")

    assert await ledger.reservation(1) is None
    assert await ledger.balance(ADMIN_ID) == 0
    assert all_movements(database) == {}
    await consistent(ledger)


async def test_each_mode_has_its_own_price(
    start_bot: StartBot,
    telegram: FakeTelegram,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """KIE has no modes; Segmind (and Luma) have: TASK_PRICE_BY_MODE prices some of them."""
    async with FakeSegmind() as segmind:
        await start_bot(
            **PAYMENTS,
            **ROOMY,
            provider="segmind",
            provider_base_url=segmind.url,
            provider_api_key=TEST_SEGMIND_KEY,
            default_mode="adhere_1",
            task_price_by_mode="reimagine_3:25",
        )
        await funded(chat, ledger, PRICE + 25)
        assert await submit(chat, 1) == texts.toast_submitted()  # adhere_1: TASK_PRICE
        assert await ledger.balance(USER_ID) == 25
        card = await chat.card(link(2))
        await chat.press(card, "Reimagine")
        await chat.press(card, "3")
        assert await chat.press(card, "Submit") == texts.toast_submitted()
        assert await ledger.balance(USER_ID) == 0
        jobs = await segmind.wait_for_job(count=2)
        assert sorted(job.mode for job in jobs) == ["adhere_1", "reimagine_3"]
        first = await reservation_becomes(ledger, 1, charged=True, released=False)
        second = await reservation_becomes(ledger, 2, charged=True, released=False)
        assert (first.credits, second.credits) == (PRICE, 25)
        third = await chat.card(link(3))
        assert await chat.press(third, "Submit") == texts.toast_not_now()
        await chat.wait_for_text(texts.not_enough_credits(0))
        await consistent(ledger)


# ------------------------------------------------------------------ a restart in the middle


async def test_a_restart_in_the_middle_charges_and_returns_each_task_once(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """Four tasks, two at a time at the provider. Stopped with one delivered, two processing
    and one queued; while the bot is down one of the two finishes and the other fails. A new
    bot on the same database (and a third after it) delivers, returns and submits what is left:
    each task charged at most once, returned at most once."""
    first = await start_bot(**PAYMENTS, **ROOMY, max_concurrent_tasks=2)
    await funded(chat, ledger, 4 * PRICE)
    for n in range(1, 5):
        assert await submit(chat, n) == texts.toast_submitted()
    one, two = await kie.wait_for_task(count=2)
    kie.complete(one.task_id)
    await telegram.wait_for("sendVideo")
    *_, three = await kie.wait_for_task(count=3)  # the slot freed: the third goes
    await reservation_becomes(ledger, 3, charged=True, released=False)
    await first.stop()
    assert task_states(database) == {
        1: TaskState.DELIVERED,
        2: TaskState.PROCESSING,
        3: TaskState.PROCESSING,
        4: TaskState.QUEUED,
    }
    held = await ledger.reservation(4)
    assert held is not None
    assert held.held
    assert await ledger.balance(USER_ID) == 0

    kie.complete(two.task_id)
    kie.complete(three.task_id, success_flag=3, error_message="unsafe content")
    second = await start_bot(**PAYMENTS, **ROOMY, max_concurrent_tasks=2)
    *_, four = await kie.wait_for_task(count=4, timeout=20)
    await reservation_becomes(ledger, 3, charged=True, released=True)
    await reservation_becomes(ledger, 4, charged=True, released=False)
    await second.stop()
    kie.complete(four.task_id)
    await start_bot(**PAYMENTS, **ROOMY, max_concurrent_tasks=2)
    await telegram.wait_until(
        lambda: (
            task_states(database) == {1: "delivered", 2: "delivered", 3: "failed", 4: "delivered"}
        ),
        timeout=30,
        what="every task ended",
    )
    await asyncio.sleep(1.0)  # room for a second charge or return, were there one

    for task_id in (1, 2, 4):
        assert movements(database, task_id) == {Movement.RESERVE: 1, Movement.CHARGE: 1}
    assert movements(database, 3) == {Movement.RESERVE: 1, Movement.CHARGE: 1, Movement.RELEASE: 1}
    assert await ledger.balance(USER_ID) == PRICE  # the failed one's price came back
    assert len(chat.videos()) == 3
    assert len(kie.generate_requests()) == 4
    await consistent(ledger)


async def test_a_crash_between_the_providers_answer_and_the_charge_still_charges_once(
    start_bot: StartBot,
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    ledger: LedgerRepository,
    database: TestDatabase,
) -> None:
    """The row says "processing" and the charge is written next, in a transaction of its own:
    a kill between the two leaves the price reserved but not charged. The task is still charged
    (once) by the time it is delivered."""
    first = await start_bot(**PAYMENTS)
    await funded(chat, ledger, PRICE)
    await submit(chat)
    (task,) = await kie.wait_for_task()
    await reservation_becomes(ledger, 1, charged=True, released=False)
    await first.stop()
    with connect(database) as conn:  # as if killed before the charge was written (0 credits)
        conn.execute("DELETE FROM ledger WHERE task_id = 1 AND kind = 'charge'")

    kie.complete(task.task_id)
    await start_bot(**PAYMENTS)
    await chat.wait_for_text("Done")

    await reservation_becomes(ledger, 1, charged=True, released=False)
    assert movements(database, 1) == {Movement.RESERVE: 1, Movement.CHARGE: 1}
    assert await ledger.balance(USER_ID) == 0
    await consistent(ledger)
