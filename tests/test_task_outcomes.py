"""How tasks end: provider refusals and failures, time-outs, lost answers, and big results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from bot.domain.failures import Failure
from bot.providers.kie import KieProvider
from bot.services.tasks.policy import SUBMIT_WAITS
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, USER_ID, Chat


async def submit(chat: Chat) -> None:
    card = await chat.card()
    await chat.press(card, "Submit")


async def test_insufficient_credits_inside_http_200_is_told_plainly(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    kie.refuse_next_generate(402, "Credits insufficient", http_status=200)
    await submit(chat)
    notice = await chat.wait_for_text("failed")
    assert notice.text == texts.task_failed(1, Failure.INSUFFICIENT_CREDITS, None)
    admin = await Chat(telegram, ADMIN_ID).wait_for_text("insufficient_credits")
    assert "Credits insufficient" in (admin.rendered or "")
    assert len(kie.generate_requests()) == 1
    card = await chat.wait_for_text("Task #1")
    assert "Failed" in (card.rendered or "")
    assert kie.status_requests() == []


@pytest.mark.parametrize("code", [429, 455])
async def test_a_busy_provider_is_waited_out_in_the_queue(
    bot: BotApp, kie: FakeKie, chat: Chat, code: int
) -> None:
    kie.refuse_next_generate(code, "not now", times=6)  # more than one submit's own retries
    await submit(chat)
    await kie.wait_for_task()
    await chat.wait_for_text("Processing")
    assert len(kie.generate_requests()) == 7
    assert not [m for m in chat.telegram.messages(USER_ID) if "failed" in (m.rendered or "")]


async def test_maintenance_that_lasts_is_explained_in_the_end(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 36 refused submits; KIE's own 20-per-10-s pacing (tested apart) would make this slow.
    monkeypatch.setattr("bot.providers.kie.SUBMIT_RATE", (1000, 1.0))
    await start_bot(provider_retry_delay_seconds=0.001)
    kie.refuse_next_generate(455, "Service Unavailable", times=1000)
    await submit(chat)
    notice = await chat.wait_for_text("failed", timeout=30)
    assert texts.failure_reason(Failure.MAINTENANCE, None) in (notice.rendered or "")
    assert len(kie.generate_requests()) == 4 * (SUBMIT_WAITS + 1)  # 4 tries per submission
    assert kie.tasks == {}


async def test_failed_generation_passes_on_the_providers_message(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await submit(chat)
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=3, error_code=400, error_message="Prompt <blocked>")
    notice = await chat.wait_for_text("failed")
    assert "Prompt <blocked>" in (notice.rendered or "")  # escaped, and shown as it was
    assert "No video will come" in (notice.rendered or "")
    admin = await Chat(telegram, ADMIN_ID).wait_for_text("generation_failed")
    assert task.task_id in (admin.rendered or "")
    assert chat.videos() == []


async def test_callback_failed_flag_is_delivered_like_success(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await submit(chat)
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=4)
    await telegram.wait_for("sendVideo")
    assert len(chat.videos()) == 1


async def test_a_task_that_never_finishes_times_out(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat
) -> None:
    await start_bot(task_timeout_seconds=1.0)
    await submit(chat)
    notice = await chat.wait_for_text("failed", timeout=15)
    assert texts.failure_reason(Failure.TIMED_OUT, None) in (notice.rendered or "")
    polls = len(kie.status_requests())
    assert polls >= 2


async def test_a_lost_submit_answer_is_not_resent_and_is_explained(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(provider_timeout_seconds=0.5)
    kie.hang_next_generate(3.0, accept=True)
    await submit(chat)
    notice = await chat.wait_for_text("charging you twice")
    assert "Task #1" in (notice.rendered or "")
    await Chat(telegram, ADMIN_ID).wait_for_text("may or may not be running")
    assert len(kie.generate_requests()) == 1


async def test_a_result_over_the_upload_limit_is_sent_as_a_link(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await submit(chat)
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=1, result_size=60 * 1024 * 1024)
    notice = await chat.wait_for_text("a link to the video instead")
    assert kie.result_url(task.task_id) in (notice.rendered or "")
    assert "60 MB" in (notice.rendered or "")
    assert "14 days" in (notice.rendered or "")
    assert telegram.calls_to("sendVideo") == []
    assert kie.file_downloads.get(task.task_id, 0) <= 1  # not downloaded in full, not twice
    await chat.wait_for_text("Done")


async def test_a_user_who_blocked_the_bot_does_not_stall_delivery(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await submit(chat)
    (task,) = await kie.wait_for_task()
    telegram.block(USER_ID)
    kie.complete(task.task_id)
    await telegram.wait_for("sendVideo")
    detail = await Chat(telegram, ADMIN_ID).say("/status 1")  # the admin has no task #1
    assert detail.text == texts.task_not_found(1)
    telegram.unblock(USER_ID)
    status = await chat.say("/status 1")
    assert "could not be sent" in (status.rendered or "")
    assert len(telegram.calls_to("sendVideo")) == 1  # not retried: the user is unreachable


async def test_a_video_telegram_refuses_is_sent_as_a_document(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await submit(chat)
    (task,) = await kie.wait_for_task()
    telegram.fail_next("sendVideo", error_code=400, description="Bad Request: wrong file type")
    kie.complete(task.task_id)
    await chat.wait_for_text("Done")
    documents = [m for m in telegram.messages(USER_ID) if m.kind == "document"]
    assert len(documents) == 1
    assert chat.videos() == []


async def test_when_telegram_refuses_every_upload_the_result_comes_as_a_link(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await submit(chat)
    (task,) = await kie.wait_for_task()
    for method in ("sendVideo", "sendDocument"):
        telegram.fail_next(method, error_code=400, description="Bad Request: file is broken")
    kie.complete(task.task_id)
    notice = (await chat.wait_for_text("a link to the video instead")).rendered or ""
    assert kie.result_url(task.task_id) in notice
    assert "Telegram would not take the video file" in notice
    assert "MB" not in notice  # the size is not the reason here


async def test_flood_control_that_outlasts_the_limiters_retries_is_retried_later(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await submit(chat)
    (task,) = await kie.wait_for_task()
    telegram.fail_next(
        "sendVideo",
        error_code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        times=4,  # one more than the rate limiter's own retries
    )
    kie.complete(task.task_id)
    await chat.wait_for_text("Done", timeout=20)
    assert len(chat.videos()) == 1
    assert not [m for m in telegram.messages(ADMIN_ID) if "Unexpected" in (m.rendered or "")]


async def test_a_result_url_that_cannot_be_fetched_ends_the_task_with_a_sentence(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kie, "result_url", lambda task_id: "https://[::1/result.mp4")
    await submit(chat)
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id)
    notice = await chat.wait_for_text("failed", timeout=20)
    assert texts.failure_reason(Failure.RESULT_UNAVAILABLE, None) in (notice.rendered or "")
    assert telegram.calls_to("sendVideo") == []


async def test_an_unforeseen_error_while_checking_is_counted_reported_and_times_out(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken_status(self: KieProvider, job_id: str) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(KieProvider, "status", broken_status)
    await start_bot(task_timeout_seconds=1.5)
    await submit(chat)
    notice = await chat.wait_for_text("failed", timeout=20)
    assert texts.failure_reason(Failure.TIMED_OUT, None) in (notice.rendered or "")
    await Chat(telegram, ADMIN_ID).wait_for_text("surprise")
