"""`python -m bot migrate-db`: copy the bot's SQLite database into an empty PostgreSQL database.

    python -m bot migrate-db --to postgresql://user:password@host:5432/dbname [--from SOURCE]

For an operator moving the bot to PostgreSQL: stop the bot, copy, set DATABASE_URL to the new
database, start the bot. The copy is one transaction (storage/copy.py): whole or nothing. It
prints the rows copied per table; a problem is one line on stderr (never a URL's password), and
the exit status is not zero.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from bot.logs.redaction import Redactor
from storage.copy import CopyFailedError, CopyRefusedError, copy_database
from storage.db import Database, DatabaseUnavailableError, is_postgres_url, sqlite_path
from storage.postgres import describe

DESCRIPTION = (
    "Copy the bot's SQLite database (users, cards, tasks, broadcasts, uploaded files' records "
    "and the settings the bot keeps in it) into an empty PostgreSQL database, in one "
    "transaction. Stop the bot before copying: what it wrote during the copy would be left "
    "behind. Then set DATABASE_URL to the new database and start the bot."
)
EPILOG = (
    "The target must be empty: create it first (createdb, or CREATE DATABASE); the bot's tables "
    "are made in it. A target that has rows already is refused. Uploaded files stay where they "
    "are, in the data folder (DATA_DIR, else DATABASE_PATH's folder): only their records move, "
    "so keep that setting as it is."
)
SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
TARGET_WAIT_SECONDS = 0.0  # a copy is whole or nothing: no waiting for a server that went away


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bot migrate-db", description=DESCRIPTION, epilog=EPILOG
    )
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="the PostgreSQL database to copy into: postgresql://user:password@host:5432/dbname",
    )
    p.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="the SQLite database to copy: its file, or sqlite:///path "
        "(default: DATABASE_URL, else DATABASE_PATH, as the bot would use)",
    )
    return p


def main(
    argv: list[str],
    default_source: str,
    redact: Redactor | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the command; its exit status. `default_source`: the settings' database."""
    args = parser().parse_args(argv)
    source = args.source or default_source
    redact = redact or Redactor()
    for url in (args.to, source):
        for secret in _passwords(url):  # also in log lines (the handler shares `redact`)
            redact.add(secret)
    return migrate(args.to, source, redact, out or sys.stdout, err or sys.stderr)


def migrate(to: str, source: str, redact: Redactor, out: TextIO, err: TextIO) -> int:
    def fail(message: str, status: int = 1) -> int:
        one_line = " ".join(message.split())
        print(redact(f"migrate-db: {one_line}"), file=err)
        return status

    if not is_postgres_url(to):
        return fail("--to must be a PostgreSQL URL: postgresql://user:password@host:5432/dbname", 2)
    if is_postgres_url(source):
        return fail(
            f"the source must be a SQLite database, not {_shown(source)}: "
            "name its file with --from",
            2,
        )
    try:
        path = Path(sqlite_path(source))
    except ValueError as exc:
        return fail(f"--from: {exc}", 2)
    problem = _not_sqlite(path)
    if problem is not None:
        return fail(problem)
    try:
        copied = asyncio.run(_copy(path, to))
    except (CopyRefusedError, CopyFailedError, DatabaseUnavailableError) as exc:
        return fail(str(exc))
    except (sqlite3.Error, OSError) as exc:
        return fail(f"cannot read {path}: {exc}")
    except Exception as exc:  # whatever else, still one line and no traceback
        return fail(f"the copy failed: {type(exc).__name__}: {exc}")
    for table, rows in copied.items():
        print(f"{table}: {rows}", file=out)
    print(
        redact(
            f"Copied {sum(copied.values())} rows from {path} to {_shown(to)}. "
            "Set DATABASE_URL to it and start the bot."
        ),
        file=out,
    )
    return 0


async def _copy(path: Path, to: str) -> dict[str, int]:
    # The target first: a server that cannot be reached is reported before the source is
    # opened (opening it brings its schema up to date, a write).
    target = await Database.open(to, pool_size=2, retry_seconds=TARGET_WAIT_SECONDS)
    try:
        source = await Database.open(path)
        try:
            return await copy_database(source, target)
        finally:
            await source.close()
    finally:
        await target.close()


def _not_sqlite(path: Path) -> str | None:
    """Why `path` is not a SQLite database to copy; None when it is one. Checked before it is
    opened: opening a missing file would make an empty database of it."""
    if not path.is_file():
        return f"there is no SQLite database at {path}"
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if header != SQLITE_HEADER:
        return f"{path} is not a SQLite database"
    return None


def _shown(url: str) -> str:
    """A PostgreSQL URL without its password (or without anything after the scheme when it
    cannot be read)."""
    try:
        return describe(url)
    except ValueError:
        return "postgresql://..."


def _passwords(url: str) -> list[str]:
    """The password of a URL, as written and decoded (a driver's message may show either)."""
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed URL (a bad port): hide its part between : and @ anyway
        password = url.split("@", 1)[0].rsplit(":", 1)[-1] if "@" in url else None
    return [password, unquote(password)] if password else []
