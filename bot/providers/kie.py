"""KIE.ai's Luma Modify API. Apikley serves the same API under another host and key.

Errors come inside the JSON envelope's `code`, often with HTTP 200, so the envelope is read
before the HTTP status. Record-info answers come in two shapes (see providers.md): both parse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.capabilities import Capabilities
from bot.domain.failures import Failure
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.numbers import ascii_int
from bot.domain.provider import (
    CallbackEvent,
    CallbackRejectedError,
    JobStatus,
    ProviderError,
    SubmitRequest,
)
from bot.domain.ratelimit import LimiterFactory
from bot.net.ratelimit import WindowLimiter
from bot.net.retry import Backoff
from bot.providers.http import HTTP_FAILURES, HttpProvider, json_object, present, text_field

log = logging.getLogger(__name__)

GENERATE_PATH = "/api/v1/modify/generate"
RECORD_INFO_PATH = "/api/v1/modify/record-info"
CREDIT_PATH = "/api/v1/chat/credit"
# KIE takes at most 20 new generation requests per 10 s per account and drops the rest.
SUBMIT_RATE = (20, 10.0)

# Signed callbacks older (or newer) than this are refused: a captured one cannot be replayed later.
SIGNATURE_MAX_AGE_SECONDS = 300
_TIMESTAMP_MAX = 10**12  # seconds: far past any real clock, short of a slow int() of junk
_CODE_MAX = 99_999  # the envelope's codes are HTTP-like

_SUCCESS_FLAGS = {1, 4}  # 4: generated, only the provider's callback failed: the result is valid
_FAILED_FLAGS = {2, 3}


def capabilities(display_name: str) -> Capabilities:
    return Capabilities(
        display_name=display_name,
        max_duration_seconds=10,
        max_size_mb=500,
        formats=("mp4", "mov", "avi", "webm"),
        max_prompt_chars=800,
        result_retention_hours=14 * 24,
        supports_callbacks=True,
        supports_watermark=True,
        reports_credits=True,
    )


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")
    result_urls: list[str] | None = Field(None, alias="resultUrls")


class _Record(BaseModel):
    """record-info's `data`, in either documented shape; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    task_id: str | None = Field(None, alias="taskId")
    success_flag: int | None = Field(None, alias="successFlag")
    status: int | None = None  # seed 003's shape: same values as successFlag
    response: _Result | None = None
    video_url: str | None = Field(None, alias="videoUrl")
    error_code: int | str | None = Field(None, alias="errorCode")
    error_message: str | None = Field(None, alias="errorMessage")

    @field_validator("response", mode="before")
    @classmethod
    def _json_string(cls, value: object) -> object:
        if isinstance(value, str):  # like paramJson, a JSON object sent as a string
            try:
                return json.loads(value)
            except ValueError:
                return None
        return value

    @property
    def flag(self) -> int | None:
        return self.success_flag if self.success_flag is not None else self.status

    @property
    def result_url(self) -> str | None:
        urls = (self.response.result_urls if self.response else None) or []
        return next((u for u in urls if u), None) or self.video_url or None


