"""Fixtures: the fake Telegram and KIE servers, settings pointing at them, and a running bot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import BotApp
from bot.config import Settings, load_settings
from tests.database import PostgresServer, TestDatabase
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Chat, bot_environment

SettingsFactory = Callable[..., Settings]


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        yield fake


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("TEST_DATABASE", "sqlite"),
        help="the engine the bots of the tests use (default: TEST_DATABASE, else sqlite)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {config.getoption('--database')}"


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer | None]:
    """The PostgreSQL server of the run (None when the tests run on SQLite)."""
    if request.config.getoption("--database") != "postgresql":
        yield None
        return
    given = os.environ.get("TEST_POSTGRES_URL")
    server = PostgresServer(given) if given else PostgresServer.start()
    yield server
    server.close()


@pytest.fixture
def database(tmp_path: Path, postgres: PostgresServer | None) -> Iterator[TestDatabase]:
    path = tmp_path / "data" / "bot.sqlite3"
    if postgres is None:
        yield TestDatabase(path)
        return
    url = postgres.create()
    yield TestDatabase(path, url)
    postgres.drop(url)


@pytest.fixture
def make_settings(telegram: FakeTelegram, kie: FakeKie, database: TestDatabase) -> SettingsFactory:
    """Settings for a bot that talks to the fakes; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            k.lower(): v for k, v in bot_environment(telegram, kie, database).items()
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
