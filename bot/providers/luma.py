"""Luma Labs' own Dream Machine API: modify a video, poll or get called back, read credits.

A Generation moves queued -> dreaming -> completed | failed; when completed, `assets.video` is the
result. Luma posts the Generation to `callback_url` on each state change (unsigned: the bot's
secret per-task URL is what authenticates it). Errors are `{"detail": ...}` with an HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx

from bot.domain.capabilities import Capabilities
from bot.domain.failures import Failure
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.modes import ALL_MODES
from bot.domain.provider import (
    CallbackEvent,
    CallbackRejectedError,
    JobStatus,
    ProviderError,
    SubmitRequest,
)
from bot.net.retry import Backoff
from bot.providers.http import HTTP_FAILURES, HttpProvider, json_object, present, text_field

CREDITS_PATH = "/credits"
LumaModel = Literal["ray-2", "ray-flash-2"]
MAX_INPUT_SECONDS: dict[str, float] = {"ray-2": 10, "ray-flash-2": 15}

_RUNNING = frozenset({"queued", "dreaming", "pending", "processing"})


def capabilities(model: str) -> Capabilities:
    return Capabilities(
        display_name="Luma",
        max_duration_seconds=MAX_INPUT_SECONDS[model],
        max_size_mb=100,
        formats=("mp4", "mov"),
        max_prompt_chars=800,
        result_retention_hours=24,  # not documented: assume about a day
        supports_callbacks=True,
        modes=ALL_MODES,
        supports_first_frame=True,
        reports_credits=True,
    )


class LumaProvider(HttpProvider):
    name = "luma"
    SUBMIT_PATH = "/generations/video/modify"
    JOB_ID_FIELD = "id"
    JOB_ID_NAME = "generation id"
    FAILURES: ClassVar[Mapping[int, Failure]] = {**HTTP_FAILURES, 402: Failure.INSUFFICIENT_CREDITS}
    ERROR_FIELD = "detail"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: LumaModel = "ray-2",
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.capabilities = capabilities(model)
        self._model = model
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, backoff=backoff, metrics=metrics
        )

    def _submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        first_frame = request.first_frame_url
        return {
            "generation_type": "modify_video",
            "media": {"url": request.video_url},
            "model": self._model,
            "prompt": request.prompt,
            **present(
                mode=request.mode,
                first_frame={"url": first_frame} if first_frame else None,
                callback_url=request.callback_url,
            ),
        }

    async def status(self, job_id: str) -> JobStatus:
        return await self._http.query(
            f"/generations/{job_id}",
            read=lambda response: generation_status(job_id, self._payload(response) or {}),
            what=f"status of {job_id}",
            endpoint="status",
        )

    def parse_callback(
        self, payload: object, headers: Mapping[str, str], now: float
    ) -> CallbackEvent:
        if not isinstance(payload, dict):
            raise CallbackRejectedError(400, "the body is not a JSON object")
        job_id = text_field(payload, "id")
        if job_id is None:
            raise CallbackRejectedError(400, "the body names no generation id")
        try:
            status: JobStatus | None = generation_status(job_id, payload)
        except ProviderError:
            status = None  # a state the bot does not know: ask the API instead
        return CallbackEvent(job_id, status)

    async def credit_balance(self) -> float | None:
        def read(response: httpx.Response) -> float | None:
            balance = (self._payload(response) or {}).get("credit_balance")
            return float(balance) if isinstance(balance, int | float) else None

        return await self._http.query(
            CREDITS_PATH, read=read, what="credit balance", endpoint="credits"
        )

    def _refusal(self, response: httpx.Response) -> ProviderError:
        message = text_field(json_object(response), "detail")
        if response.status_code == 403 and message and "credit" in message.lower():
            return self._http.refusal(
                response, {403: Failure.INSUFFICIENT_CREDITS}, message=message
            )
        return super()._refusal(response)


def generation_status(job_id: str, generation: Mapping[str, Any]) -> JobStatus:
    """A Generation object in the bot's terms."""
    state = (text_field(generation, "state") or "").lower()
    detail = f"Luma generation {job_id}: {state or 'no state'}"
    if state == "completed":
        assets = generation.get("assets")
        return JobStatus.finished(
            text_field(assets if isinstance(assets, dict) else None, "video"), detail
        )
    if state == "failed":
        reason = text_field(generation, "failure_reason")
        return JobStatus.failed(reason, f"{detail}: {reason}")
    if state in _RUNNING:
        return JobStatus.running(detail)
    raise ProviderError(Failure.PROVIDER_ERROR, f"{detail}: an unknown state", retryable=True)
