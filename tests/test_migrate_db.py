"""`python -m bot migrate-db`: a SQLite database with every kind of row, copied into PostgreSQL.

These tests need a PostgreSQL server also when the suite runs on SQLite: the run's own
(`--database=postgresql`), else one started for this module.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.domain.failures import Failure
from bot.domain.payments import CreditPack
from bot.domain.records import Access, DraftState, Task, TaskState
from storage.broadcasts import BroadcastRepository, RecipientState
from storage.copy import RUNTIME_TABLES, SchemaMismatchError, TargetNotEmptyError, copy_database
from storage.db import Database
from storage.drafts import DraftRepository
from storage.invoices import InvoiceRepository
from storage.ledger import LedgerRepository
from storage.media import MediaRepository
from storage.state import StateRepository
from storage.tasks import Quota, TaskRepository
from storage.users import UserRepository
from tests.database import PostgresServer, SyncPostgres, TestDatabase, connect
from tests.test_process import base_environment

NO_LIMITS = Quota(max_active=None, daily_limit=None, day_started_at=0)
NOW = 1_700_000_000.123456  # times with fractions: REAL in SQLite, DOUBLE PRECISION in PostgreSQL
BIG_ID = 7_123_456_789  # Telegram ids past 2**31 need BIGINT
ADMIN = 1
# Every task state, and the steps (state, fields) that bring a queued task there.
STEPS: dict[TaskState, list[tuple[TaskState, dict[str, Any]]]] = {
    TaskState.QUEUED: [],
    TaskState.SUBMITTING: [(TaskState.SUBMITTING, {})],
    TaskState.PROCESSING: [
        (TaskState.SUBMITTING, {}),
        (TaskState.PROCESSING, {"provider_task_id": "job-p", "submitted_at": NOW + 20.5}),
    ],
    TaskState.SUCCEEDED: [
        (TaskState.SUBMITTING, {}),
        (TaskState.PROCESSING, {"provider_task_id": "job-s", "submitted_at": NOW + 20.25}),
        (TaskState.SUCCEEDED, {"result_url": "https://r.example.com/s.mp4", "finished_at": NOW}),
    ],
    TaskState.DELIVERING: [
        (TaskState.SUBMITTING, {}),
        (TaskState.PROCESSING, {"provider_task_id": "job-g", "submitted_at": NOW + 21}),
        (TaskState.SUCCEEDED, {"result_url": "https://r.example.com/g.mp4", "finished_at": NOW}),
        (TaskState.DELIVERING, {}),
    ],
    TaskState.DELIVERED: [
        (TaskState.SUBMITTING, {}),
        (TaskState.PROCESSING, {"provider_task_id": "job-d", "submitted_at": NOW + 22}),
        (TaskState.SUCCEEDED, {"result_url": "https://r.example.com/d.mp4", "finished_at": NOW}),
        (TaskState.DELIVERING, {}),
        (TaskState.DELIVERED, {"delivered_as": "video", "delivered_at": NOW + 99.75}),
    ],
    TaskState.FAILED: [
        (TaskState.SUBMITTING, {}),
        (
            TaskState.FAILED,
            {
                "failure": Failure.GENERATION_FAILED,
                "error_detail": "HTTP 500: {'msg': \"it's broken\"}",
                "finished_at": NOW + 30,
            },
        ),
    ],
    TaskState.UNKNOWN: [(TaskState.SUBMITTING, {}), (TaskState.UNKNOWN, {"attempts": 1})],
    TaskState.UNDELIVERABLE: [
        (TaskState.SUBMITTING, {}),
        (TaskState.PROCESSING, {"provider_task_id": "job-u", "submitted_at": NOW + 23}),
        (TaskState.SUCCEEDED, {"result_url": "https://r.example.com/u.mp4", "finished_at": NOW}),
        (TaskState.DELIVERING, {}),
        (TaskState.UNDELIVERABLE, {"error_detail": "Forbidden: bot was blocked by the user"}),
    ],
    TaskState.CANCELLED: [(TaskState.CANCELLED, {"finished_at": NOW + 5})],
}


@pytest.fixture(scope="module")
def server(postgres: PostgresServer) -> PostgresServer:
    """The run's PostgreSQL server (started for these tests when the run has none yet)."""
    return postgres


