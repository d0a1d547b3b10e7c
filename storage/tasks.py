"""Tasks: one paid job at the provider each. Every state change is one conditional UPDATE."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.records import ACTIVE_TASK_STATES, DraftState, Task, TaskState
from storage.db import Database, Dialect, Row, Statements, as_json_list, not_among
from storage.ledger import balance_in, reserve_in
from storage.models import checked_columns, from_row

_ACTIVE = tuple(str(s) for s in ACTIVE_TASK_STATES)
_ACTIVE_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(_ACTIVE)) + ")"
_TRACKED_SQL = f"('{TaskState.QUEUED}', '{TaskState.PROCESSING}', '{TaskState.SUCCEEDED}')"


def _least(dialect: Dialect, a: str, b: str) -> str:
    """The smaller of two values (SQLite's two-argument MIN is PostgreSQL's LEAST)."""
    return f"{'LEAST' if dialect is Dialect.POSTGRESQL else 'MIN'}({a}, {b})"


def _wake_at(dialect: Dialect) -> str:
    """When the tracker should wake for a task, other than to submit it; one parameter, the
    status card interval. A processing task is checked or has its card refreshed, whichever
    comes first; a queued one only has its card (its place in the queue) refreshed: submitting
    is decided apart."""
    return (
        f"(CASE state WHEN '{TaskState.PROCESSING}' "
        f"THEN {_least(dialect, 'next_check_at', 'COALESCE(status_edited_at, 0) + ?1')} "
        f"WHEN '{TaskState.QUEUED}' THEN COALESCE(status_edited_at, 0) + ?1 "
        "ELSE next_check_at END)"
    )


# Tasks the provider refused outright, and tasks cancelled while queued, cost nothing and do not
# count towards the daily limit.
_COUNTS_TOWARDS_DAILY = (
    f"NOT (state = '{TaskState.FAILED}' AND provider_task_id IS NULL) "
    f"AND state != '{TaskState.CANCELLED}'"
)


_AT_PROVIDER = (
    "SELECT COUNT(*) FROM tasks WHERE state IN (?, ?) "
    "OR (state = ? AND provider_task_id IS NULL AND created_at >= ?)"
)
# The advisory lock taken around the check of free provider slots and the change to submitting
# (two int4 keys: apart from the chats' one-bigint keys; see storage.postgres.BOT_LOCKS).
_SUBMIT_LOCK = (0x6C756D61, 2)


def _at_provider_params(unknown_since: float) -> tuple[object, ...]:
    return (TaskState.SUBMITTING, TaskState.PROCESSING, TaskState.UNKNOWN, unknown_since)


class ClaimRefusal(StrEnum):
    DRAFT_GONE = "draft_gone"  # submitted already, cancelled, replaced, or not this user's
    MEDIA_GONE = "media_gone"  # an uploaded video or first frame was deleted since (uploads expire)
    ACTIVE_LIMIT = "active_limit"
    DAILY_LIMIT = "daily_limit"
    NO_CREDITS = "no_credits"  # PAYMENTS=stars: the balance is short of the task's price


@dataclass(frozen=True, slots=True)
class TaskPrice:
    """What a task costs the user (PAYMENTS=stars): `credits`, or its mode's own price in
    `by_mode`, unless it is one of their first `free_per_day` tasks of the day (counted as the
    daily limit counts them)."""

    credits: int
    free_per_day: int = 0
    by_mode: Mapping[str, int] = field(default_factory=dict)

    def of(self, mode: str | None) -> int:
        return self.by_mode.get(mode, self.credits) if mode is not None else self.credits


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


@dataclass(frozen=True, slots=True)
class Owner:
    """This instance, when several share the database: the tracker works only on tasks no live
    instance holds (tasks.lease_owner), and claims each before it does."""

    instance_id: str
    timeout: float  # an instance not seen for this long is dead: what it held is free


# A task this instance may work on: held by nobody, by itself, or by an instance now dead.
# Parameters: the instance's id, and the time before which an unseen instance is dead.
# Only with several instances, so only on PostgreSQL: "dead" is judged by the database's clock,
# which also wrote the heartbeats (instances.seen_at), never by two hosts' clocks.
_ALIVE = (
    "SELECT id FROM instances WHERE seen_at >= EXTRACT(EPOCH FROM clock_timestamp()) - {timeout}"
)
_FREE_FOR_OWNER = (
    "(lease_owner IS NULL OR lease_owner = {me} OR lease_owner NOT IN (" + _ALIVE + "))"
)
_TRANSIENT_SQL = f"('{TaskState.SUBMITTING}', '{TaskState.DELIVERING}')"


class TaskRepository:
    def __init__(self, db: Database, owner: Owner | None = None) -> None:
        """`owner`: this instance, when several share the database (None: the only one)."""
        self._db = db
        self._owner = owner
        self._wake_at = _wake_at(db.dialect)
        self._queued_wake_at = _least(db.dialect, "next_check_at", self._wake_at)

    @property
    def shared(self) -> bool:
        """Whether other instances share the database."""
        return self._owner is not None

    def _free(self, now: float, first: int | None = None) -> tuple[str, tuple[object, ...]]:
        """SQL (starting with AND) and parameters leaving out tasks another live instance
        holds; nothing when this is the only instance. `first`: number its two placeholders
        from there (for SQL with numbered ones)."""
        if self._owner is None:
            return "", ()
        if first is None:
            sql = _FREE_FOR_OWNER.format(me="?", timeout="?")
        else:
            sql = _FREE_FOR_OWNER.format(me=f"?{first}", timeout=f"?{first + 1}")
        return f" AND {sql}", (self._owner.instance_id, self._owner.timeout)

    async def claim(self, task: Task, now: float) -> bool:
        """Hold the task for this instance, unless another live instance holds it; True when
        this instance may work on it. One write, only when it changes hands."""
        if self._owner is None or task.lease_owner == self._owner.instance_id:
            return True
        free, params = self._free(now)
        changed = await self._db.execute(
            f"UPDATE tasks SET lease_owner = ? WHERE id = ?{free}",
            (self._owner.instance_id, task.id, *params),
        )
        return changed == 1

    async def orphaned(
        self, now: float, in_hand: Collection[int], *, silent_owners: bool = True
    ) -> list[Task]:
        """Tasks left mid-submit or mid-delivery (several instances): by an instance that left
        (its row is gone), by none (as after a copy from SQLite), by one whose heartbeats
        stopped (`silent_owners`), or by this one, whose work on them ended without its last
        write (the database went away at that moment; `in_hand`: the tasks this instance is
        working on now, which are not). To be settled."""
        if self._owner is None:
            return []
        silent = f" OR lease_owner NOT IN ({_ALIVE.format(timeout='?')})" if silent_owners else ""
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE state IN {_TRANSIENT_SQL} AND (lease_owner IS NULL "
            f"OR lease_owner NOT IN (SELECT id FROM instances){silent} OR (lease_owner = ? "
            f"AND {not_among(self._db.dialect, 'id')})) ORDER BY id",
            ((self._owner.timeout,) if silent_owners else ())
            + (self._owner.instance_id, as_json_list(in_hand)),
        )
        return [from_row(Task, r) for r in rows]

    async def left_processing(self, *, silent_owners: bool = True) -> list[Task]:
        """Tasks at the provider held by an instance that left (its row gone) or, with
        `silent_owners`, whose heartbeats stopped (several instances). A callback it had taken
        but not yet handled when it died is lost: such tasks are checked at once."""
        if self._owner is None:
            return []
        silent = f" OR lease_owner NOT IN ({_ALIVE.format(timeout='?')})" if silent_owners else ""
        rows = await self._db.fetch_all(
            "SELECT * FROM tasks WHERE state = ? AND lease_owner IS NOT NULL AND lease_owner != ? "
            f"AND (lease_owner NOT IN (SELECT id FROM instances){silent}) ORDER BY id",
            (TaskState.PROCESSING, self._owner.instance_id)
            + ((self._owner.timeout,) if silent_owners else ()),
        )
        return [from_row(Task, r) for r in rows]

    async def start_submitting(
        self, task_id: int, max_at_provider: int, unknown_since: float
    ) -> bool:
        """queued -> submitting, if the provider has a slot free for it, counting every
        instance's tasks (MAX_CONCURRENT_TASKS is for all of them together)."""
        async with self._db.transaction() as conn:
            if conn.dialect is Dialect.POSTGRESQL:  # SQLite's write lock serialises this already
                await conn.execute("SELECT pg_advisory_xact_lock(?, ?)", _SUBMIT_LOCK)
            row = await conn.fetch_one(_AT_PROVIDER, _at_provider_params(unknown_since))
            if row is not None and int(row[0]) >= max_at_provider:
                return False
            changed = await conn.execute(
                "UPDATE tasks SET state = ? WHERE id = ? AND state = ?",
                (TaskState.SUBMITTING, task_id, TaskState.QUEUED),
            )
        return changed == 1

    async def claim_draft(
        self,
        *,
        draft_id: int,
        user_id: int,
        provider: str,
        quota: Quota,
        callback_token: str,
        now: float,
        price: TaskPrice | None = None,
    ) -> Claim:
        """Turn a pending draft into a queued task, at most once, within the user's limits,
        and with `price` (payments on) its price reserved from the user's credits.

        Checking the limits and the balance, marking the draft submitted, inserting the task
        and reserving its price happen in one transaction, so two presses of Submit (or two
        cards at once) cannot slip past any of them.
        """
        async with self._db.transaction() as conn:
            # Claims of one user wait for each other (SQLite's write lock does that already):
            # the limits they check are then the ones they leave.
            await conn.fetch_one(f"SELECT 1 FROM users WHERE id = ?{conn.for_update}", (user_id,))
            draft = await _draft_and_counts(conn, draft_id, user_id, quota.day_started_at)
            if draft is None or draft["state"] != DraftState.PENDING or draft["prompt"] is None:
                existing = draft["task_id"] if draft is not None else None
                return Claim(None, ClaimRefusal.DRAFT_GONE, existing)
            over = _over_limit(draft, quota)
            if over is not None:
                return Claim(None, over)
            cost = 0
            if price is not None and int(draft["today"]) >= price.free_per_day:
                cost = price.of(draft["mode"])
                if await balance_in(conn, user_id) < cost:  # the user's row is locked above
                    return Claim(None, ClaimRefusal.NO_CREDITS)
            uploads = (draft["media_token"], draft["first_frame_media_token"])
            if not await _hold_uploads(conn, uploads, now):
                return Claim(None, ClaimRefusal.MEDIA_GONE)
            await conn.execute(
                "UPDATE drafts SET state = ?, updated_at = ? WHERE id = ?",
                (DraftState.SUBMITTED, now, draft_id),
            )
            created = await _insert_task(
                conn,
                draft,
                draft_id=draft_id,
                user_id=user_id,
                provider=provider,
                callback_token=callback_token,
                now=now,
            )
            task = from_row(Task, next(iter(created)))
            if cost and not await reserve_in(conn, user_id, task.id, cost, now):
                raise RuntimeError("the balance checked under lock fell short")  # rolls back
        return Claim(task)

    async def get(self, task_id: int) -> Task | None:
        row = await self._db.fetch_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return from_row(Task, row) if row else None

    async def get_by_callback_token(self, provider: str, token: str) -> Task | None:
        row = await self._db.fetch_one(
            "SELECT * FROM tasks WHERE callback_token = ? AND provider = ?", (token, provider)
        )
        return from_row(Task, row) if row else None

    async def get_for_user(self, user_id: int, task_id: int) -> Task | None:
        """The task, if it belongs to the user: another user's task does not exist for them."""
        row = await self._db.fetch_one(
            "SELECT * FROM tasks WHERE id = ? AND user_id = ?", (task_id, user_id)
        )
        return from_row(Task, row) if row else None

    async def recent_for_user(self, user_id: int, limit: int) -> list[Task]:
        rows = await self._db.fetch_all(
            "SELECT * FROM tasks WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
        )
        return [from_row(Task, r) for r in rows]

    async def active_for_user(self, user_id: int) -> list[Task]:
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE user_id = ? AND state IN {_ACTIVE_SQL} ORDER BY id",
            (user_id,),
        )
        return [from_row(Task, r) for r in rows]

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

    async def due(
        self, now: float, limit: int, card_interval: float, exclude: Collection[int] = ()
    ) -> list[Task]:
        """Queued and processing tasks the tracker should look at now, other than to submit
        them: to check them, or to refresh a status card not edited for `card_interval` s.
        `exclude`: tasks the tracker has in hand (left out here rather than read again each
        round: a row read is about 40 us of the bot's CPU)."""
        free, params = self._free(now, first=4)
        skip = not_among(self._db.dialect, "id", f"?{4 + len(params)}")
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE state IN ('{TaskState.QUEUED}', '{TaskState.PROCESSING}')"
            f" AND {self._wake_at} <= ?2{free} AND {skip} ORDER BY {self._wake_at} LIMIT ?3",
            (card_interval, now, limit, *params, as_json_list(exclude)),
        )
        return [from_row(Task, r) for r in rows]

    async def due_deliveries(
        self, now: float, limit: int, exclude: Collection[int] = ()
    ) -> list[Task]:
        """Finished tasks whose result is due to be sent, the longest waiting first, leaving
        out those in `exclude` (in hand)."""
        free, params = self._free(now)
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE state = ? AND next_check_at <= ?{free}"
            f" AND {not_among(self._db.dialect, 'id')} ORDER BY next_check_at LIMIT ?",
            (TaskState.SUCCEEDED, now, *params, as_json_list(exclude), limit),
        )
        return [from_row(Task, r) for r in rows]

    async def due_submissions(self, now: float, limit: int) -> list[Task]:
        """Queued tasks that may be sent now, first come first served."""
        if limit <= 0:
            return []
        free, params = self._free(now)
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE state = ? AND next_check_at <= ?{free} ORDER BY id LIMIT ?",
            (TaskState.QUEUED, now, *params, limit),
        )
        return [from_row(Task, r) for r in rows]

    async def next_wake_at(
        self, card_interval: float, exclude: Collection[int], submissions: bool, now: float
    ) -> float | None:
        """When the tracker next has something to do, leaving out the tasks in `exclude` (and
        those another live instance holds at `now`); `submissions` says whether queued tasks
        may be sent (a provider slot is free)."""
        wake_at = (
            f"(CASE WHEN state = '{TaskState.QUEUED}' THEN {self._queued_wake_at} "
            f"ELSE {self._wake_at} END)"
            if submissions
            else self._wake_at
        )
        free, params = self._free(now)
        row = await self._db.fetch_one(
            f"SELECT MIN({wake_at}) FROM tasks WHERE state IN {_TRACKED_SQL}{free}"
            f" AND {not_among(self._db.dialect, 'id')}",
            (card_interval, *params, as_json_list(exclude)),
        )
        return float(row[0]) if row and row[0] is not None else None

    async def count_cards_showing(self) -> int:
        """Status cards the tracker keeps up to date (queued and processing tasks)."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) FROM tasks WHERE state IN (?, ?) AND status_message_id IS NOT NULL",
            (TaskState.QUEUED, TaskState.PROCESSING),
        )
        return int(row[0]) if row else 0

    async def count_at_provider(self, unknown_since: float) -> int:
        """Tasks the provider is working on, or being sent to it; and tasks whose submit got
        no answer since `unknown_since`, which the provider may well be working on."""
        row = await self._db.fetch_one(_AT_PROVIDER, _at_provider_params(unknown_since))
        return int(row[0]) if row else 0

    async def queue_position(self, task_id: int) -> int:
        """1 for the next queued task to go, 2 for the one after, ..."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) FROM tasks WHERE state = ? AND id < ?", (TaskState.QUEUED, task_id)
        )
        return (int(row[0]) if row else 0) + 1

    async def count_by_state(self, since: float) -> dict[TaskState, int]:
        """How many tasks made since `since` are in each state."""
        rows = await self._db.fetch_all(
            "SELECT state, COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY state", (since,)
        )
        return {TaskState(state): int(count) for state, count in rows}

    async def processing_times(self, since: float) -> list[float]:
        """Seconds from submit to done, for tasks that finished well since `since`."""
        rows = await self._db.fetch_all(
            "SELECT finished_at - submitted_at FROM tasks WHERE state = ? AND created_at >= ? "
            "AND submitted_at IS NOT NULL AND finished_at IS NOT NULL",
            (TaskState.DELIVERED, since),
        )
        return [float(seconds) for (seconds,) in rows]

    async def finished_since(self, since: float) -> list[tuple[float, TaskState, float | None]]:
        """(finished at, end state, seconds from submit to finish or None when never
        submitted) of every task that ended at or after `since` (/stats' chart)."""
        rows = await self._db.fetch_all(
            "SELECT finished_at, state, finished_at - submitted_at FROM tasks "
            f"WHERE finished_at >= ? AND state NOT IN {_ACTIVE_SQL}",
            (since,),
        )
        return [
            (float(at), TaskState(state), None if seconds is None else float(seconds))
            for at, state, seconds in rows
        ]

    async def recent_durations(self, provider: str, count: int) -> list[float]:
        """Seconds from submit to result of the provider's last `count` delivered tasks."""
        rows = await self._db.fetch_all(
            "SELECT finished_at - submitted_at FROM tasks WHERE provider = ? AND state = ? "
            "AND submitted_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY id DESC LIMIT ?",
            (provider, TaskState.DELIVERED, count),
        )
        return [float(r[0]) for r in rows if r[0] is not None and r[0] >= 0]

    async def usage(self, user_id: int, day_started_at: float) -> tuple[int, int, int | None]:
        """The user's unfinished tasks, their tasks counting towards today's limit, and their
        own daily limit (set with /limit; None: the default)."""
        row = await self._db.fetch_one(
            f"SELECT (SELECT COUNT(*) FROM tasks WHERE user_id = ?1 AND state IN {_ACTIVE_SQL}), "
            "(SELECT COUNT(*) FROM tasks WHERE user_id = ?1 AND created_at >= ?2 "
            f"AND {_COUNTS_TOWARDS_DAILY}), "
            "(SELECT daily_limit FROM users WHERE id = ?1)",
            (user_id, day_started_at),
        )
        if row is None:
            return 0, 0, None
        return int(row[0]), int(row[1]), None if row[2] is None else int(row[2])

    async def in_states(self, states: Collection[TaskState]) -> list[Task]:
        marks = ", ".join("?" for _ in states)
        rows = await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE state IN ({marks}) ORDER BY id", tuple(states)
        )
        return [from_row(Task, r) for r in rows]


