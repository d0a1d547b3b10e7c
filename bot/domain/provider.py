"""The Provider port: what every provider offers the task services, and the errors it may raise.

bot/providers implements it (KIE.ai, Segmind, Luma, the sandbox); the services see only this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.capabilities import Capabilities
from bot.domain.failures import Failure


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    video_url: str
    prompt: str
    callback_url: str | None = None
    mode: str | None = None  # one of capabilities.modes
    first_frame_url: str | None = None


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobStatus:
    """The provider's answer about one job, in the bot's terms."""

    state: JobState
    result_url: str | None = None
    failure: Failure | None = None
    error_message: str | None = None  # the provider's own words, when it gave any
    detail: str = ""  # technical detail for admins and logs

    @classmethod
    def running(cls, detail: str) -> JobStatus:
        return cls(JobState.RUNNING, detail=detail)

    @classmethod
    def finished(cls, result_url: str | None, detail: str) -> JobStatus:
        """The provider says the job is done: SUCCEEDED with its result, or FAILED
        (RESULT_UNAVAILABLE) when the answer names no result."""
        if result_url is None:
            return cls(
                JobState.FAILED, failure=Failure.RESULT_UNAVAILABLE, detail=f"{detail}, no result"
            )
        return cls(JobState.SUCCEEDED, result_url=result_url, detail=detail)

    @classmethod
    def failed(cls, error_message: str | None, detail: str) -> JobStatus:
        """The provider says the generation failed, in `error_message` when it says why."""
        failure = Failure.GENERATION_FAILED
        return cls(JobState.FAILED, failure=failure, error_message=error_message, detail=detail)


class ProviderError(Exception):
    """The provider refused a request or could not be reached.

    `retryable` says whether sending the same request again later may succeed; `code` is the
    provider's error code when it gave one (HTTP status or envelope code).
    """

    def __init__(
        self,
        failure: Failure,
        detail: str,
        *,
        code: int | None = None,
        message: str | None = None,
        retryable: bool = False,
        sent: bool = True,
    ) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.code = code
        self.message = message  # the provider's words, fit to show a user (escaped)
        self.retryable = retryable
        self.sent = sent  # False when the request certainly never reached the provider


class SubmitOutcomeUnknownError(Exception):
    """A submit request was sent but no answer came: the job may or may not exist (and cost)."""


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """What a provider's callback says about one job."""

    job_id: str
    status: JobStatus | None  # None: the job ended, but the callback does not say how


class CallbackRejectedError(Exception):
    """A callback body or signature the bot does not accept; `http_status` is the answer."""

    def __init__(self, http_status: int, reason: str) -> None:
        super().__init__(reason)
        self.http_status = http_status
        self.reason = reason


class Provider(Protocol):
    name: str
    capabilities: Capabilities

    async def wait_for_submit_turn(self) -> None:
        """Wait until the provider's own rate limit lets one more submit through.

        The next submit uses the turn. Called while the task is still queued, so that a task
        waiting here is never marked as sent (a restart then sends it, not "outcome unknown").
        """
        ...

    async def give_back_submit_turn(self) -> None:
        """The turn `wait_for_submit_turn` took will not be used: the task was not sent after
        all (another instance took it, or the provider's slots filled meanwhile). Unused, it
        would hold a place in the window, and the next submit would use a turn too old."""
        ...

    async def submit(self, request: SubmitRequest) -> str:
        """Start a job; return the provider's job id.

        Raises ProviderError when refused, SubmitOutcomeUnknownError when the answer was lost.
        """
        ...

    async def status(self, job_id: str) -> JobStatus:
        """Ask how the job is doing. Raises ProviderError when the question cannot be answered."""
        ...

    def parse_callback(
        self, payload: object, headers: Mapping[str, str], now: float
    ) -> CallbackEvent:
        """Read and authenticate a callback body. Raises CallbackRejectedError."""
        ...

    async def credit_balance(self) -> float | None:
        """The account's credits, where the provider reports them (capabilities.reports_credits)."""
        ...

    async def aclose(self) -> None: ...