@pytest.fixture
def blank(server: PostgresServer) -> Iterator[str]:
    """The URL of a new database with nothing in it, as `createdb` makes one."""
    name = f"migrate_{secrets.token_hex(6)}"
    admin = SyncPostgres(server.admin_url)
    try:
        admin.script(f"CREATE DATABASE {name}")
    finally:
        admin.close()
    url = server.url_of(name)
    yield url
    server.drop(url)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "bot.sqlite3"
    asyncio.run(fill(path))
    return path


async def fill(path: Path) -> None:
    """A SQLite database with every kind of row, made by the repositories as the bot makes it."""
    db = await Database.open(path)
    try:
        await fill_users(db)
        await fill_tasks_and_drafts(db)
        await fill_broadcasts(db)
        await fill_ledger(db)
        state = StateRepository(db)
        await state.get_or_set("telegram_webhook_secret", secrets.token_urlsafe(32))
        await state.set("maintenance_message", "Back at 5 — «maintenance» ✨")
    finally:
        await db.close()


async def fill_users(db: Database) -> None:
    users = UserRepository(db)
    await users.seen(ADMIN, "Admin", "Ada", NOW, "en")
    await users.set_access(ADMIN, Access.ALLOWED)
    await users.set_daily_limit(ADMIN, 50)
    await users.seen(BIG_ID, "big_bob", "Bøb 🎨 O'Neil", NOW + 1.5, "ru")
    await users.set_language(BIG_ID, "ru")
    await users.ensure(3)  # banned before ever writing: an empty row
    await users.ban(3, 'spam; it\'s "bad"', NOW + 2)
    await users.seen(4, None, "Quiet", NOW + 3)
    await users.set_access(4, Access.DENIED)
    await users.mark_blocked_bot(4, NOW + 4)
    for user_id in (5, 6, 7):
        await users.seen(user_id, f"user{user_id}", "", NOW + user_id, None)
    await users.set_access(5, Access.PENDING)


async def fill_tasks_and_drafts(db: Database) -> None:
    drafts, tasks, media = DraftRepository(db), TaskRepository(db), MediaRepository(db)
    await media.add("video-token", ADMIN, 12_345_678, NOW, NOW + 3600)
    await media.add("frame-token", ADMIN, 2048, NOW, NOW + 3600)
    await media.add("old-token", BIG_ID, 5_000_000_000, NOW - 10, NOW - 5)  # > 2**32 bytes
    await media.add("card-token", 5, 1000, NOW, NOW + 60)
    for n, state in enumerate(TaskState, start=1):
        user_id = (ADMIN, BIG_ID, 5)[n % 3]
        uploads = {"media_token": "video-token"} if state is TaskState.DELIVERED else {}
        if state is TaskState.PROCESSING:
            uploads = {"first_frame_media_token": "frame-token"}
        draft, _ = await drafts.create(
            user_id=user_id,
            chat_id=user_id,
            video_url=f"https://v.example.com/{n}.mp4",
            prompt=f'make it red #{n}; "quoted" ? $1 -- not a comment',
            now=NOW + n,
            mode="flex_2" if n % 2 else None,
            first_frame_url="https://v.example.com/frame.png" if n == 3 else None,
            original_prompt="сделай красным" if n == 4 else None,
            **uploads,
        )
        await drafts.set_card(draft.id, 1000 + n, source_message_id=900 + n if n % 2 else None)
        claim = await tasks.claim_draft(
            draft_id=draft.id,
            user_id=user_id,
            provider="kie" if n % 2 else "segmind",
            quota=NO_LIMITS,
            callback_token=secrets.token_urlsafe(16),
            now=NOW + n + 0.5,
        )
        assert claim.task is not None
        await advance(tasks, claim.task, STEPS[state])
    processing = await tasks.in_states([TaskState.PROCESSING])
    await tasks.update(
        processing[0].id, TaskState.PROCESSING, attempts=2, not_founds=1, status_edited_at=NOW
    )
    await media.release("video-token", NOW + 7200)  # its task was delivered
    # The cards that never became tasks: waiting for a prompt, showing, cancelled, replaced.
    await drafts.create(
        user_id=7, chat_id=7, video_url="https://v.example.com/r.mp4", prompt="x", now=NOW
    )
    await drafts.create(
        user_id=7, chat_id=7, video_url="https://v.example.com/w.mp4", prompt=None, now=NOW + 1
    )
    cancelled, _ = await drafts.create(
        user_id=6, chat_id=6, video_url="https://v.example.com/c.mp4", prompt="blue", now=NOW
    )
    await drafts.transition(cancelled.id, DraftState.PENDING, DraftState.CANCELLED, NOW + 2)
    showing, _ = await drafts.create(
        user_id=5,
        chat_id=5,
        video_url="https://v.example.com/p.mp4",
        prompt="warm",
        now=NOW + 3,
        media_token="card-token",
        mode="reimagine_3",
    )
    await drafts.update_pending(showing.id, 5, NOW + 4, awaiting_first_frame=1)
    await drafts.set_card(showing.id, 4321)


