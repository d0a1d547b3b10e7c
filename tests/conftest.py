"""Fixtures: the fake Telegram and KIE servers, settings pointing at them, and a running bot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import BotApp
from bot.config import Settings, load_settings
from tests.database import PostgresServer, StoppablePostgres, TestDatabase
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


ENGINES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=(*ENGINES, "both"),
        default=os.environ.get("TEST_DATABASE", "both"),
        help="the engines the tests' bots use: every test that stores anything runs once on "
        "each (default: TEST_DATABASE, else both)",
    )


def engines(config: pytest.Config) -> tuple[str, ...]:
    chosen = str(config.getoption("--database"))
    return ENGINES if chosen == "both" else (chosen,)


def pytest_report_header(config: pytest.Config) -> str:
    return "database engines: " + ", ".join(engines(config))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a database (directly or through a bot) runs on each engine."""
    if "engine" in metafunc.fixturenames:
        chosen = engines(metafunc.config)
        only = metafunc.definition.get_closest_marker("engines")
        if only is not None:  # @pytest.mark.engines("postgresql"): a test of one engine
            chosen = tuple(e for e in chosen if e in only.args)
        metafunc.parametrize("engine", chosen, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server of the run (of this worker, under xdist), started when a test
    first needs it: TEST_POSTGRES_URL's, else a throwaway one."""
    given = os.environ.get("TEST_POSTGRES_URL")
    server = PostgresServer(given) if given else PostgresServer.start()
    yield server
    server.close()


@pytest.fixture
def database(tmp_path: Path, engine: str, request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    path = tmp_path / "data" / "bot.sqlite3"
    if engine == "sqlite":
        yield TestDatabase(path)
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StoppablePostgres]:
    """A PostgreSQL server of the test's own, to stop and start again while a bot uses it
    (request it before `start_bot`, so that it stops after the bot)."""
    own = StoppablePostgres(tmp_path / "pg")
    yield own
    own.stop()
