"""The fast specs' world: each stage of a task's life over fake ports and a manual clock.

The chat (Outbox), the provider, the held uploads, the tracker's wake-up and the clock are
small recording fakes; the rows are the real repositories over an in-memory SQLite, so every
change of state goes through `TaskRepository.transition`, the one place it happens. Nothing
here opens a connection (see `no_connections`), and nothing sleeps: time moves when a spec
moves the clock.

The `given_*` helpers of `World` bring a task to a state through the stages themselves, then
forget what the fakes recorded on the way: a spec sees only what its own step did.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.capabilities import Capabilities
from bot.domain.delivery import DeliveryResult, Estimate, Report
from bot.domain.payments import TaskCharge
from bot.domain.provider import (
    CallbackEvent,
    CallbackRejectedError,
    JobStatus,
    SubmitRequest,
)
from bot.domain.records import Task, TaskState
from bot.services.maintenance import Maintenance
from bot.services.tasks.intake import SubmitOutcomeKind
from bot.services.tasks.lifecycle import TaskLifecycle
from bot.services.tasks.policy import QuotaPolicy, TrackingPolicy
from bot.services.tasks.ports import TaskPorts
from storage.db import Database
from storage.drafts import DraftRepository
from storage.ledger import LedgerRepository
from storage.media import MediaRepository
from storage.state import StateRepository
from storage.tasks import TaskRepository
from storage.users import UserRepository
from tests.database import TestDatabase

USER = 1001
OTHER_USER = 1002
ADMIN = 900
CHAT = 5001
VIDEO_URL = "https://videos.example.com/clip.mp4"
PROMPT = "make it snow"
RESULT_URL = "https://results.example.com/out.mp4"
# Noon UTC, so that a day's limit is far from its midnight unless a spec moves there.
START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC).timestamp()

TRACKING = TrackingPolicy(
    first_check_delay=10.0,
    check_interval=15.0,
    task_timeout=1800.0,
    status_edit_interval=5.0,
    max_at_provider=2,
    result_retention=24 * 3600.0,
    retry_delay=5.0,
)
QUOTA = QuotaPolicy(max_active_per_user=2, daily_limit=3, admin_ids=frozenset({ADMIN}))


# The fakes.


class ManualClock:
    """`TaskPorts.clock`: the time is what the spec says it is."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WakeCounter:
    """`TaskPorts.wake_tracker`: counts the wake-ups."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@dataclass(frozen=True, slots=True)
class Card:
    task_id: int
    state: TaskState
    queue_position: int | None
    price: TaskCharge | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    task_id: int
    allow_upload: bool
    attempts: int


class RecordingOutbox:
    """The chat and the admins' reports; `results` scripts what the next sends come to (a
    DeliveryResult, or an exception to raise), VIDEO once the script is used up."""

    def __init__(self) -> None:
        self.cards: list[Card] = []
        self.notices: list[tuple[int, str]] = []
        self.sent: list[Sent] = []
        self.reports: list[str] = []
        self.results: deque[DeliveryResult | BaseException] = deque()

    async def show_status(
        self,
        task: Task,
        queue_position: int | None = None,
        estimate: Estimate | None = None,
        price: TaskCharge | None = None,
    ) -> None:
        self.cards.append(Card(task.id, task.state, queue_position, price))

    async def notify(self, task: Task, html: str, *, offer_retry: bool = False) -> None:
        self.notices.append((task.id, html))

    async def send_result(self, task: Task, *, allow_upload: bool) -> DeliveryResult:
        self.sent.append(Sent(task.id, allow_upload, task.attempts))
        await asyncio.sleep(0)  # a send takes a while: let racing callers run meanwhile
        answer = self.results.popleft() if self.results else DeliveryResult.VIDEO
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def report_to_admins(self, report: Report) -> None:
        self.reports.append(report())

    def forget(self) -> None:
        self.cards.clear()
        self.notices.clear()
        self.sent.clear()
        self.reports.clear()


class ScriptedProvider:
    """The provider: `submit_answers` and `status_answers` script its answers in order (a job
    id or a JobStatus, or an exception to raise). An unscripted submit is accepted as
    job-<n> (the n-th submit); an unscripted status question is a mistake in the spec."""

    def __init__(self) -> None:
        self.name = "fake"
        self.capabilities = Capabilities(
            display_name="Fake video service",
            max_duration_seconds=30.0,
            max_size_mb=100,
            formats=("mp4",),
            max_prompt_chars=500,
            result_retention_hours=24.0,
            supports_callbacks=True,
        )
        self.submit_answers: deque[str | BaseException] = deque()
        self.status_answers: deque[JobStatus | BaseException] = deque()
        self.submitted: list[SubmitRequest] = []
        self.asked: list[str] = []  # job ids whose status was asked
        self.turns = 0
        self.closed = False
        self._submits = 0  # in all, for the unscripted job ids
        # Run while a submit is out (before it is answered): to look at the row meanwhile.
        self.while_submitting: Callable[[], Awaitable[None]] | None = None

    async def wait_for_submit_turn(self) -> None:
        self.turns += 1

    async def give_back_submit_turn(self) -> None:
        self.turns -= 1

    async def submit(self, request: SubmitRequest) -> str:
        self.submitted.append(request)
        if self.while_submitting is not None:
            await self.while_submitting()
        self._submits += 1
        answer = self.submit_answers.popleft() if self.submit_answers else f"job-{self._submits}"
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def status(self, job_id: str) -> JobStatus:
        self.asked.append(job_id)
        if not self.status_answers:
            raise AssertionError(f"the spec scripted no status answer for {job_id}")
        answer = self.status_answers.popleft()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def parse_callback(
        self, payload: object, headers: Mapping[str, str], now: float
    ) -> CallbackEvent:
        """A callback body {"job_id": ..., "result_url": ...}; no result URL: the callback
        says the job ended, not how."""
        if not isinstance(payload, dict) or not isinstance(payload.get("job_id"), str):
            raise CallbackRejectedError(400, "no job id")
        result = payload.get("result_url")
        status = JobStatus.finished(result, "callback") if isinstance(result, str) else None
        return CallbackEvent(job_id=payload["job_id"], status=status)

    async def credit_balance(self) -> float | None:
        return None

    async def aclose(self) -> None:
        self.closed = True

    def forget(self) -> None:
        self.submitted.clear()
        self.asked.clear()
        self.turns = 0


class RecordingUploads:
    """`HeldUploads`: which uploads the ended tasks let go of."""

    def __init__(self) -> None:
        self.released: list[str | None] = []

    async def release(self, token: str | None) -> None:
        self.released.append(token)


# The world of one spec.


@dataclass
class World:
    db: Database
    clock: ManualClock = field(default_factory=ManualClock)
    wakes: WakeCounter = field(default_factory=WakeCounter)
    outbox: RecordingOutbox = field(default_factory=RecordingOutbox)
    provider: ScriptedProvider = field(default_factory=ScriptedProvider)
    uploads: RecordingUploads = field(default_factory=RecordingUploads)
    tracking: TrackingPolicy = TRACKING
    quota: QuotaPolicy = QUOTA
    payments: bool = False  # the tasks' prices kept in the ledger (PAYMENTS=stars)

    def __post_init__(self) -> None:
        self.ledger = LedgerRepository(self.db)
        self.tasks = TaskRepository(self.db)
        self.users = UserRepository(self.db)
        self.drafts = DraftRepository(self.db)
        self.media = MediaRepository(self.db)
        self.maintenance = Maintenance(StateRepository(self.db))
        self.ports = TaskPorts(
            tasks=self.tasks,
            users=self.users,
            outbox=self.outbox,
            uploads=self.uploads,
            provider=self.provider,
            wake_tracker=self.wakes,
            clock=self.clock,
            credits=self.ledger if self.payments else None,
        )
        self.life = self._build()

    def _build(self) -> TaskLifecycle:
        return TaskLifecycle(
            self.ports, tracking=self.tracking, quota=self.quota, maintenance=self.maintenance
        )

    def with_policies(self, **changes: Any) -> None:
        """Rebuild the stages with some numbers of the tracking policy changed."""
        self.tracking = replace(self.tracking, **changes)
        self.life = self._build()

    def forget(self) -> None:
        """Forget what the fakes recorded so far."""
        self.outbox.forget()
        self.provider.forget()
        self.uploads.released.clear()
        self.wakes.count = 0

    async def task(self, task_id: int) -> Task:
        """The task's row as stored now."""
        task = await self.tasks.get(task_id)
        assert task is not None, f"task {task_id} is not stored"
        return task

    async def draft(
        self, user_id: int = USER, *, upload: str | None = None, card: int | None = None
    ) -> int:
        """A user's confirmation card, ready to be submitted (with an upload held, if named)."""
        now = self.clock()
        await self.users.seen(user_id, None, f"user {user_id}", now)
        if upload is not None:
            await self.media.add(upload, user_id, 1000, now, expires_at=now + 86400)
        draft, _ = await self.drafts.create(
            user_id=user_id,
            chat_id=CHAT,
            video_url=VIDEO_URL,
            prompt=PROMPT,
            now=now,
            media_token=upload,
        )
        if card is not None:
            await self.drafts.set_card(draft.id, card)
        return draft.id

    async def given_queued(
        self, user_id: int = USER, *, upload: str | None = None, card: int | None = None
    ) -> Task:
        draft_id = await self.draft(user_id, upload=upload, card=card)
        outcome = await self.life.intake.submit_draft(user_id, draft_id)
        assert outcome.kind == SubmitOutcomeKind.SUBMITTED, outcome
        assert outcome.task_id is not None
        self.forget()
        return await self.task(outcome.task_id)

    async def given_processing(
        self, job_id: str | None = None, *, user_id: int = USER, upload: str | None = None
    ) -> Task:
        """A task the provider accepted, as `job_id` (else as job-<task id>)."""
        task = await self.given_queued(user_id, upload=upload)
        self.provider.submit_answers.append(job_id or f"job-{task.id}")
        await self.life.submitting.send(task)
        self.forget()
        task = await self.task(task.id)
        assert task.state == TaskState.PROCESSING, task
        return task

    async def given_succeeded(self, *, upload: str | None = None) -> Task:
        task = await self.given_processing(upload=upload)
        await self.life.checking.on_status(task, JobStatus.finished(RESULT_URL, "done"))
        self.forget()
        task = await self.task(task.id)
        assert task.state == TaskState.SUCCEEDED, task
        return task

    async def given_in(self, state: TaskState, **fields: Any) -> Task:
        """A queued task put straight into `state` (as a crash could leave it)."""
        task = await self.given_queued()
        assert await self.tasks.transition(task.id, TaskState.QUEUED, state, **fields)
        return await self.task(task.id)


# Fixtures.


@pytest.fixture(autouse=True)
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec that tries to reach the network fails at once."""

    real_connect = socket.socket.connect

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a fast spec opened a connection")

    def only_local(sock: socket.socket, address: Any) -> None:
        if sock.family != socket.AF_UNIX:  # PostgreSQL's socket, with --database=postgresql
            refuse()
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", only_local)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
async def db(database: TestDatabase) -> AsyncIterator[Database]:
    """The spec's database: in memory, or a fresh PostgreSQL database (--database)."""
    opened = await Database.open(database.url or ":memory:")
    yield opened
    await opened.close()


@pytest.fixture
def world(db: Database) -> World:
    return World(db)
