"""What the HTTP provider clients share: one httpx client each, and the rules for sending.

A submit costs the user money, so it is sent again only when it certainly never reached the
provider, or the provider said "not now" (rate limit, maintenance). When the request may have
arrived but no readable answer came back, the outcome is unknown: the caller is told so and
must not resend. Status questions are free to repeat after any passing error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import httpx

from bot.domain.capabilities import Capabilities
from bot.domain.database import DatabaseUnavailableError
from bot.domain.failures import Failure
from bot.domain.health import Heartbeat
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.provider import (
    CallbackEvent,
    CallbackRejectedError,
    ProviderError,
    SubmitOutcomeUnknownError,
    SubmitRequest,
)
from bot.domain.ratelimit import LimiterFactory
from bot.net.ratelimit import WindowLimiter
from bot.net.retry import Backoff, with_retries

T = TypeVar("T")

# Raised before any byte of the request left: sending again cannot make a second job.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
)
# A gateway in front of the provider gave up waiting: the provider may have done the work.
GATEWAY_GAVE_UP = frozenset({502, 504})
# The provider counts a submit when it arrives, the bot when it leaves; one request can take
# longer on the way than the next. The bot's window is this much longer than the provider's, so
# that arrival jitter never puts one too many into the provider's window.
SUBMIT_WINDOW_MARGIN_SECONDS = 0.5
# Errors after which the same question may well get an answer a little later.
TRANSIENT_CODES = frozenset({429, 455, 500, 502, 503, 504})
# What HTTP-like error codes mean where the providers agree; each adds its own.
HTTP_FAILURES: dict[int, Failure] = {
    400: Failure.INVALID_REQUEST,
    401: Failure.PROVIDER_AUTH,
    403: Failure.PROVIDER_AUTH,
    404: Failure.NOT_FOUND,
    422: Failure.INVALID_REQUEST,
    429: Failure.RATE_LIMITED,
}


class ProviderHttp:
    def __init__(
        self,
        *,
        display_name: str,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        backoff: Backoff,
        submit_rate: tuple[int, float] | None = None,
        limiter: LimiterFactory = WindowLimiter,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """`submit_rate`: at most that many submits per that many seconds (the provider's own
        limit: requests past it are dropped, not queued), kept by a limiter `limiter` makes
        (one shared by every instance, when several share the database). `metrics`: told of
        every request, its endpoint, outcome and time."""
        self.display_name = display_name
        self._metrics = metrics
        self._backoff = backoff
        self._submit_limiter = (
            limiter(submit_rate[0], submit_rate[1] + SUBMIT_WINDOW_MARGIN_SECONDS)
            if submit_rate
            else None
        )
        self.heartbeat = Heartbeat()  # the provider's last answer and failure, for /readyz
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Accept": "application/json", **headers},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            transport=HeardTransport(httpx.AsyncHTTPTransport(), self.heartbeat, display_name),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    @contextmanager
    def _measured(self, endpoint: str) -> Iterator[None]:
        """One request to the provider, told to the metrics with what it came to: ok, or the
        Failure it raised."""
        started = time.perf_counter()
        outcome = "error"
        try:
            yield
            outcome = "ok"
        except ProviderError as exc:
            outcome = exc.failure
            raise
        except SubmitOutcomeUnknownError:
            outcome = Failure.OUTCOME_UNKNOWN
            raise
        finally:
            self._metrics.provider_request(endpoint, outcome, time.perf_counter() - started)

    async def wait_for_submit_turn(self) -> None:
        """Wait until the provider's submit rate allows one more; the next submit uses it."""
        if self._submit_limiter is not None:
            await self._submit_limiter.reserve()

    async def give_back_submit_turn(self) -> None:
        if self._submit_limiter is not None:
            await self._submit_limiter.give_back()

    async def _take_turn(self, *, reserved: bool) -> None:
        """A turn of the provider's submit rate for the request about to leave: the one the
        tracker reserved (first try), or one free now (a retry). Never waits: the task says
        `submitting` by now, and a task killed while waiting here would be taken for sent. With
        no turn now, the request is not sent, and the task goes back to the queue."""
        limiter = self._submit_limiter
        if limiter is None:
            return
        try:
            got = await (limiter.use_reserved() if reserved else limiter.try_take())
        except (DatabaseUnavailableError, TimeoutError) as exc:
            raise ProviderError(
                Failure.RATE_LIMITED,
                f"the submit rate limit could not be checked ({exc}); not sent",
                retryable=True,
                sent=False,
            ) from exc
        if not got:
            raise ProviderError(
                Failure.RATE_LIMITED,
                f"no {self.display_name} submit turn free now; not sent",
                retryable=True,
                sent=False,
            )

    async def submit(
        self,
        path: str,
        body: dict[str, Any],
        *,
        read: Callable[[httpx.Response], str],
        retry_codes: frozenset[int],
    ) -> str:
        """POST a new job and return its id, as read by `read` from the answer.

        Raises ProviderError (refused, or never sent) or SubmitOutcomeUnknownError.
        """

        first = True

        async def once() -> str:
            nonlocal first
            await self._take_turn(reserved=first)
            first = False
            with self._measured("submit"):
                try:
                    response = await self.client.post(path, json=body)
                except NOT_SENT as exc:
                    raise ProviderError(
                        Failure.UNREACHABLE, self.transport_detail(exc), retryable=True, sent=False
                    ) from exc
                except httpx.HTTPError as exc:
                    raise SubmitOutcomeUnknownError(self.transport_detail(exc)) from exc
                if response.status_code in GATEWAY_GAVE_UP or (
                    json_object(response) is None
                    and (response.is_success or response.is_server_error)
                ):
                    raise SubmitOutcomeUnknownError(
                        f"{self.display_name} answered HTTP {response.status_code} to a submit "
                        "without the expected JSON"
                    )
                return read(response)

        def should_retry(exc: Exception) -> bool:
            return isinstance(exc, ProviderError) and (not exc.sent or exc.code in retry_codes)

        return await with_retries(
            once, should_retry=should_retry, backoff=self._backoff, what="submit"
        )

    async def query(
        self,
        path: str,
        *,
        read: Callable[[httpx.Response], T],
        params: Mapping[str, str] | None = None,
        what: str,
        endpoint: str,
    ) -> T:
        """GET and read the answer, retrying network errors and transient refusals.
        `endpoint`: what the metrics call the request (status, result, credits)."""

        async def once() -> T:
            with self._measured(endpoint):
                try:
                    response = await self.client.get(path, params=params)
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    raise ProviderError(
                        Failure.UNREACHABLE, self.transport_detail(exc), retryable=True
                    ) from exc
                return read(response)

        def should_retry(exc: Exception) -> bool:
            return isinstance(exc, ProviderError) and exc.retryable

        return await with_retries(once, should_retry=should_retry, backoff=self._backoff, what=what)

    def refusal(
        self,
        response: httpx.Response,
        failures: Mapping[int, Failure],
        *,
        code: int | None = None,
        message: str | None = None,
    ) -> ProviderError:
        """The ProviderError for an error answer; `code` defaults to the HTTP status."""
        code = response.status_code if code is None else code
        detail = f"{self.display_name} answered HTTP {response.status_code}"
        if code != response.status_code:
            detail += f", code {code}"
        detail += f": {message}" if message else " without an explanation"
        return ProviderError(
            failures.get(code, Failure.PROVIDER_ERROR),
            detail,
            code=code,
            message=message,
            retryable=code in TRANSIENT_CODES or json_object(response) is None,
        )

    def transport_detail(self, exc: Exception) -> str:
        reason = str(exc) or "no detail"
        return f"{self.display_name} not reachable ({type(exc).__name__}: {reason})"


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or None when it is not one."""
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def present(**fields: Any) -> dict[str, Any]:
    """The fields that have a value, in order: a body leaves out the options not chosen."""
    return {name: value for name, value in fields.items() if value}


def text_field(payload: Mapping[str, Any] | None, *names: str) -> str | None:
    """The first of `names` that holds a non-empty string."""
    for name in names:
        value = payload.get(name) if payload else None
        if isinstance(value, str) and value:
            return value
    return None


class HeardTransport(httpx.AsyncBaseTransport):
    """Records each request's outcome in a Heartbeat: an answer, or a failure (no answer, a
    5xx, the key refused) with why."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, heartbeat: Heartbeat, display_name: str
    ) -> None:
        self._transport = transport
        self._heartbeat = heartbeat
        self._name = display_name

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            self._heartbeat.failed(f"no answer ({type(exc).__name__})")
            raise
        code = response.status_code
        if code >= 500 or code in (401, 403):
            self._heartbeat.failed(f"{self._name} answered HTTP {code}")
        else:
            self._heartbeat.answered()
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


