"""Webhook mode: Telegram pushes updates and the provider calls back; each result sent once."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.app import BotApp, StartupError
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie, FakeTask
from tests.fakes.telegram import FakeTelegram
from tests.helpers import OTHER_USER_ID, USER_ID, Chat

HMAC_KEY = "kie-hmac-test-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_settings(**overrides: Any) -> dict[str, Any]:
    port = free_port()
    values: dict[str, Any] = {
        "public_url": f"http://127.0.0.1:{port}",
        "web_host": "127.0.0.1",
        "web_port": port,
        "safety_poll_delay_seconds": 60.0,
        "safety_poll_interval_seconds": 60.0,
    }
    return values | overrides


@pytest.fixture
async def webhook_bot(start_bot: Callable[..., Any]) -> BotApp:
    app: BotApp = await start_bot(**webhook_settings())
    return app


async def submitted(chat: Chat, kie: FakeKie, count: int = 1) -> FakeTask:
    await chat.press(await chat.card(), "Submit")
    tasks = await kie.wait_for_task(count=count)
    await chat.wait_for_text(f"Task #{count}")
    await chat.wait_until_at_provider()
    return tasks[-1]


def task_row(database: TestDatabase, task_id: int) -> tuple[Any, ...]:
    """What a callback could change about a task (not the card's refresh time, which the
    tracker updates every STATUS_EDIT_INTERVAL_SECONDS anyway)."""
    with connect(database) as conn:
        row = conn.execute(
            "SELECT state, provider_task_id, result_url, failure, error_detail, finished_at, "
            "delivered_at, attempts FROM tasks WHERE id = ?",
            (task_id,),
        ).fetchone()
        return tuple(row)


async def test_updates_are_pushed_and_the_result_comes_by_callback_without_polling(
    webhook_bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    assert telegram.webhook_url == webhook_bot.settings.public_url + "/telegram"
    task = await submitted(chat, kie)
    assert task.callback_url is not None
    assert task.callback_url.startswith(webhook_bot.settings.public_url + "/callbacks/kie/")
    assert len(task.callback_url.rsplit("/", 1)[1]) >= 22  # >= 128 bits of randomness

    kie.complete(task.task_id)
    started = time.monotonic()
    response = await kie.send_callback(task.task_id)
    assert response.status_code == 200
    assert time.monotonic() - started < 0.5  # answered at once; the work comes after
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")
    assert len(chat.videos()) == 1
    assert kie.status_requests() == []  # no status request at all


async def test_the_flat_callback_shape_is_accepted(
    webhook_bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    task = await submitted(chat, kie)
    kie.complete(task.task_id, success_flag=4)
    assert (await kie.send_callback(task.task_id, shape="flat")).status_code == 200
    await chat.wait_for_text("Done")
    assert len(chat.videos()) == 1


async def test_duplicate_and_simultaneous_callbacks_send_one_video(
    webhook_bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    task = await submitted(chat, kie)
    kie.complete(task.task_id)
    answers = await asyncio.gather(*(kie.send_callback(task.task_id) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    await chat.wait_for_text("Done")
    assert (await kie.send_callback(task.task_id)).status_code == 200  # a late retry
    await asyncio.sleep(0.3)
    assert len(telegram.calls_to("sendVideo")) == 1


async def test_a_failure_callback_fetches_the_reason_then_tells_the_user(
    webhook_bot: BotApp, kie: FakeKie, chat: Chat
) -> None:
    task = await submitted(chat, kie)
    kie.complete(task.task_id, success_flag=3, error_message="Video has no motion")
    assert (await kie.send_callback(task.task_id)).status_code == 200
    notice = await chat.wait_for_text("failed")
    assert "Video has no motion" in (notice.rendered or "")
    assert len(kie.status_requests(task.task_id)) == 1


async def test_forged_callbacks_change_nothing(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
) -> None:
    app: BotApp = await start_bot(**webhook_settings(kie_webhook_hmac_key=HMAC_KEY))
    other = Chat(telegram, OTHER_USER_ID)
    task = await submitted(chat, kie)
    others_task = await submitted(other, kie, count=2)
    kie.complete(task.task_id)
    kie.complete(others_task.task_id)
    assert task.callback_url is not None
    assert others_task.callback_url is not None
    good_body = json.dumps(kie.callback_body(task.task_id)).encode()
    await chat.settle()
    before = task_row(database, 1)

    base = app.settings.public_url + "/callbacks/kie/"
    forgeries: list[tuple[int, Any]] = [
        # unknown token
        (404, kie.send_callback(task.task_id, url=base + "x" * 32, hmac_key=HMAC_KEY)),
        # right token, another provider's path
        (
            404,
            kie.send_callback(
                task.task_id, url=task.callback_url.replace("/kie/", "/luma/"), hmac_key=HMAC_KEY
            ),
        ),
        # the other user's token carrying this task's taskId
        (404, kie.send_callback(task.task_id, url=others_task.callback_url, hmac_key=HMAC_KEY)),
        # right token, a taskId that is not this task's
        (404, kie.send_callback(others_task.task_id, url=task.callback_url, hmac_key=HMAC_KEY)),
        (400, kie.send_callback(task.task_id, body_override=b"{not json", hmac_key=HMAC_KEY)),
        (400, kie.send_callback(task.task_id, body_override=b"[1, 2]", hmac_key=HMAC_KEY)),
        (413, kie.send_callback(task.task_id, body_override=b" " * 70_000, hmac_key=HMAC_KEY)),
        (401, kie.send_callback(task.task_id)),  # unsigned
        (401, kie.send_callback(task.task_id, hmac_key="a-wrong-key")),
        (
            401,
            kie.send_callback(task.task_id, hmac_key=HMAC_KEY, timestamp=int(time.time()) - 600),
        ),  # stale
        (
            401,
            kie.send_callback(task.task_id, hmac_key=HMAC_KEY, timestamp=int(time.time()) + 600),
        ),  # from the future
    ]
    for expected, sending in forgeries:
        response = await sending
        assert response.status_code == expected, response.text
    await asyncio.sleep(0.3)
    assert telegram.calls_to("sendVideo") == []
    assert task_row(database, 1) == before
    assert kie.status_requests() == []
    assert len(good_body) < 64 * 1024

    # The genuine, signed callback still works afterwards.
    assert (await kie.send_callback(task.task_id, hmac_key=HMAC_KEY)).status_code == 200
    await chat.wait_for_text("Done")
    assert len(chat.videos()) == 1
    assert Chat(telegram, OTHER_USER_ID).videos() == []


async def test_telegram_updates_need_the_secret_header(
    webhook_bot: BotApp, telegram: FakeTelegram, chat: Chat
) -> None:
    url = webhook_bot.settings.public_url + "/telegram"
    update = {
        "update_id": 999,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "text": "/start",
            "chat": {"id": USER_ID, "type": "private", "first_name": "Eve"},
            "from": {"id": USER_ID, "is_bot": False, "first_name": "Eve"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json=update)
        wrong = await client.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
        )
        right = await client.post(
            url,
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": telegram.webhook_secret or ""},
        )
        garbage = await client.post(
            url,
            content=b"\x00\x01",
            headers={"X-Telegram-Bot-Api-Secret-Token": telegram.webhook_secret or ""},
        )
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert right.status_code == 200
    assert garbage.status_code == 400
    await chat.message_after(0)
    assert len(telegram.messages(USER_ID)) == 1  # only the genuine update was answered


async def test_health_check(webhook_bot: BotApp) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(webhook_bot.settings.public_url + "/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_a_lost_callback_is_caught_by_the_late_safety_poll(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(
        **webhook_settings(safety_poll_delay_seconds=1.0, safety_poll_interval_seconds=1.0)
    )
    task = await submitted(chat, kie)
    kie.complete(task.task_id)  # ...and the callback never comes
    await telegram.wait_for("sendVideo", timeout=10)
    assert len(chat.videos()) == 1
    assert len(kie.status_requests(task.task_id)) == 1


async def test_a_callback_racing_the_polling_loop_sends_one_video(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(
        **webhook_settings(safety_poll_delay_seconds=0.01, safety_poll_interval_seconds=0.01)
    )
    task = await submitted(chat, kie)
    kie.complete(task.task_id)
    await asyncio.gather(*(kie.send_callback(task.task_id) for _ in range(3)))
    await chat.wait_for_text("Done")
    await asyncio.sleep(0.3)
    assert len(telegram.calls_to("sendVideo")) == 1


async def test_a_task_whose_submit_answer_was_lost_is_recovered_by_its_callback(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(**webhook_settings(provider_timeout_seconds=0.5))
    kie.hang_next_generate(3.0, accept=True)
    await chat.press(await chat.card(), "Submit")
    await chat.wait_for_text("charging you twice")
    (task,) = kie.tasks.values()
    kie.complete(task.task_id)
    assert (await kie.send_callback(task.task_id)).status_code == 200
    await chat.wait_for_text("Good news")
    await telegram.wait_for("sendVideo")
    assert len(chat.videos()) == 1
    assert len(kie.generate_requests()) == 1


async def test_the_status_card_keeps_time_without_asking_the_provider(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(**webhook_settings(status_edit_interval_seconds=1.0))
    task = await submitted(chat, kie)
    edits_before = len(telegram.calls_to("editMessageText", chat_id=USER_ID))
    await asyncio.sleep(2.6)
    edits = len(telegram.calls_to("editMessageText", chat_id=USER_ID)) - edits_before
    assert 2 <= edits <= 3
    assert "Elapsed: 2 sec" in (telegram.messages(USER_ID)[-1].rendered or "")
    assert kie.status_requests(task.task_id) == []


async def test_a_callback_while_the_submit_answer_is_on_its_way_is_asked_to_come_again(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await start_bot(**webhook_settings(provider_timeout_seconds=10))
    kie.hang_next_generate(1.0, accept=True)
    await chat.press(await chat.card(), "Submit")
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=3, error_message="too dark")
    early = await kie.send_callback(task.task_id)
    assert early.status_code == 503  # the provider retries a callback that was not taken
    await chat.wait_for_text("Processing")
    assert (await kie.send_callback(task.task_id)).status_code == 200
    notice = await chat.wait_for_text("failed")
    assert "too dark" in (notice.rendered or "")


async def test_odd_bodies_get_400_not_a_server_error(
    webhook_bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    task = await submitted(chat, kie)
    assert task.callback_url is not None
    deep = b"[" * 30_000 + b"]" * 30_000
    for body, expected in ((deep, 400), (b'"just a string"', 400), (b"null", 400)):
        response = await kie.send_callback(task.task_id, body_override=body)
        assert response.status_code == expected, body[:20]
    secret = {"X-Telegram-Bot-Api-Secret-Token": telegram.webhook_secret or ""}
    url = webhook_bot.settings.public_url + "/telegram"
    async with httpx.AsyncClient() as client:
        for body in (b"null", b'"x"', b"[1]", b'{"update_id": 5, "message": "x"}', deep):
            response = await client.post(url, content=body, headers=secret)
            assert response.status_code == 400, body[:20]
    # A flat body of odd types from the genuine URL: the bot asks record-info instead.
    odd = json.dumps({"taskId": task.task_id, "status": "SUCCESS", "errorCode": [1]}).encode()
    kie.complete(task.task_id)
    assert (await kie.send_callback(task.task_id, body_override=odd)).status_code == 200
    await chat.wait_for_text("Done")
    assert len(kie.status_requests(task.task_id)) == 1


async def test_a_webhook_telegram_refuses_stops_the_start_with_a_clear_reason(
    make_settings: Callable[..., Any], telegram: FakeTelegram
) -> None:
    telegram.fail_next("setWebhook", error_code=400, description="Bad Request: bad webhook")
    app = BotApp(make_settings(**webhook_settings()))
    with pytest.raises(StartupError, match="Telegram refused the webhook at PUBLIC_URL="):
        await app.start()
    await app.stop()
