"""/readyz: 200 while the database, Telegram and the provider answered recently; 503 with a
reason when one did not. /healthz stays liveness."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from bot.app import BotApp
from bot.domain.health import Heartbeat
from bot.readiness import READY_WINDOW_SECONDS, Readiness
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Chat
from tests.test_webhook import webhook_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def database_answers() -> bool:
    return True


def readiness(
    clock: Clock,
    telegram: Heartbeat,
    provider: Heartbeat | None,
    *,
    database_ok: Callable[[], Any] = database_answers,
    probe: Callable[[], Any] | None = None,
) -> Readiness:
    return Readiness(
        database_ok=database_ok,
        telegram=telegram,
        provider=provider,
        probe_telegram=probe,
        clock=clock,
    )


async def test_ready_while_each_answered_within_the_window() -> None:
    clock = Clock()
    telegram, provider = Heartbeat(clock), Heartbeat(clock)
    telegram.answered()
    provider.answered()
    status, body = await readiness(clock, telegram, provider).report()
    assert status == 200
    assert body == {"status": "ok", "database": "ok", "telegram": "ok", "provider": "ok"}


async def test_a_recent_failure_not_followed_by_an_answer_is_not_ready() -> None:
    clock = Clock()
    telegram, provider = Heartbeat(clock), Heartbeat(clock)
    telegram.answered()
    provider.answered()
    clock.now += 5
    provider.failed("KIE.ai answered HTTP 503")
    clock.now += 10
    check = readiness(clock, telegram, provider)
    status, body = await check.report()
    assert status == 503
    assert body["reason"] == "the provider failed 10 s ago: KIE.ai answered HTTP 503"
    provider.answered()  # it answers again
    assert (await check.report())[0] == 200
    provider.failed("no answer (ConnectError)")
    clock.now += READY_WINDOW_SECONDS + 1  # long ago, and nothing asked since
    telegram.answered()
    status, body = await check.report()
    assert status == 200
    assert body["provider"].startswith("idle")


async def test_the_database_is_asked_at_each_request() -> None:
    clock = Clock()
    telegram = Heartbeat(clock)
    telegram.answered()

    async def down() -> bool:
        return False

    async def hangs() -> bool:
        await asyncio.sleep(60)
        return True

    status, body = await readiness(clock, telegram, None, database_ok=down).report()
    assert status == 503
    assert body["reason"] == "the database did not answer"
    assert body["provider"] == "ok"  # the sandbox: nothing to ask
    async with asyncio.timeout(5):
        status, body = await readiness(clock, telegram, None, database_ok=hangs).report()
    assert status == 503
    assert "within 2 s" in body["reason"]


async def test_telegram_unheard_of_for_a_while_is_asked_at_most_once_a_window() -> None:
    clock = Clock()
    telegram = Heartbeat(clock)
    asked: list[float] = []

    async def get_me() -> None:
        asked.append(clock.now)
        telegram.failed("NetworkError: Bad Gateway")

    check = readiness(clock, telegram, None, probe=get_me)
    status, body = await check.report()
    assert status == 503
    assert body["reason"] == "Telegram failed 0 s ago: NetworkError: Bad Gateway"
    clock.now += 30
    await check.report()
    assert asked == [1000.0]  # not again within the window
    clock.now += READY_WINDOW_SECONDS
    await check.report()
    assert len(asked) == 2


async def test_readyz_through_the_real_bot(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    bot: BotApp = await start_bot(**webhook_settings())
    url = bot.settings.public_url
    async with httpx.AsyncClient() as client:
        ready = await client.get(url + "/readyz")
        assert ready.status_code == 200
        assert ready.json()["telegram"] == "ok"  # setWebhook and the rest answered
        assert ready.json()["provider"].startswith("idle")  # not asked yet: nothing against it
        assert (await client.get(url + "/healthz")).status_code == 200

        telegram.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=3)
        telegram.send_message(chat.user_id, "/help", username=chat.username)
        await telegram.wait_for("sendMessage")
        async with asyncio.timeout(5):
            while (not_ready := await client.get(url + "/readyz")).status_code == 200:
                await asyncio.sleep(0.05)
        assert not_ready.status_code == 503
        assert not_ready.json()["reason"].startswith("Telegram failed")
        assert (await client.get(url + "/healthz")).status_code == 200  # alive all the same

        await chat.say("/help")  # Telegram answers again
        kie.refuse_next_generate(500, "Server Error", http_status=503, times=20)
        await chat.press(await chat.card(), "Submit")
        async with asyncio.timeout(10):
            while (not_ready := await client.get(url + "/readyz")).status_code == 200:
                await asyncio.sleep(0.05)
        body = not_ready.json()
        assert body["telegram"] == "ok"
        assert body["reason"].startswith("the provider failed")
        assert "HTTP 503" in body["reason"]
