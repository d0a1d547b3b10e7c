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
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.failures import Failure
from bot.providers.base import (
    CallbackEvent,
    CallbackRejectedError,
    Capabilities,
    JobState,
    JobStatus,
    ProviderError,
    SubmitOutcomeUnknownError,
    SubmitRequest,
)
from bot.retry import Backoff, with_retries

log = logging.getLogger(__name__)

GENERATE_PATH = "/api/v1/modify/generate"
RECORD_INFO_PATH = "/api/v1/modify/record-info"

_CODE_FAILURES: dict[int, Failure] = {
    400: Failure.INVALID_REQUEST,
    401: Failure.PROVIDER_AUTH,
    402: Failure.INSUFFICIENT_CREDITS,
    403: Failure.VIDEO_UNREACHABLE,
    404: Failure.NOT_FOUND,
    422: Failure.INVALID_REQUEST,
    429: Failure.RATE_LIMITED,
    455: Failure.MAINTENANCE,
    501: Failure.GENERATION_FAILED,
    505: Failure.FEATURE_DISABLED,
}
# Codes after which the same request may well succeed a little later.
_TRANSIENT_CODES = frozenset({429, 455, 500, 502, 503, 504})
# Errors raised before any byte of the request left: a submit may safely be sent again.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
)
# Codes that certainly mean "not accepted, nothing started": the only ones a submit retries.
_SUBMIT_RETRY_CODES = frozenset({429, 455})

# Signed callbacks older (or newer) than this are refused: a captured one cannot be replayed later.
SIGNATURE_MAX_AGE_SECONDS = 300

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


class KieProvider:
    """One client for KIE.ai and Apikley; they differ only in base URL and key."""

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
    ) -> None:
        self.name = name
        self._hmac_key = webhook_hmac_key.encode()
        self.capabilities = capabilities(display_name)
        self._backoff = backoff or Backoff()
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(self, request: SubmitRequest) -> str:
        body: dict[str, str] = {"prompt": request.prompt, "videoUrl": request.video_url}
        if request.callback_url:
            body["callBackUrl"] = request.callback_url

        async def once() -> str:
            try:
                response = await self._http.post(GENERATE_PATH, json=body)
            except _NOT_SENT as exc:
                raise ProviderError(
                    Failure.UNREACHABLE, self._transport_detail(exc), retryable=True, sent=False
                ) from exc
            except httpx.HTTPError as exc:
                # The request went out; whether the provider took it is unknown.
                raise SubmitOutcomeUnknownError(self._transport_detail(exc)) from exc
            if response.status_code in (502, 504) or (
                not _is_json_object(response) and (response.is_success or response.is_server_error)
            ):
                # A gateway gave up waiting, or an answer we cannot read: the job may exist.
                raise SubmitOutcomeUnknownError(
                    f"{self.capabilities.display_name} answered HTTP {response.status_code} "
                    "to a submit without the expected JSON"
                )
            data = self._unwrap(response)
            task_id = data.get("taskId") if isinstance(data, dict) else None
            if not isinstance(task_id, str) or not task_id:
                raise SubmitOutcomeUnknownError(
                    f"{self.capabilities.display_name} said success but sent no taskId: {data!r}"
                )
            return task_id

        def should_retry(exc: Exception) -> bool:
            return isinstance(exc, ProviderError) and (
                not exc.sent or exc.code in _SUBMIT_RETRY_CODES
            )

        return await with_retries(
            once, should_retry=should_retry, backoff=self._backoff, what="submit"
        )

    async def status(self, job_id: str) -> JobStatus:
        async def once() -> JobStatus:
            try:
                response = await self._http.get(RECORD_INFO_PATH, params={"taskId": job_id})
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise ProviderError(
                    Failure.UNREACHABLE, self._transport_detail(exc), retryable=True
                ) from exc
            return self._parse_record(job_id, self._unwrap(response))

        def should_retry(exc: Exception) -> bool:
            return isinstance(exc, ProviderError) and exc.retryable

        return await with_retries(
            once, should_retry=should_retry, backoff=self._backoff, what=f"status of {job_id}"
        )

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
            if record.result_url is None:
                return JobStatus(
                    JobState.FAILED,
                    failure=Failure.RESULT_UNAVAILABLE,
                    detail=detail + " but no result URL",
                )
            return JobStatus(JobState.SUCCEEDED, result_url=record.result_url, detail=detail)
        if flag in _FAILED_FLAGS:
            return JobStatus(
                JobState.FAILED,
                failure=Failure.GENERATION_FAILED,
                error_message=record.error_message or None,
                detail=detail,
            )
        if flag not in (0, None):
            log.warning(
                "Unknown %s status flag %r for %s; treating it as running", self.name, flag, job_id
            )
        return JobStatus(JobState.RUNNING, detail=detail)

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
            status: JobStatus | None = None
            if _as_int(payload.get("code")) == 200:
                urls = data.get("resultUrls")
                url = (
                    next((u for u in urls if isinstance(u, str) and u), None)
                    if isinstance(urls, list)
                    else None
                )
                if url:
                    status = JobStatus(JobState.SUCCEEDED, result_url=url, detail="callback")
        else:  # seed 003's flat shape: {"taskId", "status", "videoUrl", ...}
            job_id = payload.get("taskId") or payload.get("task_id")
            try:
                status = self._parse_record(str(job_id), payload) if job_id else None
            except ProviderError:
                status = None  # an odd body: ask record-info instead
            if status is not None and status.state == JobState.FAILED and not status.error_message:
                status = None  # ask record-info for the reason
        if not isinstance(job_id, str) or not job_id:
            raise CallbackRejectedError(400, "the body names no taskId")
        self._check_signature(job_id, headers, now)
        return CallbackEvent(job_id, status)

    def _check_signature(self, job_id: str, headers: Mapping[str, str], now: float) -> None:
        """X-Webhook-Signature = base64(HMAC-SHA256(taskId + "." + timestamp, key))."""
        if not self._hmac_key:
            return
        timestamp = headers.get("x-webhook-timestamp", "")
        signature = headers.get("x-webhook-signature", "")
        if not timestamp.isdigit() or not signature:
            raise CallbackRejectedError(401, "the callback is not signed")
        if abs(now - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
            raise CallbackRejectedError(401, "the callback's timestamp is too old or in the future")
        digest = hmac.new(self._hmac_key, f"{job_id}.{timestamp}".encode(), hashlib.sha256)
        expected = base64.b64encode(digest.digest()).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise CallbackRejectedError(401, "the callback's signature does not match")

    def _unwrap(self, response: httpx.Response) -> Any:
        """Return the envelope's `data`, or raise ProviderError for an error in any form."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        envelope = payload if isinstance(payload, dict) else {}
        code = _as_int(envelope.get("code"))
        if response.is_success and code == 200:
            return envelope.get("data")
        if code is None or code == 200:
            code = response.status_code
        message = envelope.get("msg")
        message = message if isinstance(message, str) and message else None
        name = self.capabilities.display_name
        detail = f"{name} answered HTTP {response.status_code}, code {code}"
        if message:
            detail += f": {message}"
        elif not envelope:
            detail += " with a body that is not the expected JSON"
        raise ProviderError(
            _CODE_FAILURES.get(code, Failure.PROVIDER_ERROR),
            detail,
            code=code,
            message=message,
            retryable=code in _TRANSIENT_CODES or not envelope,
        )

    def _transport_detail(self, exc: Exception) -> str:
        reason = str(exc) or "no detail"
        return f"{self.capabilities.display_name} not reachable ({type(exc).__name__}: {reason})"


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _is_json_object(response: httpx.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False
