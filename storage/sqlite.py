"""The SQLite engine: one connection in WAL mode, numbered migrations, one writer at a time."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import aiosqlite

from storage.db import Database, Dialect, Params, Row, Statements, migrations

log = logging.getLogger(__name__)

# RETURNING clauses (one trip for a write and its row) came in SQLite 3.35 (March 2021).
MIN_SQLITE_VERSION = (3, 35, 0)


class SqliteStatements(Statements):
    dialect = Dialect.SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return cast(list[Row], list(await self._conn.execute_fetchall(sql, params)))


class SqliteDatabase(Database):
    """One aiosqlite connection shared by the process.

    Statements run in autocommit mode; `transaction()` groups several under an asyncio lock, and
    single writes take the same lock, so that no statement of one coroutine lands inside another
    coroutine's open transaction on the shared connection.
    """

    dialect = Dialect.SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._write_lock = asyncio.Lock()

    @classmethod
    async def connect(cls, target: Path | str) -> SqliteDatabase:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise sqlite3.NotSupportedError(
                f"this Python uses SQLite {sqlite3.sqlite_version}; the bot needs 3.35 or newer "
                "(use the Docker image, or a Python built with a newer SQLite)"
            )
        if str(target) != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(target), isolation_level=None)
        conn.row_factory = sqlite3.Row
        db = cls(conn)
        try:  # closed on any failure: its worker thread would keep the process from exiting
            for pragma in (
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 5000",
            ):
                await conn.execute(pragma)
            try:  # built in since 3.38; before, most builds have them (storage.db.not_among)
                await conn.execute("SELECT json_array()")
            except sqlite3.OperationalError as exc:
                raise sqlite3.NotSupportedError(
                    f"this Python's SQLite ({sqlite3.sqlite_version}) has no JSON functions, "
                    "which the bot needs (use the Docker image, or a Python built with them)"
                ) from exc
            await db.migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self._conn.close()

    async def schema_version(self) -> int:
        row = await self.fetch_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def tables(self) -> list[str]:
        rows = await self.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        return [str(name) for (name,) in rows]

    async def migrate(self) -> None:
        """Apply the numbered migrations newer than user_version."""
        current = await self.schema_version()
        for number, name, sql in migrations(Dialect.SQLITE):
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
        async with self._write_lock:
            cursor = await self._conn.execute(sql, params)
            return cursor.rowcount

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        # One trip to the database thread (a cursor's execute, fetch and close would be three).
        return cast(list[Row], list(await self._conn.execute_fetchall(sql, params)))

    async def write_returning(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._write_lock:
            return cast(list[Row], list(await self._conn.execute_fetchall(sql, params)))

    async def ping(self) -> bool:
        try:
            await self.fetch_one("SELECT 1")
        except (sqlite3.Error, ValueError):
            return False
        return True

    @asynccontextmanager
    async def writes_in_a_row(self) -> AsyncIterator[Statements]:
        """Each write committed alone: cheaper than a transaction by two trips to the database
        thread (BEGIN and COMMIT)."""
        async with self._write_lock:
            yield SqliteStatements(self._conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Statements]:
        """BEGIN IMMEDIATE ... COMMIT around the block; rolled back when the block raises."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteStatements(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed: never leave the shared connection mid-transaction.
                if self._conn.in_transaction:
                    await asyncio.shield(self._conn.rollback())
                raise
