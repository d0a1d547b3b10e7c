"""The records the bot works with, and the states a draft and a task move through.

Plain values: the repositories in storage/ read them from their rows and write them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DraftState(StrEnum):
    AWAITING_PROMPT = "awaiting_prompt"  # the user sent a link; the bot waits for the prompt
    PENDING = "pending"  # the card with Submit / Cancel is showing
    SUBMITTED = "submitted"  # Submit was pressed: the draft became a task
    CANCELLED = "cancelled"
    REPLACED = "replaced"  # a newer draft of the same user took its place


OPEN_DRAFT_STATES = (DraftState.AWAITING_PROMPT, DraftState.PENDING)


class TaskState(StrEnum):
    """A task's life (README: "How a task flows"); each change is one conditional UPDATE in
    TaskRepository."""

    QUEUED = "queued"  # stored, not yet sent to the provider
    SUBMITTING = "submitting"  # the submit request is under way: outcome unknown if we crash now
    PROCESSING = "processing"  # the provider accepted it and is working
    SUCCEEDED = "succeeded"  # the provider is done; the result waits to be sent
    DELIVERING = "delivering"  # a delivery is under way
    DELIVERED = "delivered"  # sent into the chat (as a video, a document or a link)
    FAILED = "failed"  # refused, failed at the provider, or timed out
    UNKNOWN = "unknown"  # the submit request may or may not have reached the provider
    UNDELIVERABLE = "undeliverable"  # done, but the chat cannot be reached (bot blocked)
    CANCELLED = "cancelled"  # cancelled by its user while queued: never reached the provider

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_TASK_STATES


ACTIVE_TASK_STATES = frozenset(
    {
        TaskState.QUEUED,
        TaskState.SUBMITTING,
        TaskState.PROCESSING,
        TaskState.SUCCEEDED,
        TaskState.DELIVERING,
    }
)


class Access(StrEnum):
    """Where a user stands in allowlist mode (ACCESS_MODE=allowlist)."""

    PENDING = "pending"  # asked; the admins have not decided
    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str | None
    first_name: str
    first_seen_at: float
    last_seen_at: float
    access: Access | None
    banned_at: float | None
    ban_reason: str | None
    daily_limit: int | None
    blocked_bot_at: float | None
    telegram_language: str | None = None  # the language code Telegram last sent for them
    language: str | None = None  # chosen with /language; None: follow their Telegram

    def __post_init__(self) -> None:
        if self.access is not None:
            object.__setattr__(self, "access", Access(self.access))

    @property
    def banned(self) -> bool:
        return self.banned_at is not None


@dataclass(frozen=True, slots=True)
class Draft:
    id: int
    user_id: int
    chat_id: int
    video_url: str
    prompt: str | None
    state: DraftState
    card_message_id: int | None
    created_at: float
    updated_at: float
    mode: str | None
    first_frame_url: str | None
    awaiting_first_frame: bool
    media_token: str | None
    # The user's own words when `prompt` is the translator's English of them (None: no
    # translation).
    original_prompt: str | None = None
    # The user's message the card answered: editing it (in Telegram) changes the card.
    source_message_id: int | None = None
    # The first-frame image the user sent as a file (its media store token; `first_frame_url`
    # is where the provider fetches it). None: no first frame, or one given by a link.
    first_frame_media_token: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", DraftState(self.state))
        object.__setattr__(self, "awaiting_first_frame", bool(self.awaiting_first_frame))

    @property
    def media_tokens(self) -> tuple[str, ...]:
        """The files the user sent that it holds in the media store (its video, its first
        frame)."""
        return _present(self.media_token, self.first_frame_media_token)


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    user_id: int
    chat_id: int
    draft_id: int
    provider: str
    video_url: str
    prompt: str
    state: TaskState
    provider_task_id: str | None
    status_message_id: int | None
    result_url: str | None
    failure: str | None
    error_detail: str | None
    delivered_as: str | None
    attempts: int
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    delivered_at: float | None
    next_check_at: float | None
    status_edited_at: float | None
    callback_token: str | None
    mode: str | None
    first_frame_url: str | None
    media_token: str | None
    first_frame_media_token: str | None = None  # the draft's, held until the task ends
    not_founds: int = 0  # status checks answered "not found" in a row
    lease_owner: str | None = None  # the instance working on it (several instances)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TaskState(self.state))

    @property
    def media_tokens(self) -> tuple[str, ...]:
        """The files the user sent that it holds in the media store (its video, its first
        frame): each is released when the task ends."""
        return _present(self.media_token, self.first_frame_media_token)

    @property
    def started_at(self) -> float:
        """When the provider accepted the task (its clock for time-outs), else when it was made."""
        return self.submitted_at or self.created_at


def _present(*tokens: str | None) -> tuple[str, ...]:
    return tuple(token for token in tokens if token)


@dataclass(frozen=True, slots=True)
class Instance:
    """One running bot process (several may share a PostgreSQL database)."""

    id: str  # host:pid:random
    host: str
    pid: int
    mode: str  # 'polling' or 'webhook'
    started_at: float
    seen_at: float
    tasks_held: int = 0  # unfinished tasks it is working on
