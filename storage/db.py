"""The database the repositories see: one interface, two engines.

SQLite (storage/sqlite.py) is the embedded default; PostgreSQL (storage/postgres.py) is for
growing past one process. Repositories write SQL with `?` (or SQLite's numbered `?N`)
placeholders, which both engines take, and ask `dialect` only where the SQL must differ.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from enum import StrEnum
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

from bot.domain.database import DatabaseUnavailableError

__all__ = ["Database", "DatabaseUnavailableError", "Dialect", "Row", "Statements"]

Params = Sequence[Any]
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite:///"


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Row(Protocol):
    """A result row of either engine (sqlite3.Row, asyncpg.Record): by position or name."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> Any: ...


class Statements(ABC):
    """Statements run together inside `Database.transaction()` or `writes_in_a_row()`."""

    dialect: Dialect

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement (a SELECT, or a write with RETURNING); its rows."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @property
    def for_update(self) -> str:
        """A clause that locks the rows a SELECT reads until the transaction ends ("" where
        the whole database is locked for a write transaction already, as in SQLite)."""
        return " FOR UPDATE" if self.dialect is Dialect.POSTGRESQL else ""


class Database(ABC):
    """A connection (SQLite) or a pool of them (PostgreSQL), shared by the process."""

    dialect: Dialect

    @staticmethod
    async def open(
        target: Path | str, *, pool_size: int = 5, retry_seconds: float = 30.0
    ) -> Database:
        """Open, creating and migrating as needed: a file path, ":memory:", `sqlite:///path`,
        or a `postgresql://` URL (with a pool of `pool_size` connections, and statements that
        wait up to `retry_seconds` for a server that went away)."""
        text = str(target)
        if text.startswith(_POSTGRES_SCHEMES):
            from storage.postgres import PostgresDatabase

            return await PostgresDatabase.connect(
                text, pool_size=pool_size, retry_seconds=retry_seconds
            )
        from storage.sqlite import SqliteDatabase

        return await SqliteDatabase.connect(sqlite_path(text))

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; the number of rows it changed."""

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def write_returning(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one write statement with a RETURNING clause; its rows."""

    @abstractmethod
    async def ping(self) -> bool:
        """Whether the database answers a trivial query now (no waiting for it to come back)."""

    @abstractmethod
    def writes_in_a_row(self) -> AbstractAsyncContextManager[Statements]:
        """Several writes with no other write of this process between them; each may commit
        alone (SQLite), so their order must make a failure between them harmless."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Statements]:
        """One transaction around the block, rolled back when the block raises."""

    def exclusive(self, key: int) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time, among all that share the database (a chat's updates,
        handled one at a time by whichever instance gets them). A SQLite file has one process:
        nothing to do."""
        return nullcontext()

    @abstractmethod
    async def schema_version(self) -> int:
        """The number of the last migration applied."""

    @abstractmethod
    async def tables(self) -> list[str]:
        """The names of the bot's tables."""


def not_among(dialect: Dialect, column: str, placeholder: str = "?") -> str:
    """A condition: `column` is none of the integers in one parameter, a JSON array
    (`as_json_list`). The statement's text is the same whatever the list's length: asyncpg
    prepares each text once per connection and keeps 100, so a text per length (`NOT IN (?, ?,
    ...)`) filled the caches of all its connections (about 8 MB, issue 18)."""
    if dialect is Dialect.POSTGRESQL:
        elements = f"json_array_elements_text({placeholder}::json)"
        return f"{column} NOT IN (SELECT value::bigint FROM {elements})"
    return f"{column} NOT IN (SELECT value FROM json_each({placeholder}))"


def as_json_list(values: Collection[int]) -> str:
    """The parameter of `not_among`."""
    return json.dumps(sorted(values))


def is_postgres_url(target: Path | str) -> bool:
    return str(target).startswith(_POSTGRES_SCHEMES)


def sqlite_path(target: str) -> str:
    """The file of `sqlite:///relative/path` or `sqlite:////absolute/path` (SQLAlchemy's
    spelling), or the text itself when it is a plain path."""
    if target.startswith(_SQLITE_SCHEME):
        return target[len(_SQLITE_SCHEME) :]
    if target.startswith("sqlite:"):
        raise ValueError("a SQLite DATABASE_URL looks like sqlite:///data/bot.sqlite3")
    return target


def migrations(dialect: Dialect) -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration, in order.

    Each number is one schema version on both engines: the file in storage/migrations, or the
    same-numbered file in migrations/postgresql where PostgreSQL needs other SQL.
    """
    folder = resources.files("storage") / "migrations"
    found = dict(_numbered(folder))
    if dialect is Dialect.POSTGRESQL:
        for number, entry in _numbered(folder / "postgresql"):
            if number not in found:
                raise RuntimeError(f"{entry.name} replaces no migration of the same number")
            found[number] = entry
    numbers = sorted(found)
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migration numbers must run 001, 002, ... without gaps: {numbers}")
    return [(n, found[n].name, found[n].read_text(encoding="utf-8")) for n in numbers]


def _numbered(folder: Traversable) -> Iterator[tuple[int, Traversable]]:
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            yield int(match.group(1)), entry
