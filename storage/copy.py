"""Copying the bot's database into another, empty one (`python -m bot migrate-db`: SQLite to
PostgreSQL).

Every table the source has is copied, every column by name, in multi-row INSERTs inside one
transaction on the target: the copy is whole or not at all. The source is read inside one
transaction too, so the copy is of one moment (on SQLite that also holds back other writers
until it is done: stop the bot first). Ids are copied as they are; on PostgreSQL the identity
sequences are then moved past them, so that the next task is numbered after the last one copied.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.db import Database, DatabaseUnavailableError, Dialect, Statements

# Bind parameters per statement: PostgreSQL takes 32767, SQLite (by default, since 3.32) 32766.
MAX_PARAMETERS = 32766
# Which processes run the bot, what each holds, and recent starts counted by rate limits: not
# data, and the source's bot is stopped.
RUNTIME_TABLES = frozenset({"instances", "leases", "rate_starts", "send_schedule", "send_turns"})
# The tables others refer to come first; the rest follow their foreign keys, then their names.
FIRST = ("users", "drafts", "tasks")


class CopyRefusedError(Exception):
    """The copy was not started: nothing was written. The message says why, in one line."""


class TargetNotEmptyError(CopyRefusedError):
    """A table of the target database has a row already."""


class SchemaMismatchError(CopyRefusedError):
    """The two databases are not at the same schema version (or their tables differ)."""


class CopyFailedError(Exception):
    """The copy went wrong half-way and was rolled back: the target is as it was."""


async def copy_database(source: Database, target: Database, *, batch: int = 500) -> dict[str, int]:
    """Copy every row of `source` into `target`, whose tables must all be empty; the rows copied
    per table, in the order they were copied. `batch`: rows per INSERT (fewer for a table with
    many columns, to stay under the engines' parameter limits)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    await _check_versions(source, target)
    tables = [t for t in await source.tables() if t not in RUNTIME_TABLES]
    target_tables = await target.tables()
    columns = await _check_columns(source, target, tables, target_tables)
    order = _in_order(tables, await _references(target))
    copied: dict[str, int] = {}
    async with target.transaction() as out:
        for table in target_tables:
            if await out.fetch_one(f"SELECT 1 FROM {_quote(table)} LIMIT 1") is not None:
                raise TargetNotEmptyError(
                    f"the target database is not empty (its {table} table has rows): "
                    "copy only into a new, empty database"
                )
        async with source.transaction() as src:
            for table in order:
                keys = await _primary_key(src, table)
                copied[table] = await _copy_table(src, out, table, columns[table], keys, batch)
            expected = {table: await _count(src, table) for table in order}
            floors = await _sequence_floors(src)
        for table in order:
            found = await _count(out, table)
            if not (copied[table] == found == expected[table]):
                raise CopyFailedError(
                    f"{table}: the source has {expected[table]} rows, {copied[table]} were "
                    f"copied and the target has {found}; nothing was kept"
                )
        if out.dialect is Dialect.POSTGRESQL:
            await _move_sequences(out, order, floors)
    return copied


async def _check_versions(source: Database, target: Database) -> None:
    mine, theirs = await source.schema_version(), await target.schema_version()
    if mine != theirs:
        raise SchemaMismatchError(
            f"the source database is at schema version {mine} and the target at {theirs}: "
            "open both with the same version of the bot"
        )


async def _check_columns(
    source: Database, target: Database, tables: list[str], target_tables: list[str]
) -> dict[str, list[str]]:
    """Each source table's columns, once it is known the target has the same table and columns."""
    missing = sorted(set(tables) - set(target_tables))
    if missing:
        raise SchemaMismatchError(f"the target database has no table {', '.join(missing)}")
    columns: dict[str, list[str]] = {}
    for table in tables:
        columns[table] = await _columns(source, table)
        theirs = await _columns(target, table)
        if set(columns[table]) != set(theirs):
            differ = sorted(set(columns[table]) ^ set(theirs))
            raise SchemaMismatchError(
                f"the {table} table has other columns in the two databases: {', '.join(differ)}"
            )
    return columns


async def _columns(db: Database | Statements, table: str) -> list[str]:
    if db.dialect is Dialect.POSTGRESQL:
        rows = await db.fetch_all(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
    else:
        rows = await db.fetch_all("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,))
    return [str(name) for (name,) in rows]


async def _primary_key(db: Statements, table: str) -> list[str]:
    """The table's primary key columns, in key order (none: the table has no primary key)."""
    if db.dialect is Dialect.POSTGRESQL:
        rows = await db.fetch_all(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
            "WHERE i.indisprimary AND n.nspname = current_schema() AND c.relname = ? "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (table,),
        )
    else:
        rows = await db.fetch_all(
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)
        )
    return [str(name) for (name,) in rows]


async def _references(db: Database) -> dict[str, set[str]]:
    """The tables each table refers to with a foreign key."""
    found: dict[str, set[str]] = {}
    if db.dialect is Dialect.POSTGRESQL:
        rows = await db.fetch_all(
            "SELECT child.relname, parent.relname FROM pg_constraint k "
            "JOIN pg_class child ON child.oid = k.conrelid "
            "JOIN pg_class parent ON parent.oid = k.confrelid "
            "JOIN pg_namespace n ON n.oid = child.relnamespace "
            "WHERE k.contype = 'f' AND n.nspname = current_schema()"
        )
        for child, parent in rows:
            found.setdefault(str(child), set()).add(str(parent))
        return found
    for table in await db.tables():
        rows = await db.fetch_all('SELECT "table" FROM pragma_foreign_key_list(?)', (table,))
        found[table] = {str(parent) for (parent,) in rows}
    return found


def _in_order(tables: Sequence[str], references: dict[str, set[str]]) -> list[str]:
    """`tables` in an order where each comes after the tables it refers to: users, drafts,
    tasks first, then the others by name."""
    waiting = sorted(tables, key=lambda t: (FIRST.index(t) if t in FIRST else len(FIRST), t))
    order: list[str] = []
    while waiting:
        ready = next(
            (
                t
                for t in waiting
                if all(p == t or p in order or p not in tables for p in references.get(t, ()))
            ),
            None,
        )
        if ready is None:
            raise CopyRefusedError(f"the tables' foreign keys go round in a circle: {waiting}")
        order.append(ready)
        waiting.remove(ready)
    return order


async def _copy_table(
    src: Statements,
    out: Statements,
    table: str,
    columns: list[str],
    keys: list[str],
    batch: int,
) -> int:
    """Copy the table a page at a time (the next page found by its primary key); the rows
    copied."""
    names = ", ".join(_quote(c) for c in columns)
    per_statement = max(1, min(batch, MAX_PARAMETERS // len(columns)))
    row_marks = "(" + ", ".join("?" for _ in columns) + ")"
    read = f"SELECT {names} FROM {_quote(table)}"
    positions = [columns.index(k) for k in keys]
    key = ", ".join(_quote(k) for k in keys)
    first_page = f"{read} ORDER BY {key} LIMIT {per_statement}"
    next_page = (
        f"{read} WHERE ({key}) > ({', '.join('?' for _ in keys)}) "
        f"ORDER BY {key} LIMIT {per_statement}"
    )
    copied = 0
    last: tuple[object, ...] | None = None
    while True:
        if not keys:  # no key to page by (every table of the bot has one): all rows at once
            rows = [tuple(r) for r in await src.fetch_all(read)]
        elif last is None:
            rows = [tuple(r) for r in await src.fetch_all(first_page)]
        else:
            rows = [tuple(r) for r in await src.fetch_all(next_page, [last[p] for p in positions])]
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = f"INSERT INTO {_quote(table)} ({names}) VALUES " + ", ".join(
                row_marks for _ in chunk
            )
            try:
                await out.execute(sql, [value for row in chunk for value in row])
            except DatabaseUnavailableError:
                raise
            except Exception as exc:
                raise CopyFailedError(
                    f"the target refused a row of {table} ({type(exc).__name__}: {exc}); "
                    "nothing was kept"
                ) from exc
            copied += len(chunk)
        if not keys or len(rows) < per_statement:
            return copied
        last = rows[-1]


async def _count(db: Statements, table: str) -> int:
    row = await db.fetch_one(f"SELECT COUNT(*) FROM {_quote(table)}")
    return int(row[0]) if row else 0


async def _sequence_floors(src: Statements) -> dict[str, int]:
    """The highest id each table ever gave out, where the source keeps it (SQLite's
    AUTOINCREMENT counters: a deleted task's number is not given out again)."""
    if src.dialect is not Dialect.SQLITE:
        return {}
    known = await src.fetch_one(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    )
    if known is None:
        return {}
    return {
        str(name): int(seq)
        for name, seq in await src.fetch_all("SELECT name, seq FROM sqlite_sequence")
    }


async def _move_sequences(out: Statements, tables: list[str], floors: dict[str, int]) -> None:
    """Move each identity (or serial) column's sequence past the ids copied, and past the
    source's own counter: the next row gets the next number."""
    rows = await out.fetch_all(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() "
        "AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')"
    )
    for table, column in rows:
        if table not in tables:
            continue
        await out.fetch_one(
            "SELECT setval(pg_get_serial_sequence(?, ?), "
            f"GREATEST(COALESCE((SELECT MAX({_quote(column)}) FROM {_quote(table)}), 0), "
            "CAST(? AS BIGINT)) + 1, false)",
            (_quote(table), str(column), floors.get(str(table), 0)),
        )


def _quote(name: str) -> str:
    """An identifier as SQL text (both engines quote with double quotes)."""
    return '"' + name.replace('"', '""') + '"'
