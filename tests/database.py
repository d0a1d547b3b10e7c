"""The database a test's bot uses: a SQLite file, or a fresh PostgreSQL database.

`pytest --database=postgresql` (or TEST_DATABASE=postgresql) runs the whole suite on
PostgreSQL: a throwaway server (pgserver: PostgreSQL's own binaries in a wheel, started on a
temporary folder and a unix socket) unless TEST_POSTGRES_URL names one to use. Each test gets a
database of its own, copied from a template the migrations made once.

Tests read and change stored rows with `connect(database)`, which speaks like `sqlite3`
(`execute(sql, params)`, `fetchone`, `fetchall`, tuples) on either engine.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.db import Database
from storage.postgres import to_postgres

T = TypeVar("T")
TEMPLATE = "bot_template"


@dataclass(frozen=True, slots=True)
class TestDatabase:
    """Where a test's bot keeps its data: `path` (the SQLite file, whose folder also holds the
    uploads), and `url` when the database is PostgreSQL."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    path: Path
    url: str | None = None

    @property
    def parent(self) -> Path:
        """The data folder (uploads, sandbox files)."""
        return self.path.parent

    @property
    def target(self) -> str:
        """What Database.open takes."""
        return self.url or str(self.path)

    def environment(self) -> dict[str, str]:
        env = {"DATABASE_PATH": str(self.path)}
        if self.url:
            env["DATABASE_URL"] = self.url
        return env


class Cursor(Protocol):
    rowcount: int

    def __iter__(self) -> Iterator[Any]: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...


@contextmanager
def connect(database: TestDatabase) -> Iterator[Connection]:
    """A synchronous connection to the test's database, committed and closed at the end."""
    if database.url is None:
        with closing(sqlite3.connect(database.path)) as conn, conn:
            yield conn  # type: ignore[misc] # sqlite3's own types are wider
        return
    postgres = SyncPostgres(database.url)
    try:
        yield postgres
    finally:
        postgres.close()


@dataclass(slots=True)
class _Rows:
    rows: list[tuple[Any, ...]]
    rowcount: int

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class SyncPostgres:
    """One asyncpg connection driven from synchronous code (an event loop in a thread of its
    own, so that it works inside a running test too); statements autocommit."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._conn: asyncpg.Connection[Any] = self.call(asyncpg.connect(url))

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        async def run() -> _Rows:
            statement = await self._conn.prepare(to_postgres(sql))
            rows = await statement.fetch(*params)
            status = statement.get_statusmsg() or ""
            last = status.rsplit(" ", 1)[-1]
            return _Rows([tuple(r) for r in rows], int(last) if last.isdigit() else 0)

        return self.call(run())

    def script(self, sql: str) -> None:
        """Statements without parameters, as one (CREATE DATABASE and the like)."""
        self.call(self._conn.execute(sql))

    def close(self) -> None:
        try:
            self.call(self._conn.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


class PostgresServer:
    """A PostgreSQL server for the test run: its admin URL, and fresh databases on it."""

    def __init__(self, admin_url: str, stop: Any = None) -> None:
        self.admin_url = admin_url
        self._stop = stop
        self._admin = SyncPostgres(admin_url)
        self._admin.script(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        self._admin.script(f"CREATE DATABASE {TEMPLATE}")
        asyncio.run(_migrate(self.url_of(TEMPLATE)))

    @classmethod
    def start(cls, folder: Path | None = None) -> PostgresServer:
        """A throwaway server on a temporary folder and a unix socket."""
        # pgserver asks platformdirs for a runtime folder, which warns when there is none.
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="bot-tests-run-"))
        from pgserver import postgres_server  # a test tool only: the bot never starts a server

        folder = folder or Path(tempfile.mkdtemp(prefix="bot-tests-pg-"))
        server = postgres_server.get_server(folder, cleanup_mode="delete")
        admin = SyncPostgres(server.get_uri())
        try:  # a test server keeps nothing worth an fsync
            for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
                admin.script(f"ALTER SYSTEM SET {setting}")
            admin.script("SELECT pg_reload_conf()")
        finally:
            admin.close()
        return cls(server.get_uri(), stop=server.cleanup)

    def url_of(self, name: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def create(self) -> str:
        """A new database, with the bot's schema; its URL."""
        name = f"test_{secrets.token_hex(6)}"
        self._admin.script(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url_of(name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin.script(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        self._admin.close()
        if self._stop is not None:
            self._stop()


class StoppablePostgres:
    """A PostgreSQL server of one test's own, to stop and start again while a bot uses it."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._server = self._started()
        admin_url = str(self._server.get_uri())
        admin = SyncPostgres(admin_url)
        try:
            admin.script("CREATE DATABASE bot")
        finally:
            admin.close()
        self.url = urlunsplit(urlsplit(admin_url)._replace(path="/bot"))

    def _started(self) -> Any:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="bot-tests-run-"))
        from pgserver import postgres_server

        return postgres_server.get_server(self._folder, cleanup_mode="stop")

    def start(self) -> None:
        """Start it again on the same folder and socket: the same URL."""
        self._server = self._started()

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, nothing in flight is committed."""
        self._server.cleanup()


async def _migrate(url: str) -> None:
    db = await Database.open(url)
    await db.close()