async def advance(
    tasks: TaskRepository, task: Task, steps: list[tuple[TaskState, dict[str, Any]]]
) -> None:
    state = task.state
    for to_state, fields in steps:
        assert await tasks.transition(task.id, state, to_state, **fields)
        state = to_state


async def fill_broadcasts(db: Database) -> None:
    broadcasts = BroadcastRepository(db)
    sending = await broadcasts.create(ADMIN, "<b>Hello</b> & welcome", ADMIN, NOW + 10)
    await broadcasts.set_progress_message(sending, 777)
    assert await broadcasts.start(sending, NOW + 11)
    recipients = await broadcasts.pending(sending, 10)
    assert len(recipients) == len(RecipientState)  # users 1, 5, 6, 7 and BIG_ID
    for user_id, state in zip(recipients, list(RecipientState)[1:], strict=False):
        assert await broadcasts.mark(sending, user_id, RecipientState.PENDING, state)
    copy = await broadcasts.create(ADMIN, "", ADMIN, NOW + 12, copy_of=(ADMIN, 4242))
    assert await broadcasts.start(copy, NOW + 13)
    for user_id in await broadcasts.pending(copy, 10):
        assert await broadcasts.mark(copy, user_id, RecipientState.PENDING, RecipientState.SENT)
    await broadcasts.finish(copy, NOW + 14)
    assert await broadcasts.cancel(await broadcasts.create(ADMIN, "never", ADMIN, NOW + 15))
    await broadcasts.create(ADMIN, "still a draft", ADMIN, NOW + 16, copy_of=(BIG_ID, 1))