# The steps of TaskRepository.claim_draft, each on the connection of its one transaction.


async def _draft_and_counts(
    conn: Statements, draft_id: int, user_id: int, day_started_at: float
) -> Row | None:
    """The user's draft, the task it already became (task_id), and the user's active tasks
    and tasks counting towards today's limit (active, today); None if the user has no such
    draft."""
    found = list(
        await conn.fetch_all(
            "SELECT d.*, t.id AS task_id, "
            f"(SELECT COUNT(*) FROM tasks WHERE user_id = ?1 AND state IN {_ACTIVE_SQL}) "
            "AS active, "
            "(SELECT COUNT(*) FROM tasks WHERE user_id = ?1 AND created_at >= ?3 "
            f"AND {_COUNTS_TOWARDS_DAILY}) AS today "
            "FROM drafts d LEFT JOIN tasks t ON t.draft_id = d.id "
            "WHERE d.id = ?2 AND d.user_id = ?1",
            (user_id, draft_id, day_started_at),
        )
    )
    return found[0] if found else None


def _over_limit(draft: Row, quota: Quota) -> ClaimRefusal | None:
    """The limit one more task would pass (the active tasks' first), or None."""
    if quota.max_active is not None and draft["active"] >= quota.max_active:
        return ClaimRefusal.ACTIVE_LIMIT
    if quota.daily_limit is not None and draft["today"] >= quota.daily_limit:
        return ClaimRefusal.DAILY_LIMIT
    return None


