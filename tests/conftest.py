"""Fixtures: the fake Telegram and KIE servers, settings pointing at them, and a running bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import BotApp
from bot.config import Settings, load_settings
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram
from tests.helpers import ADMIN_ID, Chat

SettingsFactory = Callable[..., Settings]


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        yield fake


def test_environment(telegram: FakeTelegram, kie: FakeKie, database: Path) -> dict[str, str]:
    """The settings a test bot runs with, as environment variables (for `python -m bot`)."""
    return {
        "TELEGRAM_BOT_TOKEN": TEST_BOT_TOKEN,
        "TELEGRAM_API_URL": telegram.url,
        "PROVIDER": "kie",
        "PROVIDER_API_KEY": TEST_KIE_KEY,
        "PROVIDER_BASE_URL": kie.url,
        "DATABASE_PATH": str(database),
        "ADMIN_IDS": str(ADMIN_ID),
        "POLL_INTERVAL_SECONDS": "0.05",
        "PROVIDER_RETRY_DELAY_SECONDS": "0.01",
        "STATUS_EDIT_INTERVAL_SECONDS": "1",
        "TASK_TIMEOUT_SECONDS": "60",
        "MAX_ACTIVE_TASKS_PER_USER": "2",
        "DAILY_TASK_LIMIT": "10",
    }


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
def make_settings(telegram: FakeTelegram, kie: FakeKie, database: Path) -> SettingsFactory:
    """Settings for a bot that talks to the fakes; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            k.lower(): v for k, v in test_environment(telegram, kie, database).items()
        }
        values.update(overrides)
        return load_settings(_env_file=None, **values)

    return make


@pytest.fixture
async def start_bot(make_settings: SettingsFactory) -> AsyncIterator[Callable[..., Any]]:
    """`await start_bot(**overrides)` starts a bot in this process; all are stopped at the end."""
    running: list[BotApp] = []

    async def start(**overrides: Any) -> BotApp:
        app = BotApp(make_settings(**overrides))
        await app.start()
        running.append(app)
        return app

    yield start
    for app in reversed(running):
        await app.stop()


@pytest.fixture
async def bot(start_bot: Callable[..., Any]) -> BotApp:
    app: BotApp = await start_bot()
    return app


@pytest.fixture
def chat(telegram: FakeTelegram) -> Chat:
    return Chat(telegram)