class HttpProvider:
    """What the providers behind an HTTP API share: their ProviderHttp (one client, the sending
    rules), closing it, waiting for a submit turn, the submit, reading answers and refusals.
    KIE.ai, Segmind and Luma build on it. By default a provider does not call back and reports
    no credits; those that do say how."""

    name: str
    capabilities: Capabilities  # set before HttpProvider.__init__ runs: it names the provider
    SUBMIT_PATH: ClassVar[str]
    JOB_ID_FIELD: ClassVar[str]  # where the submit answer names the new job
    JOB_ID_NAME: ClassVar[str | None] = None  # what the details call it (else JOB_ID_FIELD)
    FAILURES: ClassVar[Mapping[int, Failure]]  # what the provider's error codes mean
    ERROR_FIELD: ClassVar[str]  # where an error answer says why
    SUBMIT_RETRY_CODES: ClassVar[frozenset[int]] = frozenset({429})

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        submit_rate: tuple[int, float] | None = None,
        limiter: LimiterFactory = WindowLimiter,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """`submit_rate` and `limiter`: the provider's own limit, as for ProviderHttp;
        `metrics`: told of every request."""
        self._http = ProviderHttp(
            display_name=self.capabilities.display_name,
            base_url=base_url,
            headers=self._auth_headers(api_key),
            timeout=timeout,
            backoff=backoff or Backoff(),
            submit_rate=submit_rate,
            limiter=limiter,
            metrics=metrics,
        )
        self.heartbeat = self._http.heartbeat

    @staticmethod
    def _auth_headers(api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def wait_for_submit_turn(self) -> None:
        await self._http.wait_for_submit_turn()

    async def give_back_submit_turn(self) -> None:
        await self._http.give_back_submit_turn()

    async def submit(self, request: SubmitRequest) -> str:
        """Send the job (to SUBMIT_PATH, the body _submit_body makes); its id at the provider."""
        return await self._http.submit(
            self.SUBMIT_PATH,
            self._submit_body(request),
            read=self._job_id,
            retry_codes=self.SUBMIT_RETRY_CODES,
        )

    def _submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _job_id(self, response: httpx.Response) -> str:
        payload = self._payload(response)
        job_id = text_field(payload if isinstance(payload, dict) else None, self.JOB_ID_FIELD)
        if job_id is None:
            raise SubmitOutcomeUnknownError(
                f"{self.capabilities.display_name} answered HTTP {response.status_code} "
                f"without a {self.JOB_ID_NAME or self.JOB_ID_FIELD}"
            )
        return job_id

    def _payload(self, response: httpx.Response) -> Any:
        """What an answer carries (by default its JSON object, None when there is none); for an
        error answer, its refusal is raised."""
        if not response.is_success:
            raise self._refusal(response)
        return json_object(response)

    def _refusal(self, response: httpx.Response) -> ProviderError:
        message = text_field(json_object(response), self.ERROR_FIELD)
        return self._http.refusal(response, self.FAILURES, message=message)

    def parse_callback(
        self, payload: object, headers: Mapping[str, str], now: float
    ) -> CallbackEvent:
        raise CallbackRejectedError(404, f"{self.capabilities.display_name} does not call back")

    async def credit_balance(self) -> float | None:
        return None
