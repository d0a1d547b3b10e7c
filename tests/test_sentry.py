"""SENTRY_DSN: unexpected errors go to Sentry, with every secret scrubbed as the log does.

No network: a transport of the test's own keeps what would have been sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from bot.app import BotApp
from bot.config import load_settings
from bot.logs.context import about_task
from bot.logs.redaction import MASK, Redactor
from bot.logs.sentry import scrubbed, start_sentry
from bot.runtime import BOT_DATA_KEY
from tests.helpers import Chat

DSN = "https://publickey0123@o1.ingest.invalid/42"
SECRET = "provider-key-for-sentry"
TOKEN_SHAPED = "987654321:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"


class Kept(Transport):
    """Keeps the events instead of sending them."""

    def __init__(self) -> None:
        super().__init__({"dsn": DSN})
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                self.events.append(item.payload.json)

    def sent(self) -> str:
        return json.dumps(self.events)


@pytest.fixture
def sentry() -> Iterator[Callable[[Redactor], Kept]]:
    """Starts Sentry with a Kept transport; stops it (and its logging hook) afterwards."""

    def start(redact: Redactor) -> Kept:
        kept = Kept()
        start_sentry(DSN, redact, transport=kept)
        return kept

    yield start
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def test_the_dsn_and_its_key_are_secrets() -> None:
    settings = load_settings(
        _env_file=None, telegram_bot_token="123:abc", provider_api_key="k", sentry_dsn=DSN
    )
    assert DSN in settings.secrets()
    assert "publickey0123" in settings.secrets()
    assert DSN not in repr(settings)
    assert load_settings(_env_file=None, telegram_bot_token="123:abc", provider_api_key="k")


def test_no_dsn_starts_nothing() -> None:
    start_sentry("", Redactor())
    assert not sentry_sdk.get_client().is_active()


def test_a_logged_exception_reaches_sentry_without_its_secrets(
    sentry: Callable[[Redactor], Kept], caplog: pytest.LogCaptureFixture
) -> None:
    kept = sentry(Redactor([SECRET, DSN]))
    log = logging.getLogger("bot.test.sentry")
    caplog.set_level(logging.INFO, "bot.test.sentry")
    log.info("Calling the provider with %s", SECRET)  # a breadcrumb
    with about_task(7):
        try:
            key = SECRET  # a frame's variable
            raise RuntimeError(f"refused {key} and {TOKEN_SHAPED}")
        except RuntimeError:
            log.exception("Submitting with %s failed", SECRET, extra={"detail": SECRET})
    log.warning("Only a warning: %s", SECRET)  # not an event
    sentry_sdk.flush()
    (event,) = kept.events
    sent = kept.sent()
    for secret in (SECRET, TOKEN_SHAPED, DSN):
        assert secret not in sent
    assert event["logentry"]["formatted"] == f"Submitting with {MASK} failed"
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == f"refused {MASK} and {MASK}"
    assert event["extra"]["detail"] == MASK
    crumbs = [crumb["message"] for crumb in event["breadcrumbs"]["values"]]
    assert f"Calling the provider with {MASK}" in crumbs
    assert event["tags"]["task_id"] == "7"
    # The HTTP libraries are left alone: no breadcrumbs of Bot API URLs, no trace headers.
    assert sentry_sdk.get_client().get_integration("httpx") is None
    assert sentry_sdk.get_client().get_integration("stdlib") is None


def test_request_data_is_scrubbed_too() -> None:
    before_send = scrubbed(Redactor([SECRET]))
    event: Any = {
        "request": {"url": f"https://x/?key={SECRET}", "data": {"token": SECRET, "n": 1}},
        "contexts": {"state": {"value": (SECRET, object())}},
    }
    cleaned: Any = before_send(event, {})
    assert SECRET not in json.dumps(cleaned)
    assert cleaned["request"]["data"]["n"] == 1


async def test_an_unexpected_error_in_the_real_bot_reaches_sentry_scrubbed(
    sentry: Callable[[Redactor], Kept],
    start_bot: Callable[..., Any],
    chat: Chat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot: BotApp = await start_bot()
    kept = sentry(Redactor(bot.settings.secrets()))
    token = bot.settings.telegram_bot_token.get_secret_value()

    def broken(user_id: int) -> bool:
        raise RuntimeError(f"the Bot API URL /bot{token}/getMe failed for {user_id}")

    monkeypatch.setattr(bot.application.bot_data[BOT_DATA_KEY].access, "is_admin", broken)
    chat.telegram.send_message(chat.user_id, "/start", username=chat.username)  # it fails
    async with asyncio.timeout(5):
        while not kept.events:
            await asyncio.sleep(0.01)
    event = kept.events[0]
    assert event["logentry"]["formatted"].startswith("Could not check whether user")  # the gate
    assert event["tags"]["user_id"] == str(chat.user_id)  # the update's user
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert token not in kept.sent()
    assert bot.settings.provider_api_key.get_secret_value() not in kept.sent()
