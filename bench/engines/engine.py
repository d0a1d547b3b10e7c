"""The benches' `--database sqlite|postgresql`.

With postgresql the bench starts a throwaway PostgreSQL 16 server (tests.database.PostgresServer:
pgserver's binaries, a temporary folder, a unix socket, fsync off), gives each bot a fresh
migrated database on it, and stops it at the end. The server runs in processes of its own (the
postmaster and a backend per connection), so its CPU time is in no figure of the bot's process:
`server_cpu()` sums it (psutil: the postmaster, its live children, and the children it has
reaped), for the benches to print beside the bot's.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import tempfile
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # pgserver brings it; no stubs installed

from tests.database import PostgresServer, SyncPostgres, TestDatabase

SQLITE, POSTGRESQL = "sqlite", "postgresql"
ENGINES = (SQLITE, POSTGRESQL)


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        choices=ENGINES,
        default=SQLITE,
        help="the bot's database: a SQLite file (the default), or a fresh database on a "
        "throwaway PostgreSQL server the bench starts (its CPU time is printed apart)",
    )


def exit_on_sigterm() -> None:
    """SIGTERM (`timeout`, `kill`) ends the bench as Ctrl-C does: its `finally` blocks run, and
    the throwaway PostgreSQL server is stopped rather than left running."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


class Engine:
    """SQLite, or a running throwaway PostgreSQL server; fresh databases on either."""

    def __init__(self, server: PostgresServer | None = None, folder: Path | None = None) -> None:
        self._server = server
        self._folder = folder  # the server's data folder (pgdata)
        self.version = "" if server is None else server_version(server.admin_url)

    @classmethod
    def start(cls, name: str) -> Engine:
        """SQLite, or a PostgreSQL server started now (blocking: call it outside the event
        loop, or in a thread)."""
        if name == SQLITE:
            return cls()
        folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        return cls(PostgresServer.start(folder), folder)

    @property
    def postgres(self) -> bool:
        return self._server is not None

    @property
    def name(self) -> str:
        return POSTGRESQL if self.postgres else SQLITE

    def describe(self) -> str:
        if self._server is None:
            return "SQLite (a file in a temporary folder, in the bot's process)"
        return (
            f"{self.version} (throwaway server: unix socket, fsync off), in processes of its "
            "own: its CPU time is not in the bot's figures, and is printed apart"
        )

    def database(self, folder: Path) -> TestDatabase:
        """A fresh database for one bot, whose files (SQLite, uploads) go in `folder`
        (blocking)."""
        path = folder / "bot.sqlite3"
        return TestDatabase(path, None if self._server is None else self._server.create())

    def drop(self, database: TestDatabase) -> None:
        if self._server is not None and database.url is not None:
            self._server.drop(database.url)

    def server_cpu(self) -> float:
        """CPU seconds the PostgreSQL server's processes have used so far (0 for SQLite)."""
        if self._folder is None:
            return 0.0
        try:
            pid = int((self._folder / "postmaster.pid").read_text().split("\n", 1)[0])
            postmaster = psutil.Process(pid)
            times = postmaster.cpu_times()
            children = postmaster.children(recursive=True)
        except (OSError, ValueError, psutil.Error):
            return 0.0
        # The backends it has reaped count in its children_* times; the live ones, below.
        total = times.user + times.system + times.children_user + times.children_system
        for child in children:
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return float(total)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def server_version(url: str) -> str:
    conn = SyncPostgres(url)
    try:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
    finally:
        conn.close()
    return f"PostgreSQL {row[0] if row else '?'}"
