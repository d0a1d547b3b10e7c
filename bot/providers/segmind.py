"""Segmind's Luma Modify Video (v2 asynchronous API).

Submit, then poll the status until COMPLETED, then read the result. A FAILED job (content blocks
included) is served as HTTP 422: that is the job's failure, not a transport error. An unknown id
answers 404: results live one hour, so the bot must deliver promptly. Segmind has no callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from bot.domain.capabilities import Capabilities
from bot.domain.failures import Failure
from bot.domain.modes import ALL_MODES
from bot.net.retry import Backoff
from bot.providers.base import (
    CallbackEvent,
    CallbackRejectedError,
    JobState,
    JobStatus,
    ProviderError,
    SubmitOutcomeUnknownError,
    SubmitRequest,
)
from bot.providers.http import HttpProvider, json_object, text_field

SUBMIT_PATH = "/v2/modify-video"

_FAILURES: dict[int, Failure] = {
    400: Failure.INVALID_REQUEST,
    401: Failure.PROVIDER_AUTH,
    403: Failure.PROVIDER_AUTH,
    404: Failure.NOT_FOUND,
    406: Failure.INSUFFICIENT_CREDITS,
    422: Failure.INVALID_REQUEST,
    429: Failure.RATE_LIMITED,
}
_RUNNING = frozenset({"QUEUED", "PROCESSING", "STARTING", "IN_PROGRESS"})

CAPABILITIES = Capabilities(
    display_name="Segmind",
    max_duration_seconds=30,
    max_size_mb=100,
    formats=("mp4", "mov", "webm"),
    max_prompt_chars=800,
    result_retention_hours=1,
    supports_callbacks=False,
    modes=ALL_MODES,
    supports_first_frame=True,
)


class SegmindProvider(HttpProvider):
    name = "segmind"
    capabilities = CAPABILITIES
    SUBMIT_PATH = SUBMIT_PATH

    def __init__(
        self, *, base_url: str, api_key: str, timeout: float = 30.0, backoff: Backoff | None = None
    ) -> None:
        super().__init__(
            display_name=CAPABILITIES.display_name,
            base_url=base_url,
            headers={"x-api-key": api_key},
            timeout=timeout,
            backoff=backoff,
        )

    def _submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        body = {"video_url": request.video_url, "prompt": request.prompt}
        if request.mode:
            body["mode"] = request.mode
        if request.first_frame_url:
            body["first_frame_url"] = request.first_frame_url
        return body

    def _job_id(self, response: httpx.Response) -> str:
        payload = json_object(response)
        if not response.is_success:
            raise self._refusal(response)
        request_id = text_field(payload, "request_id")
        if request_id is None:
            raise SubmitOutcomeUnknownError(
                f"Segmind answered HTTP {response.status_code} without a request_id"
            )
        return request_id

    async def status(self, job_id: str) -> JobStatus:
        status = await self._http.query(
            f"/v2/requests/{job_id}/status",
            read=lambda response: self._read_status(job_id, response),
            what=f"status of {job_id}",
        )
        if status is not None:
            return status
        # COMPLETED: the result body names the video.
        return await self._http.query(
            f"/v2/requests/{job_id}",
            read=lambda response: self._read_result(job_id, response),
            what=f"result of {job_id}",
        )

    def _read_status(self, job_id: str, response: httpx.Response) -> JobStatus | None:
        """The job's status; None when it is COMPLETED and the result must be fetched."""
        payload = json_object(response)
        state = (text_field(payload, "status") or "").upper()
        detail = f"Segmind request {job_id}: HTTP {response.status_code}, status {state or '?'}"
        if state == "FAILED":  # served as HTTP 422, with the reason in "error"
            message = text_field(payload, "error")
            return JobStatus(
                JobState.FAILED,
                failure=Failure.GENERATION_FAILED,
                error_message=message,
                detail=f"{detail}: {message}",
            )
        if not response.is_success:
            raise self._refusal(response)
        if state == "COMPLETED":
            return None
        if state not in _RUNNING:
            raise ProviderError(
                Failure.PROVIDER_ERROR, f"{detail}: an unknown status", retryable=True
            )
        return JobStatus(JobState.RUNNING, detail=detail)

    def _read_result(self, job_id: str, response: httpx.Response) -> JobStatus:
        if not response.is_success:
            status = self._read_status(job_id, response)  # FAILED or a refusal
            if status is not None:
                return status
        payload = json_object(response) or {}
        video = payload.get("video")
        url = text_field(payload, "output") or text_field(
            video if isinstance(video, dict) else None, "url"
        )
        detail = f"Segmind request {job_id}: COMPLETED"
        if url is None:
            return JobStatus(
                JobState.FAILED, failure=Failure.RESULT_UNAVAILABLE, detail=f"{detail}, no output"
            )
        return JobStatus(JobState.SUCCEEDED, result_url=url, detail=detail)

    def _refusal(self, response: httpx.Response) -> ProviderError:
        return self._http.refusal(
            response, _FAILURES, message=text_field(json_object(response), "error")
        )

    def parse_callback(
        self, payload: object, headers: Mapping[str, str], now: float
    ) -> CallbackEvent:
        raise CallbackRejectedError(404, "Segmind does not call back")

    async def credit_balance(self) -> float | None:
        return None
