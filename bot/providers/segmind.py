"""Segmind's Luma Modify Video (v2 asynchronous API).

Submit, then poll the status until COMPLETED, then read the result. A FAILED job (content blocks
included) is served as HTTP 422: that is the job's failure, not a transport error. An unknown id
answers 404: results live one hour, so the bot must deliver promptly. Segmind has no callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from bot.domain.capabilities import Capabilities
from bot.domain.failures import Failure
from bot.domain.modes import ALL_MODES
from bot.domain.provider import JobStatus, ProviderError, SubmitRequest
from bot.providers.http import HTTP_FAILURES, HttpProvider, json_object, present, text_field

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
    """Neither calls back nor reports credits: HttpProvider's defaults."""

    name = "segmind"
    capabilities = CAPABILITIES
    SUBMIT_PATH = "/v2/modify-video"
    JOB_ID_FIELD = "request_id"
    FAILURES: ClassVar[Mapping[int, Failure]] = {**HTTP_FAILURES, 406: Failure.INSUFFICIENT_CREDITS}
    ERROR_FIELD = "error"

    @staticmethod
    def _auth_headers(api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key}

    def _submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        return {
            "video_url": request.video_url,
            "prompt": request.prompt,
            **present(mode=request.mode, first_frame_url=request.first_frame_url),
        }

    async def status(self, job_id: str) -> JobStatus:
        status = await self._http.query(
            f"/v2/requests/{job_id}/status",
            read=lambda response: self._read_status(job_id, response),
            what=f"status of {job_id}",
            endpoint="status",
        )
        if status is not None:
            return status
        # COMPLETED: the result body names the video.
        return await self._http.query(
            f"/v2/requests/{job_id}",
            read=lambda response: self._read_result(job_id, response),
            what=f"result of {job_id}",
            endpoint="result",
        )

    def _read_status(self, job_id: str, response: httpx.Response) -> JobStatus | None:
        """The job's status; None when it is COMPLETED and the result must be fetched."""
        payload = json_object(response)
        state = (text_field(payload, "status") or "").upper()
        detail = f"Segmind request {job_id}: HTTP {response.status_code}, status {state or '?'}"
        if state == "FAILED":  # served as HTTP 422, with the reason in "error"
            message = text_field(payload, "error")
            return JobStatus.failed(message, f"{detail}: {message}")
        if not response.is_success:
            raise self._refusal(response)
        if state == "COMPLETED":
            return None
        if state not in _RUNNING:
            raise ProviderError(
                Failure.PROVIDER_ERROR, f"{detail}: an unknown status", retryable=True
            )
        return JobStatus.running(detail)

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
        return JobStatus.finished(url, f"Segmind request {job_id}: COMPLETED")
