"""The database layer: migrations, transactions, and the conditional state changes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.records import TaskState
from storage.broadcasts import BroadcastRepository
from storage.db import Database
from storage.drafts import DraftRepository
from storage.media import MediaRepository
from storage.tasks import ClaimRefusal, Quota, TaskRepository
from storage.users import UserRepository

NO_LIMITS = Quota(max_active=None, daily_limit=None, day_started_at=0)


@pytest.fixture(autouse=True)
async def close_every_database(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Close what a test opened, also when it failed half-way: an open connection's worker
    thread would keep pytest from exiting."""
    opened: list[Database] = []
    real_open = Database.open

    async def open_and_keep(path: Path | str) -> Database:
        db = await real_open(path)
        opened.append(db)
        return db

    monkeypatch.setattr(Database, "open", open_and_keep)
    yield
    for db in opened:
        await db.close()  # a second close does nothing


async def open_with_draft(path: Path) -> tuple[Database, int]:
    db = await Database.open(path)
    await UserRepository(db).seen(1, "u", "U", now=1.0)
    draft, _ = await DraftRepository(db).create(
        user_id=1, chat_id=1, video_url="https://v.example.com/a.mp4", prompt="red", now=1.0
    )
    return db, draft.id


async def test_migrations_run_once_and_reopening_keeps_the_data(tmp_path: Path) -> None:
    db, _ = await open_with_draft(tmp_path / "db.sqlite3")
    version = await db.fetch_one("PRAGMA user_version")
    await db.close()
    db = await Database.open(tmp_path / "db.sqlite3")
    assert await db.fetch_one("PRAGMA user_version") == version
    row = await db.fetch_one("SELECT COUNT(*) FROM drafts")
    assert row is not None
    assert row[0] == 1
    assert await db.ping()
    await db.close()
    assert not await db.ping()


async def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    db, _ = await open_with_draft(tmp_path / "db.sqlite3")

    async def delete_then_fail() -> None:
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM drafts")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await delete_then_fail()
    row = await db.fetch_one("SELECT COUNT(*) FROM drafts")
    assert row is not None
    assert row[0] == 1
    await db.close()


async def test_a_draft_becomes_one_task_however_many_claims_race(tmp_path: Path) -> None:
    db, draft_id = await open_with_draft(tmp_path / "db.sqlite3")
    tasks = TaskRepository(db)
    claims = await asyncio.gather(
        *(
            tasks.claim_draft(
                draft_id=draft_id,
                user_id=1,
                provider="kie",
                quota=NO_LIMITS,
                callback_token=f"t{n}",
                now=2.0,
            )
            for n in range(10)
        )
    )
    made = [c.task for c in claims if c.task is not None]
    assert len(made) == 1
    assert {c.refusal for c in claims if c.task is None} == {ClaimRefusal.DRAFT_GONE}
    await db.close()


async def test_only_one_of_racing_transitions_wins(tmp_path: Path) -> None:
    db, draft_id = await open_with_draft(tmp_path / "db.sqlite3")
    tasks = TaskRepository(db)
    claim = await tasks.claim_draft(
        draft_id=draft_id,
        user_id=1,
        provider="kie",
        quota=NO_LIMITS,
        callback_token="t",
        now=2.0,
    )
    assert claim.task is not None
    wins = await asyncio.gather(
        *(tasks.transition(claim.task.id, TaskState.QUEUED, TaskState.SUBMITTING) for _ in range(5))
    )
    assert wins.count(True) == 1
    with pytest.raises(ValueError, match="unknown Task columns"):
        await tasks.transition(claim.task.id, TaskState.SUBMITTING, TaskState.FAILED, evil=1)
    await db.close()


async def test_another_users_claim_is_refused(tmp_path: Path) -> None:
    db, draft_id = await open_with_draft(tmp_path / "db.sqlite3")
    claim = await TaskRepository(db).claim_draft(
        draft_id=draft_id,
        user_id=2,
        provider="kie",
        quota=NO_LIMITS,
        callback_token="t",
        now=2.0,
    )
    assert claim.task is None
    assert claim.refusal == ClaimRefusal.DRAFT_GONE
    assert claim.existing_task_id is None
    await db.close()


