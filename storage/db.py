"""The SQLite connection: WAL mode, numbered migrations, one writer at a time."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# RETURNING clauses (one trip for a write and its row) came in SQLite 3.35 (March 2021).
MIN_SQLITE_VERSION = (3, 35, 0)


class Statements:
    """Statements run together on the shared connection, inside `Database.transaction()` or
    `writes_in_a_row()`: the repositories see only this (not the driver's connection), so a
    second database engine can stand behind the same calls."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one statement (a SELECT, or a write with RETURNING); its rows."""
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None


class Database:
    """One aiosqlite connection shared by the process.

    Statements run in autocommit mode; `transaction()` groups several under an asyncio lock, and
    single writes take the same lock, so that no statement of one coroutine lands inside another
    coroutine's open transaction on the shared connection.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise sqlite3.NotSupportedError(
                f"this Python uses SQLite {sqlite3.sqlite_version}; the bot needs 3.35 or newer "
                "(use the Docker image, or a Python built with a newer SQLite)"
            )
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
        ):
            await conn.execute(pragma)
        db = cls(conn)
        try:
            await db.migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self._conn.close()

    async def migrate(self) -> None:
        """Apply the numbered .sql files in storage/migrations that are newer than user_version."""
        row = await self.fetch_one("PRAGMA user_version")
        current = int(row[0]) if row else 0
        for number, name, sql in _migrations():
            if number <= current:
                continue
            log.info("Applying database migration %s", name)
            async with self._write_lock:
                try:
                    await self._conn.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {number};\nCOMMIT;"
                    )
                except BaseException:
                    if self._conn.in_transaction:
                        await self._conn.rollback()
                    raise

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return the number of rows it changed."""
        async with self._write_lock:
            cursor = await self._conn.execute(sql, params)
            return cursor.rowcount

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        # One trip to the database thread (a cursor's execute, fetch and close would be three).
        return list(await self._conn.execute_fetchall(sql, params))

    async def write_returning(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one write statement with a RETURNING clause; return its rows."""
        async with self._write_lock:
            return list(await self._conn.execute_fetchall(sql, params))

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            await self.fetch_one("SELECT 1")
        except (sqlite3.Error, ValueError):
            return False
        return True

    @asynccontextmanager
    async def writes_in_a_row(self) -> AsyncIterator[Statements]:
        """Several writes with no other coroutine's write between them, each committed alone.

        Cheaper than a transaction by two trips to the database thread (BEGIN and COMMIT), for
        writes whose order already makes a failure between them harmless.
        """
        async with self._write_lock:
            yield Statements(self._conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Statements]:
        """BEGIN IMMEDIATE ... COMMIT around the block; rolled back when the block raises."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Statements(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed: never leave the shared connection mid-transaction.
                if self._conn.in_transaction:
                    await asyncio.shield(self._conn.rollback())
                raise


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in (resources.files("storage") / "migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migration numbers must run 001, 002, ... without gaps: {numbers}")
    return found
