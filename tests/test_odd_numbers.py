"""Numbers and ids that are not plain ASCII digits in range: a polite answer, never a crash.

`'²'.isdigit()` is true and `int('²')` raises; `int('١٢')` is 12; twenty digits overflow
SQLite's integers. Each case here crashed or answered "something went wrong" before bot/numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import texts
from bot.app import BotApp
from bot.config import ConfigError, load_settings
from bot.domain.numbers import ascii_int, telegram_user_id, user_ref
from bot.domain.provider import CallbackRejectedError
from bot.net.netguard import GuardedClient
from bot.providers.kie import KieProvider
from bot.providers.kie import capabilities as kie_capabilities
from bot.services.preflight import Preflight, Verdict
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, USER_ID, Chat
from tests.test_webhook import HMAC_KEY, submitted, webhook_settings

ODD_IDS = [
    "99999999999999999999",  # overflows SQLite's 64-bit integer
    "²",  # isdigit() is true, int() raises
    "¹²³",
    "١٢٣",  # Arabic-Indic digits: int() reads 123
    "0",
    "-5",
    str(2**52),  # past Telegram's 52 bits
    "9" * 5000,  # int() refuses more than 4,300 digits
]


def kie_provider(hmac_key: str = "") -> KieProvider:
    return KieProvider(
        name="kie",
        display_name="KIE.ai",
        base_url="http://127.0.0.1:9",
        api_key="key",
        webhook_hmac_key=hmac_key,
    )


def users_table(database: TestDatabase) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return list(
            conn.execute("SELECT id, access, banned_at, daily_limit FROM users ORDER BY id")
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345", 12345),
        (" 42 ", 42),
        (str(2**52 - 1), 2**52 - 1),
        *((odd, None) for odd in ODD_IDS),
        ("12a", None),
        ("", None),
        ("+5", None),
        ("1_000", None),
    ],
)
def test_telegram_user_id_takes_ascii_digits_in_range_only(text: str, expected: int | None) -> None:
    assert telegram_user_id(text) == expected


def test_user_ref_reads_ids_and_usernames() -> None:
    assert user_ref("12345") == 12345
    assert user_ref("@Tester_1") == "Tester_1"
    assert user_ref("tester") == "tester"
    for odd in [*ODD_IDS, "@", "@bad name", "@x" + "y" * 40, "<b>", "@²"]:
        assert user_ref(odd) is None, odd


def test_ascii_int_bounds() -> None:
    assert ascii_int("10000", high=10_000) == 10_000
    assert ascii_int("10001", high=10_000) is None
    assert ascii_int("5", low=6, high=9) is None


async def test_admin_commands_answer_no_such_user_for_odd_ids(
    bot: BotApp, chat: Chat, telegram: FakeTelegram, database: TestDatabase
) -> None:
    admin = Chat(telegram, ADMIN_ID)
    await chat.say("/start")
    await admin.say("/start")
    before = users_table(database)
    for odd in ODD_IDS:
        shown = odd.strip()
        for command in (
            f"/user {odd}",
            f"/ban {odd} spam",
            f"/unban {odd}",
            f"/limit {odd} 5",
            f"/allow {odd}",
            f"/deny {odd}",
        ):
            reply = await admin.say(command)
            assert reply.text == texts.admin_no_such_user(shown), command
    for odd in ODD_IDS:
        # 0 is a daily limit, and 0 and 2**52 are task numbers (of no task): not odd for these.
        if odd in ("0", str(2**52)):
            continue
        assert (await admin.say(f"/limit {USER_ID} {odd}")).text == texts.admin_usage("limit")
        assert (await admin.say(f"/task {odd}")).text == texts.admin_usage("task")
        assert (await admin.say(f"/redeliver {odd}")).text == texts.admin_usage("redeliver")
        assert (await chat.say(f"/status {odd}")).text == texts.status_usage()
    assert users_table(database) == before


@pytest.mark.parametrize("stamp", ["²", "١٧٠٠٠٠٠٠٠٠", "9" * 5000, " ", "-1", "1.5e9"])
def test_kie_callback_with_an_odd_timestamp_is_401(stamp: str) -> None:
    provider = kie_provider(hmac_key="secret")
    body = {"code": 200, "msg": "ok", "data": {"taskId": "t1", "resultUrls": ["https://x/y.mp4"]}}
    headers = {"x-webhook-timestamp": stamp, "x-webhook-signature": "c2ln"}
    with pytest.raises(CallbackRejectedError) as refused:
        provider.parse_callback(body, headers, time.time())
    assert refused.value.http_status == 401


def test_kie_envelope_codes_in_odd_digits_are_not_codes() -> None:
    provider = kie_provider()
    body = {"code": "²00", "msg": "ok", "data": {"taskId": "t1", "resultUrls": ["https://x/y"]}}
    event = provider.parse_callback(body, {}, time.time())
    assert event.status is None  # not read as a success: the bot asks record-info instead


async def test_a_signed_kie_callback_with_timestamp_superscript_two_is_401_over_http(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat
) -> None:
    await start_bot(**webhook_settings(kie_webhook_hmac_key=HMAC_KEY))
    task = await submitted(chat, kie)
    kie.complete(task.task_id)
    assert task.callback_url is not None
    response = await kie.send_callback(task.task_id, hmac_key=HMAC_KEY, timestamp="²")
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("ids", ["²", "1,²", "99999999999999999999", "-5", "١٢"])
def test_odd_admin_ids_are_a_clear_configuration_error(ids: str) -> None:
    with pytest.raises(ConfigError, match="ADMIN_IDS must be Telegram user ids"):
        load_settings(
            _env_file=None, telegram_bot_token="123:abc", provider_api_key="k", admin_ids=ids
        )


def test_a_token_with_odd_digits_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN must look like"):
        load_settings(_env_file=None, telegram_bot_token="²:abc", provider_api_key="k")


@pytest.mark.parametrize(
    "headers",
    [
        {"content-range": "bytes 0-15/²"},
        {"content-range": "bytes 0-15/" + "9" * 5000},
    ],
)
async def test_a_link_whose_server_sends_odd_sizes_is_judged_without_them(
    headers: dict[str, str],
) -> None:
    async def odd(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status_code=405)
        return Response(b"\x00" * 16, 206, {"content-type": "video/mp4", **headers})

    app = Starlette(routes=[Route("/v.mp4", odd, methods=["GET", "HEAD"])])
    async with LoopbackServer(app) as server:
        client = GuardedClient(timeout=5, allow_loopback=True)
        try:
            verdict = await Preflight(client, kie_capabilities("KIE.ai")).check_link(
                server.url + "/v.mp4"
            )
        finally:
            await client.aclose()
    assert verdict == Verdict()  # a video by its type; its size unknown: no refusal, no crash
