"""Telegram's own limits and faults: flood control, unchanged edits, and unexpected errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from bot.services.drafts import DraftService
from bot.services.tasks import cards
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, USER_ID, Chat


async def test_flood_control_on_sendvideo_is_waited_out_and_the_video_sent_once(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await chat.press(await chat.card(), "Submit")
    (task,) = await kie.wait_for_task()
    telegram.fail_next(
        "sendVideo", error_code=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    kie.complete(task.task_id)
    await chat.wait_for_text("Done", timeout=15)
    attempts = telegram.calls_to("sendVideo")
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 0.9  # waited as told
    assert len(chat.videos()) == 1


async def test_message_not_modified_is_harmless(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card()
    telegram.fail_next(
        "editMessageText",
        error_code=400,
        description="Bad Request: message is not modified: specified new message content and "
        "reply markup are exactly the same as a current content and reply markup of the message",
        times=2,
    )
    await chat.press(card, "Submit")
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id)
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")


async def test_the_status_card_is_edited_rarely_while_processing(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(status_edit_interval_seconds=1.0, poll_interval_seconds=0.05)
    assert await chat.press(await chat.card(), "Submit") == texts.toast_submitted()
    (task,) = await kie.wait_for_task()
    await asyncio.sleep(3.2)
    polls = len(kie.status_requests(task.task_id))
    edits = len(telegram.calls_to("editMessageText", chat_id=USER_ID))
    assert polls >= 20  # polled often...
    assert 2 <= edits <= 6  # ...but the card changed about once a second (+ state changes)
    status = telegram.messages(USER_ID)[-1].rendered or ""
    assert "Elapsed: 3 sec" in status or "Elapsed: 2 sec" in status


async def test_many_status_cards_are_refreshed_less_often_to_leave_room_for_deliveries(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 6 cards at 2 refreshes a second at most: each card every 3 s, not every second.
    monkeypatch.setattr(cards, "CARD_EDITS_PER_SECOND", 2.0)
    monkeypatch.setattr(cards, "CARD_COUNT_MAX_AGE", 0.2)
    await start_bot(status_edit_interval_seconds=1.0, poll_interval_seconds=0.2)
    chats = [Chat(telegram, 7000 + i) for i in range(6)]
    for chat in chats:
        assert await chat.press(await chat.card(), "Submit") == texts.toast_submitted()
    await kie.wait_for_task(count=6)
    await asyncio.sleep(1.0)  # the cards have shown "processing" by now
    before = len(telegram.calls_to("editMessageText"))
    await asyncio.sleep(4.5)
    refreshes = len(telegram.calls_to("editMessageText")) - before
    # Every second, as STATUS_EDIT_INTERVAL_SECONDS says, would be about 27; every 3 s, 6 to 12.
    assert 4 <= refreshes <= 14, refreshes


async def test_an_unexpected_error_apologises_and_reports_to_admins(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(DraftService, "receive_text", broken)
    reply = await chat.say("https://v.example.com/a.mp4 make it red")
    assert reply.text == texts.unexpected_error()
    report = await Chat(telegram, ADMIN_ID).wait_for_text("disk on fire")
    assert "Traceback" in (report.rendered or "")
    assert kie.requests == []


async def test_a_report_too_long_or_odd_for_html_still_reaches_the_admins(
    bot: BotApp, telegram: FakeTelegram, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError('"quoted" & <tagged> ' * 400)

    monkeypatch.setattr(DraftService, "receive_text", broken)
    await chat.say("https://v.example.com/a.mp4 make it red")
    report = await Chat(telegram, ADMIN_ID).wait_for_text("Unhandled error")
    assert len(report.text or "") <= 4096
    assert '"quoted" & <tagged>' in (report.rendered or "")