class KieProvider(HttpProvider):
    """One client for KIE.ai and Apikley; they differ only in base URL and key."""

    SUBMIT_PATH = GENERATE_PATH
    JOB_ID_FIELD = "taskId"  # in the envelope's data
    FAILURES: ClassVar[Mapping[int, Failure]] = {
        **HTTP_FAILURES,
        402: Failure.INSUFFICIENT_CREDITS,
        403: Failure.VIDEO_UNREACHABLE,
        455: Failure.MAINTENANCE,
        501: Failure.GENERATION_FAILED,
        505: Failure.FEATURE_DISABLED,
    }
    ERROR_FIELD = "msg"
    # Codes that certainly mean "not accepted, nothing started": the only ones a submit retries.
    SUBMIT_RETRY_CODES = frozenset({429, 455})  # 455: KIE's "under maintenance"

    def __init__(
        self,
        *,
        name: str,
        display_name: str,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        webhook_hmac_key: str = "",
        watermark: str = "",
        limiter: LimiterFactory = WindowLimiter,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.name = name
        self.capabilities = capabilities(display_name)
        self._hmac_key = webhook_hmac_key.encode()
        self._watermark = watermark
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            backoff=backoff,
            submit_rate=SUBMIT_RATE,
            limiter=limiter,
            metrics=metrics,
        )

    def _submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        return {
            "prompt": request.prompt,
            "videoUrl": request.video_url,
            **present(callBackUrl=request.callback_url, watermark=self._watermark),
        }

    async def status(self, job_id: str) -> JobStatus:
        return await self._http.query(
            RECORD_INFO_PATH,
            params={"taskId": job_id},
            read=lambda response: self._parse_record(job_id, self._payload(response)),
            what=f"status of {job_id}",
            endpoint="status",
        )

    async def credit_balance(self) -> float | None:
        data = await self._http.query(
            CREDIT_PATH, read=self._payload, what="credit balance", endpoint="credits"
        )
        return float(data) if isinstance(data, int | float) and not isinstance(data, bool) else None

    def _parse_record(self, job_id: str, data: Any) -> JobStatus:
        try:
            record = _Record.model_validate(data)
        except ValidationError as exc:
            raise ProviderError(
                Failure.PROVIDER_ERROR,
                f"unreadable record-info for {job_id}: {exc.error_count()} problems",
                retryable=True,
            ) from exc
        flag = record.flag
        detail = f"{self.capabilities.display_name} task {job_id}: flag={flag}"
        if record.error_code is not None or record.error_message:
            detail += f" errorCode={record.error_code!r} errorMessage={record.error_message!r}"
        if flag in _SUCCESS_FLAGS:
            return JobStatus.finished(record.result_url, detail)
        if flag in _FAILED_FLAGS:
            return JobStatus.failed(record.error_message or None, detail)
        if flag not in (0, None):
            log.warning(
                "Unknown %s status flag %r for %s; treating it as running", self.name, flag, job_id
            )
        return JobStatus.running(detail)

    def parse_callback(
        self, payload: object, headers: Mapping[str, str], now: float
    ) -> CallbackEvent:
        """Read either callback shape of providers.md; check the signature when a key is set.

        The envelope's failure form carries no detail: its status is None, so the caller asks
        record-info for the error message.
        """
        if not isinstance(payload, dict):
            raise CallbackRejectedError(400, "the body is not a JSON object")
        data = payload.get("data")
        if isinstance(data, dict):  # {"code": 200|500, "msg": ..., "data": {"taskId", ...}}
            job_id = data.get("taskId") or data.get("task_id")
            status = _envelope_status(payload, data)
        else:  # seed 003's flat shape: {"taskId", "status", "videoUrl", ...}
            job_id = payload.get("taskId") or payload.get("task_id")
            status = self._flat_status(str(job_id), payload) if job_id else None
        if not isinstance(job_id, str) or not job_id:
            raise CallbackRejectedError(400, "the body names no taskId")
        self._check_signature(job_id, headers, now)
        return CallbackEvent(job_id, status)

    def _flat_status(self, job_id: str, payload: dict[str, Any]) -> JobStatus | None:
        """The flat callback's status; None (ask record-info) for an odd body, or for a failure
        that does not say why."""
        try:
            status = self._parse_record(job_id, payload)
        except ProviderError:
            return None
        return None if status.failure is not None and not status.error_message else status

    def _check_signature(self, job_id: str, headers: Mapping[str, str], now: float) -> None:
        """X-Webhook-Signature = base64(HMAC-SHA256(taskId + "." + timestamp, key))."""
        if not self._hmac_key:
            return
        timestamp = headers.get("x-webhook-timestamp", "")
        signature = headers.get("x-webhook-signature", "")
        seconds = ascii_int(timestamp, high=_TIMESTAMP_MAX)
        if seconds is None or not signature:
            raise CallbackRejectedError(401, "the callback is not signed")
        if abs(now - seconds) > SIGNATURE_MAX_AGE_SECONDS:
            raise CallbackRejectedError(401, "the callback's timestamp is too old or in the future")
        digest = hmac.new(self._hmac_key, f"{job_id}.{timestamp}".encode(), hashlib.sha256)
        expected = base64.b64encode(digest.digest()).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise CallbackRejectedError(401, "the callback's signature does not match")

    def _payload(self, response: httpx.Response) -> Any:
        """The envelope's `data`; ProviderError for an error in any form (often inside HTTP 200)."""
        envelope = json_object(response) or {}
        code = _as_int(envelope.get("code"))
        if response.is_success and code == 200:
            return envelope.get("data")
        if code is None or code == 200:
            code = response.status_code
        message = text_field(envelope, self.ERROR_FIELD)
        raise self._http.refusal(response, self.FAILURES, code=code, message=message)


def _envelope_status(payload: dict[str, Any], data: dict[str, Any]) -> JobStatus | None:
    """The envelope callback's status: its success form names the result; its failure form says
    nothing of why (None: ask record-info)."""
    urls = data.get("resultUrls")
    if _as_int(payload.get("code")) != 200 or not isinstance(urls, list):
        return None
    url = next((u for u in urls if isinstance(u, str) and u), None)
    return None if url is None else JobStatus.finished(url, "callback")


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return ascii_int(value, high=_CODE_MAX)
    return None