async def test_a_commit_that_fails_does_not_wedge_the_shared_connection(tmp_path: Path) -> None:
    db, _ = await open_with_draft(tmp_path / "db.sqlite3")

    async def break_a_foreign_key_at_commit() -> None:
        async with db.transaction() as conn:
            await conn.execute("PRAGMA defer_foreign_keys = ON")
            await conn.execute(
                "INSERT INTO drafts (user_id, chat_id, video_url, state, created_at, updated_at) "
                "VALUES (424242, 1, 'https://v.example.com/b.mp4', 'pending', 1, 1)"
            )

    with pytest.raises(sqlite3.IntegrityError):
        await break_a_foreign_key_at_commit()
    async with db.transaction() as conn:  # the next transaction still works
        await conn.execute("DELETE FROM drafts")
    row = await db.fetch_one("SELECT COUNT(*) FROM drafts")
    assert row is not None
    assert row[0] == 0
    await db.close()


async def test_an_sqlite_without_returning_is_refused_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(sqlite3.NotSupportedError, match=r"SQLite 3\.34\.1; the bot needs 3\.35"):
        await Database.open(tmp_path / "db.sqlite3")
    assert not (tmp_path / "db.sqlite3").exists()


async def test_a_username_moves_to_its_newest_holder_also_after_a_cached_write(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    users = UserRepository(db)
    await users.seen(1, "Alice", "A", now=1.0)
    await users.seen(2, "alice", "B", now=2.0)  # user 2 took the name over
    first = await users.get(1)
    assert first is not None
    assert first.username is None
    await users.seen(1, "alice", "A", now=3.0)  # and back: user 1 was evicted from the cache
    first, second = await users.get(1), await users.get(2)
    assert first is not None
    assert first.username == "alice"
    assert second is not None
    assert second.username is None
    await db.close()


async def test_a_user_writing_again_soon_is_not_written_again_but_changes_still_show(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    users = UserRepository(db)
    await users.seen(1, "u", "U", now=100.0)
    again = await users.seen(1, "u", "U", now=130.0)
    assert again.last_seen_at == 130.0
    stored = await users.get(1)
    assert stored is not None
    assert stored.last_seen_at == 100.0  # not written: within SEEN_WRITE_INTERVAL
    await users.seen(1, "u", "U", now=170.0)  # 70 s after the last write: written
    stored = await users.get(1)
    assert stored is not None
    assert stored.last_seen_at == 170.0
    renamed = await users.seen(1, "v", "U", now=171.0)  # a new name is written at once
    assert renamed.username == "v"

    # A ban (or any change) shows at the next message, also one that raced with it.
    _, banned = await asyncio.gather(
        users.seen(1, "v", "U", now=240.0), users.ban(1, "spam", now=240.0)
    )
    assert banned
    assert (await users.seen(1, "v", "U", now=241.0)).banned
    await users.mark_blocked_bot(1, now=174.0)
    assert (await users.seen(1, "v", "U", now=175.0)).blocked_bot_at is None
    await users.unban(1)
    assert not (await users.seen(1, "v", "U", now=176.0)).banned
    await db.close()


async def test_a_broadcast_keeps_the_message_it_copies(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    repo = BroadcastRepository(db)
    text_id = await repo.create(7, "<b>Big</b> news", 7, now=1.0)
    copy_id = await repo.create(7, "", 7, now=2.0, copy_of=(7, 42))
    text, copy = await repo.get(text_id), await repo.get(copy_id)
    assert text is not None
    assert copy is not None
    assert (text.copy_of, text.text) == (None, "<b>Big</b> news")
    assert (copy.copy_of, copy.text) == ((7, 42), "")
    await repo.start(copy_id, now=3.0)
    assert [b.copy_of for b in await repo.sending()] == [(7, 42)]  # what a restart resumes


async def test_migration_010_keeps_every_task_and_lets_a_task_be_cancelled(tmp_path: Path) -> None:
    """010 makes the tasks table anew (SQLite cannot change its CHECK in place): rows, ids,
    the id counter and the indexes all come through."""
    path = tmp_path / "db.sqlite3"
    folder = Path(__file__).resolve().parent.parent / "storage" / "migrations"
    with sqlite3.connect(path) as conn:  # a database as version 9 left it
        for script in sorted(folder.glob("00[1-9]_*.sql")):
            conn.executescript(script.read_text(encoding="utf-8"))
        conn.execute("PRAGMA user_version = 9")
        conn.execute("INSERT INTO users (id, first_seen_at, last_seen_at) VALUES (1, 0, 0)")
        conn.execute(
            "INSERT INTO drafts (id, user_id, chat_id, video_url, prompt, state, created_at, "
            "updated_at) VALUES (7, 1, 1, 'https://v.example.com/a.mp4', 'red', 'submitted', 0, 0)"
        )
        conn.execute(
            "INSERT INTO tasks (id, user_id, chat_id, draft_id, provider, video_url, prompt, "
            "state, provider_task_id, created_at, callback_token, mode, media_token) VALUES "
            "(41, 1, 1, 7, 'kie', 'https://v.example.com/a.mp4', 'red', 'delivered', 'job-1', "
            "5, 'token', 'flex_1', NULL)"
        )
        conn.execute("UPDATE sqlite_sequence SET seq = 100 WHERE name = 'tasks'")  # ids used
    db = await Database.open(path)
    tasks = TaskRepository(db)
    task = await tasks.get(41)
    assert task is not None
    assert (task.state, task.provider_task_id, task.callback_token) == (
        TaskState.DELIVERED,
        "job-1",
        "token",
    )
    assert await tasks.transition(41, TaskState.DELIVERED, TaskState.CANCELLED)  # now allowed
    indexes = {
        r[0] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert {"tasks_by_user", "tasks_by_provider_id", "tasks_by_callback_token"} <= indexes
    drafts = DraftRepository(db)
    draft, _ = await drafts.create(
        user_id=1, chat_id=1, video_url="https://v.example.com/b.mp4", prompt="blue", now=9.0
    )
    claim = await tasks.claim_draft(
        draft_id=draft.id,
        user_id=1,
        provider="kie",
        quota=Quota(max_active=None, daily_limit=None, day_started_at=0.0),
        callback_token="other",
        now=9.0,
    )
    assert claim.task is not None
    assert claim.task.id == 101  # the id counter came through: no id is given twice
    await db.close()


async def test_a_file_shared_by_follow_ups_is_kept_while_any_task_or_card_uses_it(
    tmp_path: Path,
) -> None:
    """The follow-up buttons make new cards of a task's upload: the file is let go only when no
    unfinished task and no open card uses it (a bug the review of issue 14 found: the first
    task to end set an expiry while the second still ran)."""
    db, draft_id = await open_with_draft(tmp_path / "db.sqlite3")
    media = MediaRepository(db)
    await db.execute(  # held by a task
        "INSERT INTO media (token, user_id, size, created_at, expires_at) "
        "VALUES ('tok', 1, 10, 0, NULL)"
    )

    async def expiry() -> float | None:
        row = await db.fetch_one("SELECT expires_at FROM media WHERE token = 'tok'")
        assert row is not None
        return None if row[0] is None else float(row[0])

    async def task(state: TaskState) -> None:
        await db.execute(
            "INSERT INTO tasks (user_id, chat_id, draft_id, provider, video_url, prompt, state, "
            "created_at, media_token) VALUES (1, 1, ?, 'kie', 'u', 'p', ?, 0, 'tok')",
            (draft_id if state == TaskState.DELIVERED else draft_id + 100, state),
        )

    await db.execute("PRAGMA foreign_keys = OFF")  # two tasks of one made-up draft row
    await task(TaskState.DELIVERED)
    await task(TaskState.PROCESSING)
    await media.release("tok", 3600.0)  # the delivered one ended: the other still runs
    assert await expiry() is None
    await db.execute("UPDATE tasks SET state = 'delivered'")
    await media.release("tok", 3600.0)
    assert await expiry() == 3600.0
    # An open card still uses it: replacing another card does not let it go.
    await db.execute("UPDATE drafts SET media_token = 'tok', state = 'pending'")
    await media.expire_unheld("tok", 10.0)
    assert await expiry() == 3600.0
    assert await media.keep_until_at_least("tok", 86400.0, now=5.0)  # a new card: kept longer
    assert await expiry() == 86400.0
    await db.execute("UPDATE drafts SET state = 'cancelled'")
    await media.expire_unheld("tok", 10.0)
    assert await expiry() == 10.0
    assert not await media.keep_until_at_least("tok", 99.0, now=20.0)  # gone by then
    await db.close()
