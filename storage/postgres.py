"""The PostgreSQL engine: a pool of asyncpg connections, for several processes on one database.

asyncpg was chosen over psycopg 3: it is the faster of the two (its binary protocol is written
in Cython), it has its own pool, and the bot needs no synchronous access. The repositories' `?`
placeholders become asyncpg's `$n` here (`to_postgres`), once per distinct statement.

When the server cannot be reached, a statement is tried again with back-off for up to
`retry_seconds`, if it was never sent, or is a read. A write whose connection broke after it was
sent may or may not have been applied, so it is not repeated: DatabaseUnavailableError goes to the
caller, whose loop tries its round again later (the conditional state changes make a second try
harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any, TypeAlias, TypeVar, cast
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage.db import (
    Database,
    DatabaseUnavailableError,
    Dialect,
    Params,
    Row,
    Statements,
    migrations,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection: TypeAlias = "PoolConnectionProxy[Any]"  # a connection lent by the pool
# Errors that mean the connection, not the statement, failed.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,  # connecting, or a statement past the pool's command_timeout
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ConnectionDoesNotExistError,
)
# asyncpg's client-side errors mostly mean a bug in the statement (a missing parameter), but
# these two messages mean a connection that is gone: "connection is closed", and a pooled
# connection that took the server's goodbye while idle and refuses the next statement before
# sending it ("cannot switch to state ...; another operation is in progress").
_GONE = ("connection is closed", "another operation")


def lost_connection(exc: BaseException) -> bool:
    """Whether `exc` says the connection failed, not the statement."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError):
        return not isinstance(exc, asyncpg.DataError) and any(m in str(exc) for m in _GONE)
    return False


_PING_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
# The bot's own advisory locks take two int4 keys, (BOT_LOCKS, n): PostgreSQL keeps those apart
# from the one-bigint keys the chats' locks use (a chat id), so no chat can collide with them.
BOT_LOCKS = 0x6C756D61  # "luma"
_MIGRATION_LOCK = (BOT_LOCKS, 1)  # instances starting together migrate one at a time
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|--[^\n]*|\?(\d*)")
_CONNECT_TIMEOUT = 10.0
STATEMENT_TIMEOUT = 60.0
WARN_EVERY = 10.0
LOCK_POLL_SECONDS = 0.02
LOCK_TIMEOUT = 10.0  # a try-lock answers at once: longer means the connection is gone
RECONNECT_SECONDS = 0.5
_PING_TIMEOUT = 2.0


@lru_cache(maxsize=1024)
def to_postgres(sql: str) -> str:
    """`?` and `?N` placeholders as `$N`, numbered as SQLite numbers them: a bare `?` is one
    more than the highest number so far. Quoted text and comments are left alone."""
    highest = 0

    def number(match: re.Match[str]) -> str:
        nonlocal highest
        if not match.group(0).startswith("?"):
            return match.group(0)
        n = int(match.group(1)) if match.group(1) else highest + 1
        highest = max(highest, n)
        return f"${n}"

    return _PLACEHOLDER.sub(number, sql)


def describe(url: str) -> str:
    """The URL without its password: for messages and logs."""
    parts = urlsplit(url)
    where = parts.hostname or "localhost"
    if parts.port:
        where += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}{where}{parts.path}"