async def run(*args: str, cwd: Path, **env: str) -> tuple[int, str, str]:
    """`python -m bot migrate-db ARGS`: its exit status, stdout and stderr."""
    environment = base_environment() | {
        "PROVIDER": "sandbox",  # no provider key needed for the settings to load
        "DATABASE_PATH": str(cwd / "unused" / "bot.sqlite3"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "migrate-db",
        *args,
        cwd=cwd,
        env=environment | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def fill_ledger(db: Database) -> None:
    """Every kind of credit movement: a purchase (an invoice paid; another sent, not paid), a
    reservation charged and one returned, a grant and a removal."""
    ledger = LedgerRepository(db)
    rows = await db.fetch_all("SELECT id, user_id FROM tasks ORDER BY id LIMIT 2")
    (charged, user), (released, _) = ((int(r[0]), int(r[1])) for r in rows)
    invoices = InvoiceRepository(db)
    paid = await invoices.issue(user, CreditPack(50, 225), NOW)
    assert (await invoices.pay(paid.payload, user, "stxAbC'?$1", 225, NOW)).credited
    await invoices.issue(user, CreditPack(10, 50), NOW)  # sent, not paid
    for task in (charged, released):
        assert await ledger.reserve(user, task, 10, NOW)
    assert await ledger.charge(charged, NOW)
    assert await ledger.release(released, NOW, reason="failed at the provider")
    assert await ledger.grant(user, 7, "sorry — «outage» $1 ?", ADMIN, NOW) is not None
    assert await ledger.grant(user, -2, "typo", ADMIN, NOW) is not None


def sqlite_tables(path: Path) -> dict[str, list[str]]:
    """Each table of the SQLite database that holds data (not RUNTIME_TABLES), with its
    columns."""
    with closing(sqlite3.connect(path)) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
            if name not in RUNTIME_TABLES
        ]
        return {
            name: [c for (c,) in conn.execute("SELECT name FROM pragma_table_info(?)", (name,))]
            for name in names
        }


def contents(
    database: TestDatabase, tables: dict[str, list[str]]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as sorted tuples of the same columns on either engine."""
    with connect(database) as conn:
        return {
            table: sorted(
                map(tuple, conn.execute(f"SELECT {', '.join(columns)} FROM {table}")),  # noqa: S608
                key=repr,
            )
            for table, columns in tables.items()
        }


def postgres_tables(url: str) -> list[str]:
    with connect(TestDatabase(Path("unused"), url)) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename != 'schema_version' ORDER BY tablename"
        ).fetchall()
    return [name for (name,) in rows]


async def test_every_row_is_copied_and_a_second_copy_is_refused(
    source: Path, blank: str, tmp_path: Path
) -> None:
    tables = sqlite_tables(source)
    before = contents(TestDatabase(source), tables)
    every_table = (
        "users",
        "drafts",
        "tasks",
        "bot_state",
        "broadcasts",
        "broadcast_recipients",
        "ledger",
        "invoices",
    )
    assert set(tables) == {*every_table, "media"}
    assert all(before.values()), "every table has rows"
    task_states = {row[tables["tasks"].index("state")] for row in before["tasks"]}
    assert task_states == set(TaskState)
    draft_states = {row[tables["drafts"].index("state")] for row in before["drafts"]}
    assert draft_states == set(DraftState)
    recipient_states = {row[2] for row in before["broadcast_recipients"]}
    assert recipient_states == set(RecipientState)

    code, out, err = await run("--to", blank, "--from", str(source), cwd=tmp_path)

    assert (code, err) == (0, ""), out
    lines = out.splitlines()
    assert sorted(lines[:-1]) == sorted(f"{table}: {len(rows)}" for table, rows in before.items())
    assert lines[-1].startswith(f"Copied {sum(map(len, before.values()))} rows from {source}")
    target = TestDatabase(source, blank)
    assert postgres_tables(blank) == sorted([*tables, *RUNTIME_TABLES])
    assert contents(target, tables) == before  # every value equal, floats too
    assert contents(TestDatabase(source), tables) == before  # the source as it was

    code, out, err = await run("--to", blank, "--from", str(source), cwd=tmp_path)

    assert code != 0
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert "not empty" in err
    assert "Traceback" not in err
    assert contents(target, tables) == before


async def test_new_rows_are_numbered_after_the_copied_ones(
    source: Path, blank: str, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(source)) as conn, conn:
        # A task deleted at the end: its number was given out, and is not given out again.
        (deleted,) = conn.execute("SELECT MAX(id) FROM tasks").fetchone()
        conn.execute("DELETE FROM tasks WHERE id = ?", (deleted,))
        (last_draft,) = conn.execute("SELECT MAX(id) FROM drafts").fetchone()
        (last_broadcast,) = conn.execute("SELECT MAX(id) FROM broadcasts").fetchone()

    code, _, err = await run("--to", blank, "--from", str(source), cwd=tmp_path)
    assert code == 0, err

    db = await Database.open(blank)
    try:
        draft, _ = await DraftRepository(db).create(
            user_id=BIG_ID,
            chat_id=BIG_ID,
            video_url="https://v.example.com/n.mp4",
            prompt="new",
            now=NOW + 500,
        )
        assert draft.id == last_draft + 1
        claim = await TaskRepository(db).claim_draft(
            draft_id=draft.id,
            user_id=BIG_ID,
            provider="kie",
            quota=NO_LIMITS,
            callback_token="new-token",
            now=NOW + 501,
        )
        assert claim.task is not None
        assert claim.task.id == deleted + 1
        broadcast = await BroadcastRepository(db).create(ADMIN, "after", ADMIN, NOW + 502)
        assert broadcast == last_broadcast + 1
        user = await UserRepository(db).get(BIG_ID)
        assert user is not None
        assert (user.username, user.language) == ("big_bob", "ru")
    finally:
        await db.close()


async def test_an_unreachable_target_is_one_line_without_the_password(
    source: Path, tmp_path: Path
) -> None:
    before = source.read_bytes()
    code, out, err = await run(
        "--to", "postgresql://u:secretpw@127.0.0.1:1/x", "--from", str(source), cwd=tmp_path
    )
    assert code != 0
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert "postgresql://u@127.0.0.1:1/x" in err
    assert "secretpw" not in err
    assert "Traceback" not in err
    assert source.read_bytes() == before


@pytest.mark.parametrize("how", ["--from", "DATABASE_PATH"])
async def test_a_missing_source_is_refused_and_not_created(
    how: str, blank: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "bot.sqlite3"
    if how == "--from":
        code, out, err = await run("--to", blank, "--from", str(missing), cwd=tmp_path)
    else:
        code, out, err = await run("--to", blank, cwd=tmp_path, DATABASE_PATH=str(missing))
    assert code != 0
    assert out == ""
    assert err.strip() == f"migrate-db: there is no SQLite database at {missing}"
    assert not missing.parent.exists()
    assert postgres_tables(blank) == []  # the target was not touched either


@pytest.mark.parametrize("content", [b"", b"name,prompt\n1,red\n"])
async def test_a_source_that_is_not_a_sqlite_database_is_refused(
    content: bytes, blank: str, tmp_path: Path
) -> None:
    other = tmp_path / "notes.csv"
    other.write_bytes(content)
    code, out, err = await run("--to", blank, "--from", str(other), cwd=tmp_path)
    assert code != 0
    assert out == ""
    assert err.strip() == f"migrate-db: {other} is not a SQLite database"
    assert other.read_bytes() == content


@pytest.mark.parametrize(
    ("to", "said"),
    [
        ("sqlite:///elsewhere.sqlite3", "--to must be a PostgreSQL URL"),
        ("data/other.sqlite3", "--to must be a PostgreSQL URL"),
    ],
)
async def test_a_target_that_is_not_postgresql_is_refused(
    to: str, said: str, source: Path, tmp_path: Path
) -> None:
    code, _, err = await run("--to", to, "--from", str(source), cwd=tmp_path)
    assert code == 2
    assert said in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "elsewhere.sqlite3").exists()


async def test_the_help_says_to_stop_the_bot_first(tmp_path: Path) -> None:
    code, out, _ = await run("--help", cwd=tmp_path)
    assert code == 0
    assert "Stop the bot before copying" in " ".join(out.split())


async def test_small_batches_copy_page_by_page(source: Path, server: PostgresServer) -> None:
    url = server.create()  # the bot's schema, no rows
    try:
        sqlite_db = await Database.open(source)
        target = await Database.open(url)
        try:
            copied = await copy_database(sqlite_db, target, batch=2)
            assert list(copied)[:3] == ["users", "drafts", "tasks"]
            order = list(copied)
            assert order.index("broadcasts") < order.index("broadcast_recipients")
            with pytest.raises(TargetNotEmptyError):
                await copy_database(sqlite_db, target)
        finally:
            await target.close()
            await sqlite_db.close()
        tables = sqlite_tables(source)
        expected = contents(TestDatabase(source), tables)
        assert copied == {table: len(rows) for table, rows in expected.items()}
        assert contents(TestDatabase(source, url), tables) == expected
    finally:
        server.drop(url)


async def test_databases_at_other_schema_versions_are_refused(
    source: Path, server: PostgresServer
) -> None:
    url = server.create()
    try:
        sqlite_db = await Database.open(source)
        target = await Database.open(url)
        try:
            await target.execute("UPDATE schema_version SET version = version - 1")
            with pytest.raises(SchemaMismatchError, match="schema version"):
                await copy_database(sqlite_db, target)
            assert await target.fetch_all("SELECT * FROM users") == []  # nothing copied
        finally:
            await target.close()
            await sqlite_db.close()
    finally:
        server.drop(url)
