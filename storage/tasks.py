"""Tasks: one paid job at the provider each. Every state change is one conditional UPDATE."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.db import Database
from storage.models import (
    ACTIVE_TASK_STATES,
    DraftState,
    Task,
    TaskState,
    checked_columns,
)

_ACTIVE = tuple(str(s) for s in ACTIVE_TASK_STATES)
_ACTIVE_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(_ACTIVE)) + ")"
_TRACKED_SQL = f"('{TaskState.QUEUED}', '{TaskState.PROCESSING}', '{TaskState.SUCCEEDED}')"
# When the tracker should wake for a task; takes one parameter, the status card interval.
_WAKE_AT = (
    f"(CASE WHEN state = '{TaskState.PROCESSING}' "
    "THEN MIN(next_check_at, COALESCE(status_edited_at, 0) + ?) ELSE next_check_at END)"
)
# Tasks the provider refused outright cost nothing and do not count towards the daily limit.
_COUNTS_TOWARDS_DAILY = f"NOT (state = '{TaskState.FAILED}' AND provider_task_id IS NULL)"


class ClaimRefusal(StrEnum):
    DRAFT_GONE = "draft_gone"  # submitted already, cancelled, replaced, or not this user's
    ACTIVE_LIMIT = "active_limit"
    DAILY_LIMIT = "daily_limit"


@dataclass(frozen=True, slots=True)
class Quota:
    """Limits checked atomically with the claim; None means no limit (admins)."""

    max_active: int | None
    daily_limit: int | None
    day_started_at: float


@dataclass(frozen=True, slots=True)
class Claim:
    task: Task | None
    refusal: ClaimRefusal | None = None
    existing_task_id: int | None = None  # for DRAFT_GONE: the task the draft already became


class TaskRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim_draft(
        self,
        *,
        draft_id: int,
        user_id: int,
        provider: str,
        quota: Quota,
        callback_token: str,
        now: float,
    ) -> Claim:
        """Turn a pending draft into a queued task, at most once, within the user's limits.

        Checking the limits, marking the draft submitted and inserting the task happen in one
        transaction, so two presses of Submit (or two cards at once) cannot slip past either.
        """
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT d.*, t.id AS task_id FROM drafts d LEFT JOIN tasks t ON t.draft_id = d.id "
                "WHERE d.id = ? AND d.user_id = ?",
                (draft_id, user_id),
            ) as cursor:
                draft = await cursor.fetchone()
            if draft is None or draft["state"] != DraftState.PENDING or draft["prompt"] is None:
                existing = draft["task_id"] if draft is not None else None
                return Claim(None, ClaimRefusal.DRAFT_GONE, existing)
            if quota.max_active is not None:
                async with conn.execute(
                    f"SELECT COUNT(*) FROM tasks WHERE user_id = ? AND state IN {_ACTIVE_SQL}",
                    (user_id,),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is not None and row[0] >= quota.max_active:
                    return Claim(None, ClaimRefusal.ACTIVE_LIMIT)
            if quota.daily_limit is not None:
                async with conn.execute(
                    f"SELECT COUNT(*) FROM tasks WHERE user_id = ? AND created_at >= ? "
                    f"AND {_COUNTS_TOWARDS_DAILY}",
                    (user_id, quota.day_started_at),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is not None and row[0] >= quota.daily_limit:
                    return Claim(None, ClaimRefusal.DAILY_LIMIT)
            await conn.execute(
                "UPDATE drafts SET state = ?, updated_at = ? WHERE id = ?",
                (DraftState.SUBMITTED, now, draft_id),
            )
            cursor = await conn.execute(
                """
                INSERT INTO tasks (user_id, chat_id, draft_id, provider, video_url, prompt, state,
                                   status_message_id, created_at, next_check_at, callback_token,
                                   mode, first_frame_url)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    user_id,
                    draft["chat_id"],
                    draft_id,
                    provider,
                    draft["video_url"],
                    draft["prompt"],
                    TaskState.QUEUED,
                    draft["card_message_id"],
                    now,
                    now,
                    callback_token,
                    draft["mode"],
                    draft["first_frame_url"],
                ),
            )
            task_id = cursor.lastrowid
        task = await self.get(task_id or 0)
        if task is None:
            raise RuntimeError("the task just stored is missing")
        return Claim(task)

    async def get(self, task_id: int) -> Task | None:
        row = await self._db.fetch_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return Task.from_row(row) if row else None

    async def get_by_callback_token(self, provider: str, token: str) -> Task | None:
        row = await self._db.fetch_one(
            "SELECT * FROM tasks WHERE callback_token = ? AND provider = ?", (token, provider)
        )
        return Task.from_row(row) if row else None

    async def get_for_user(self, user_id: int, task_id: int) -> Task | None:
        """The task, if it belongs to the user: another user's task does not exist for them."""
        row = await self._db.fetch_one(
            "SELECT * FROM tasks WHERE id = ? AND user_id = ?", (task_id, user_id)
        )
        return Task.from_row(row) if row else None

    async def recent_for_user(self, user_id: int, limit: int) -> list[Task]:
        rows = await self._db.fetch_all(
            "SELECT * FROM tasks WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
        )
        return [Task.from_row(r) for r in rows]

    async def active_for_user(self, user_id: int) -> list[Task]:
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE user_id = ? AND state IN {_ACTIVE_SQL} ORDER BY id",
            (user_id,),
        )
        return [Task.from_row(r) for r in rows]

    async def transition(
        self,
        task_id: int,
        from_states: TaskState | Collection[TaskState],
        to_state: TaskState,
        **fields: Any,
    ) -> bool:
        """Move a task to `to_state` if it is in one of `from_states`, setting `fields` too.

        Returns whether this caller made the change: of two callers racing (a poll and a
        provider callback, say) exactly one gets True.
        """
        sources = (from_states,) if isinstance(from_states, TaskState) else tuple(from_states)
        checked_columns(Task, fields)
        assignments = "".join(f", {name} = ?" for name in fields)
        marks = ", ".join("?" for _ in sources)
        changed = await self._db.execute(
            f"UPDATE tasks SET state = ?{assignments} WHERE id = ? AND state IN ({marks})",
            (to_state, *fields.values(), task_id, *sources),
        )
        return changed == 1

    async def update(self, task_id: int, state: TaskState, **fields: Any) -> bool:
        """Change bookkeeping fields of a task that is still in `state`."""
        checked_columns(Task, fields)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        changed = await self._db.execute(
            f"UPDATE tasks SET {assignments} WHERE id = ? AND state = ?",
            (*fields.values(), task_id, state),
        )
        return changed == 1

    async def due(self, now: float, limit: int, card_interval: float) -> list[Task]:
        """Tasks the tracker should look at now: to submit, check or deliver them, or to
        refresh the status card of a processing task not edited for `card_interval` seconds."""
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE state IN {_TRACKED_SQL} AND {_WAKE_AT} <= ? "
            f"ORDER BY {_WAKE_AT} LIMIT ?",
            (card_interval, now, card_interval, limit),
        )
        return [Task.from_row(r) for r in rows]

    async def next_wake_at(
        self, card_interval: float, exclude: Collection[int] = ()
    ) -> float | None:
        """When the tracker next has something to do, leaving out the tasks in `exclude`."""
        skip = ", ".join("?" for _ in exclude)
        row = await self._db.fetch_one(
            f"SELECT MIN({_WAKE_AT}) FROM tasks WHERE state IN {_TRACKED_SQL}"
            + (f" AND id NOT IN ({skip})" if exclude else ""),
            (card_interval, *exclude),
        )
        return float(row[0]) if row and row[0] is not None else None

    async def in_states(self, states: Collection[TaskState]) -> list[Task]:
        marks = ", ".join("?" for _ in states)
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE state IN ({marks}) ORDER BY id", tuple(states)
        )
        return [Task.from_row(r) for r in rows]