def _rowcount(status: str) -> int:
    """The rows a statement changed, from its command tag ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresStatements(Statements):
    dialect = Dialect.POSTGRESQL

    def __init__(self, conn: Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return _rowcount(await self._conn.execute(to_postgres(sql), *params))
        except Exception as exc:
            raise self._unavailable(exc) from exc

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return cast(list[Row], await self._conn.fetch(to_postgres(sql), *params))
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> Exception:
        """What to raise for `exc`: DatabaseUnavailableError for a lost connection."""
        if lost_connection(exc):
            return DatabaseUnavailableError(f"lost PostgreSQL at {self._where}: {exc}")
        return exc


class PostgresDatabase(Database):
    dialect = Dialect.POSTGRESQL

    def __init__(self, pool: asyncpg.Pool[Any], url: str, where: str, retry_seconds: float) -> None:
        self._pool = pool
        self._where = where
        self._retry_seconds = retry_seconds
        self._warned_at = float("-inf")
        self._locks = AdvisoryLocks(url, retry_seconds)

    @classmethod
    async def connect(
        cls, url: str, *, pool_size: int = 5, retry_seconds: float = 30.0
    ) -> PostgresDatabase:
        where = describe(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                # Connections are made when needed, and closed after a minute unused. (A floor
                # would be kept by reconnecting in the background, which logs a traceback at
                # every try while the server is away.)
                min_size=0,
                max_size=pool_size,
                timeout=_CONNECT_TIMEOUT,
                # A connection that stops answering (a silent network) fails its statement,
                # rather than hang the round that waits for it.
                command_timeout=STATEMENT_TIMEOUT,
                max_inactive_connection_lifetime=60.0,
            )
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to PostgreSQL at {where}: {exc}"
            ) from exc
        except asyncpg.PostgresError as exc:  # a wrong password, a missing database, ...
            raise DatabaseUnavailableError(f"PostgreSQL at {where} refused: {exc}") from exc
        db = cls(pool, url, where, retry_seconds)
        try:
            await db.migrate()
        except BaseException as exc:
            pool.terminate()
            if lost_connection(exc):  # the pool connects at its first use, which is here
                raise DatabaseUnavailableError(
                    f"cannot connect to PostgreSQL at {where}: {exc}"
                ) from exc
            if isinstance(exc, asyncpg.PostgresError):
                raise DatabaseUnavailableError(f"PostgreSQL at {where} refused: {exc}") from exc
            raise
        return db

    async def close(self) -> None:
        await self._locks.close()
        try:
            async with asyncio.timeout(10):  # not wait_for: it can lose a cancellation
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()

    def exclusive(self, key: int) -> AbstractAsyncContextManager[None]:
        return self._locks.held(key)

    async def migrate(self) -> None:
        """Apply the migrations newer than the stored version, one instance at a time."""
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1, $2)", *_MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
                current = await conn.fetchval("SELECT MAX(version) FROM schema_version") or 0
                for number, name, sql in migrations(Dialect.POSTGRESQL):
                    if number <= current:
                        continue
                    log.info("Applying database migration %s", name)
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute("DELETE FROM schema_version")
                        await conn.execute("INSERT INTO schema_version VALUES ($1)", number)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", *_MIGRATION_LOCK)

    async def schema_version(self) -> int:
        row = await self.fetch_one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    async def tables(self) -> list[str]:
        rows = await self.fetch_all(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename != 'schema_version' ORDER BY tablename"
        )
        return [str(name) for (name,) in rows]

    async def execute(self, sql: str, params: Params = ()) -> int:
        query = to_postgres(sql)
        status = await self._run(lambda conn: conn.execute(query, *params), repeat=False)
        return _rowcount(status)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        query = to_postgres(sql)
        return cast(list[Row], await self._run(lambda conn: conn.fetch(query, *params)))

    async def write_returning(self, sql: str, params: Params = ()) -> list[Row]:
        query = to_postgres(sql)
        rows = await self._run(lambda conn: conn.fetch(query, *params), repeat=False)
        return cast(list[Row], rows)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(_PING_TIMEOUT):
                async with self._pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
        except _PING_ERRORS:
            return False
        return True

    @asynccontextmanager
    async def writes_in_a_row(self) -> AsyncIterator[Statements]:
        async with self.transaction() as statements:
            yield statements

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Statements]:
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    yield PostgresStatements(conn, self._where)
            except Exception as exc:  # lost at BEGIN or COMMIT
                if not lost_connection(exc):
                    raise
                raise DatabaseUnavailableError(f"lost PostgreSQL at {self._where}: {exc}") from exc

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A connection from the pool, waiting (with back-off) while the server is away."""
        conn = await self._retrying(self._pool.acquire)
        try:
            yield conn
        except BaseException as exc:
            if lost_connection(exc) or isinstance(exc, DatabaseUnavailableError):
                conn.terminate()  # the pool connects anew, rather than lend it out again
            raise
        finally:
            await self._pool.release(conn)

    def _warn(self, exc: Exception) -> None:
        """One line every WARN_EVERY seconds while the server is away, however many statements
        wait for it."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning("PostgreSQL at %s is unavailable (%s); waiting for it", self._where, exc)

    async def _run(self, statement: Callable[[Connection], Awaitable[T]], repeat: bool = True) -> T:
        """Run one statement on a pooled connection. `repeat`: it may be sent again when the
        connection broke after it was sent (a read)."""

        async def once() -> T:
            async with self._connection() as conn:
                try:
                    return await statement(conn)
                except Exception as exc:
                    # A read, or a write never sent (InternalClientError): tried again.
                    if not lost_connection(exc) or repeat:
                        raise
                    if isinstance(exc, asyncpg.InternalClientError):
                        raise
                    raise DatabaseUnavailableError(
                        f"lost PostgreSQL at {self._where} during a write: {exc}"
                    ) from exc

        return await self._retrying(once)

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self._retry_seconds
        delay = 0.1
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if not lost_connection(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise DatabaseUnavailableError(
                        f"PostgreSQL at {self._where} is unavailable: {exc}"
                    ) from exc
                self._warn(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


class AdvisoryLocks:
    """Session advisory locks, all on one connection of their own, outside the pool (so that
    waiting for one never takes a connection the statements need): `pg_try_advisory_lock`,
    tried again every LOCK_POLL_SECONDS while another process holds the key. Within a process
    the caller already serialises each key, so waiting here is rare."""

    def __init__(self, url: str, retry_seconds: float) -> None:
        self._url = url
        self._retry_seconds = retry_seconds
        self._conn: asyncpg.Connection[Any] | None = None
        self._turn = asyncio.Lock()  # one statement at a time on the connection
        self._held: set[int] = set()  # keys locked on self._conn and not yet unlocked

    @asynccontextmanager
    async def held(self, key: int) -> AsyncIterator[None]:
        deadline = time.monotonic() + self._retry_seconds
        while True:
            try:
                if await self._run("SELECT pg_try_advisory_lock($1)", key):
                    self._held.add(key)
                    break
            except DatabaseUnavailableError:
                if time.monotonic() > deadline:  # waited as long as a statement would
                    raise
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            await asyncio.shield(self._unlock(key))

    async def _unlock(self, key: int) -> None:
        if key not in self._held:
            return  # its connection is gone, and the lock went with it
        self._held.discard(key)
        with contextlib.suppress(DatabaseUnavailableError):
            await self._run("SELECT pg_advisory_unlock($1)", key)

    async def _run(self, sql: str, key: int) -> bool:
        async with self._turn:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(
                        self._url, timeout=_CONNECT_TIMEOUT, command_timeout=LOCK_TIMEOUT
                    )
                return bool(await self._conn.fetchval(sql, key))
            except Exception as exc:
                if not lost_connection(exc):
                    raise
                if self._conn is not None:
                    self._conn.terminate()
                    self._conn = None
                if self._held:
                    # Their work goes on; until it ends, another instance may take the same
                    # chats' updates side by side (the stored changes stay conditional).
                    log.warning(
                        "Lost PostgreSQL's lock connection holding %d chat lock(s): those "
                        "chats' updates may be handled side by side until their work ends",
                        len(self._held),
                    )
                    self._held.clear()
                raise DatabaseUnavailableError(f"lost PostgreSQL's lock connection: {exc}") from exc

    async def close(self) -> None:
        async with self._turn:
            self._held.clear()
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.terminate()  # its locks end with its session