async def _hold_uploads(conn: Statements, media_tokens: Iterable[str | None], now: float) -> bool:
    """Whether the draft's uploads (its video, its first frame), if it has any, are all still
    there; if so, from now on the task holds them (they no longer expire). None is held when
    one is gone (the caller changes nothing else then, and the transaction ends as it began)."""
    tokens = [token for token in media_tokens if token is not None]
    live = "token = ? AND (expires_at IS NULL OR expires_at > ?)"
    for token in tokens:
        if await conn.fetch_one(f"SELECT 1 FROM media WHERE {live}", (token, now)) is None:
            return False
    for token in tokens:
        await conn.execute(f"UPDATE media SET expires_at = NULL WHERE {live}", (token, now))
    return True


async def _insert_task(
    conn: Statements,
    draft: Row,
    *,
    draft_id: int,
    user_id: int,
    provider: str,
    callback_token: str,
    now: float,
) -> Iterable[Row]:
    """Insert the draft's task, queued; its row comes back (RETURNING *)."""
    return await conn.fetch_all(
        """
        INSERT INTO tasks (user_id, chat_id, draft_id, provider, video_url, prompt, state,
                           status_message_id, created_at, next_check_at, callback_token,
                           mode, first_frame_url, media_token, first_frame_media_token)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        RETURNING *
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
            draft["media_token"],
            draft["first_frame_media_token"],
        ),
    )
