"""The KIE.ai / Apikley client against the fake KIE server, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.domain.failures import Failure
from bot.domain.provider import (
    JobState,
    ProviderError,
    SubmitOutcomeUnknownError,
    SubmitRequest,
)
from bot.net.ratelimit import WindowLimiter
from bot.net.retry import Backoff
from bot.providers.kie import GENERATE_PATH, RECORD_INFO_PATH, KieProvider
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.server import LoopbackServer

REQUEST = SubmitRequest(video_url="https://videos.example/clip.mp4", prompt="make it red")
FAST = Backoff(attempts=4, base_delay=0.01)


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        yield fake


def client(url: str, key: str = TEST_KIE_KEY, timeout: float = 5.0) -> KieProvider:
    return KieProvider(
        name="kie",
        display_name="KIE.ai",
        base_url=url,
        api_key=key,
        timeout=timeout,
        backoff=FAST,
    )


async def test_submit_sends_the_documented_body_and_returns_the_task_id(kie: FakeKie) -> None:
    provider = client(kie.url)
    task_id = await provider.submit(
        SubmitRequest(REQUEST.video_url, REQUEST.prompt, callback_url="https://bot.example/cb/x")
    )
    await provider.aclose()
    assert task_id == kie.only_task().task_id
    (request,) = kie.generate_requests()
    assert request.headers["authorization"] == f"Bearer {TEST_KIE_KEY}"
    assert request.json == {
        "prompt": "make it red",
        "videoUrl": "https://videos.example/clip.mp4",
        "callBackUrl": "https://bot.example/cb/x",
    }


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        (402, Failure.INSUFFICIENT_CREDITS),
        (401, Failure.PROVIDER_AUTH),
        (422, Failure.INVALID_REQUEST),
        (403, Failure.VIDEO_UNREACHABLE),
        (500, Failure.PROVIDER_ERROR),
        (505, Failure.FEATURE_DISABLED),
    ],
)
async def test_errors_inside_http_200_are_refusals_and_not_retried(
    kie: FakeKie, code: int, failure: Failure
) -> None:
    kie.refuse_next_generate(code, "nope", http_status=200)
    provider = client(kie.url)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == failure
    assert caught.value.code == code
    assert len(kie.generate_requests()) == 1


async def test_errors_with_an_http_error_status_are_read_the_same_way(kie: FakeKie) -> None:
    kie.refuse_next_generate(422, "videoUrl is invalid", http_status=422)
    provider = client(kie.url)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.INVALID_REQUEST
    assert caught.value.message == "videoUrl is invalid"


@pytest.mark.parametrize("code", [429, 455])
async def test_submit_retries_rate_limits_and_maintenance(kie: FakeKie, code: int) -> None:
    kie.refuse_next_generate(code, "later", times=2)
    provider = client(kie.url)
    task_id = await provider.submit(REQUEST)
    await provider.aclose()
    assert len(kie.generate_requests()) == 3
    assert task_id == kie.only_task().task_id


async def test_a_submit_with_no_turn_free_is_not_sent_and_never_waits(kie: FakeKie) -> None:
    """By the time a submit goes, its task says `submitting`: with no turn of the provider's
    rate free (its reserved one too old, the window full since), it is not sent, and says so,
    rather than waiting there (a kill meanwhile would make it "outcome unknown")."""
    windows: list[WindowLimiter] = []

    def one_a_minute(count: int, period: float) -> WindowLimiter:
        windows.append(WindowLimiter(1, 60.0))
        return windows[-1]

    provider = KieProvider(
        name="kie",
        display_name="KIE.ai",
        base_url=kie.url,
        api_key=TEST_KIE_KEY,
        backoff=FAST,
        limiter=one_a_minute,
    )
    assert await windows[0].try_take()  # the window is full for a minute
    with pytest.raises(ProviderError) as caught:
        async with asyncio.timeout(5.0):
            await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.RATE_LIMITED
    assert not caught.value.sent
    assert kie.generate_requests() == []


async def test_submit_gives_up_on_a_rate_limit_that_lasts(kie: FakeKie) -> None:
    kie.refuse_next_generate(429, "slow down", times=10)
    provider = client(kie.url)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.RATE_LIMITED
    assert len(kie.generate_requests()) == FAST.attempts


async def test_a_submit_that_times_out_is_unknown_and_not_resent(kie: FakeKie) -> None:
    kie.hang_next_generate(2.0, accept=True)
    provider = client(kie.url, timeout=0.3)
    with pytest.raises(SubmitOutcomeUnknownError):
        await provider.submit(REQUEST)
    await provider.aclose()
    assert len(kie.generate_requests()) == 1
    assert len(kie.tasks) == 1  # the provider did take it: resending would pay twice


async def test_a_dropped_connection_after_sending_is_unknown(kie: FakeKie) -> None:
    kie.close_next_generate()
    provider = client(kie.url)
    with pytest.raises(SubmitOutcomeUnknownError):
        await provider.submit(REQUEST)
    await provider.aclose()
    assert len(kie.generate_requests()) == 1


async def test_connection_refused_is_retried_then_reported_as_unreachable() -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = client(f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.UNREACHABLE
    assert not caught.value.sent


@pytest.mark.parametrize("shape", ["successFlag", "status"])
async def test_status_reads_both_documented_shapes(shape: str) -> None:
    async with FakeKie(status_shape=shape) as kie:  # type: ignore[arg-type]
        provider = client(kie.url)
        task_id = await provider.submit(REQUEST)
        running = await provider.status(task_id)
        kie.complete(task_id, success_flag=1)
        done = await provider.status(task_id)
        await provider.aclose()
    assert running.state == JobState.RUNNING
    assert done.state == JobState.SUCCEEDED
    assert done.result_url == kie.result_url(task_id)


async def test_callback_failed_flag_counts_as_success(kie: FakeKie) -> None:
    provider = client(kie.url)
    task_id = await provider.submit(REQUEST)
    kie.complete(task_id, success_flag=4)
    status = await provider.status(task_id)
    await provider.aclose()
    assert status.state == JobState.SUCCEEDED
    assert status.result_url == kie.result_url(task_id)


@pytest.mark.parametrize("flag", [2, 3])
async def test_failed_generation_carries_the_providers_message(kie: FakeKie, flag: int) -> None:
    provider = client(kie.url)
    task_id = await provider.submit(REQUEST)
    kie.complete(task_id, success_flag=flag, error_code="E42", error_message="Content flagged")
    status = await provider.status(task_id)
    await provider.aclose()
    assert status.state == JobState.FAILED
    assert status.failure == Failure.GENERATION_FAILED
    assert status.error_message == "Content flagged"
    assert "E42" in status.detail


@pytest.mark.parametrize(("http_status", "code"), [(200, 500), (200, 429), (200, 455), (502, 502)])
async def test_status_retries_transient_errors(kie: FakeKie, http_status: int, code: int) -> None:
    provider = client(kie.url)
    task_id = await provider.submit(REQUEST)
    kie.fail_next_status(http_status=http_status, code=code, times=2)
    status = await provider.status(task_id)
    await provider.aclose()
    assert status.state == JobState.RUNNING
    assert len(kie.status_requests(task_id)) == 3


async def test_a_wrong_key_is_an_operator_problem(kie: FakeKie) -> None:
    provider = client(kie.url, key="wrong")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.PROVIDER_AUTH


@pytest.mark.parametrize(
    ("status", "body"),
    [(504, b"<html>Gateway Time-out</html>"), (502, b"Bad Gateway"), (200, b"<html>oops</html>")],
)
async def test_a_gateway_error_after_sending_is_an_unknown_outcome(
    status: int, body: bytes
) -> None:
    """A proxy in front of the provider gave up or garbled the answer: the job may exist."""
    seen: list[bytes] = []

    async def gateway(request: Request) -> Response:
        seen.append(await request.body())
        return Response(body, status_code=status)

    app = Starlette(routes=[Route(GENERATE_PATH, gateway, methods=["POST"])])
    async with LoopbackServer(app) as server:
        provider = client(server.url)
        with pytest.raises(SubmitOutcomeUnknownError):
            await provider.submit(REQUEST)
        await provider.aclose()
    assert len(seen) == 1  # and never sent again


async def test_an_unreadable_status_answer_is_a_retryable_error() -> None:
    async def garbled(request: Request) -> Response:
        return Response(b"\x00not gzip", headers={"Content-Encoding": "gzip"})

    app = Starlette(routes=[Route(RECORD_INFO_PATH, garbled)])
    async with LoopbackServer(app) as server:
        provider = client(server.url)
        with pytest.raises(ProviderError) as caught:
            await provider.status("abc")
        await provider.aclose()
    assert caught.value.retryable
