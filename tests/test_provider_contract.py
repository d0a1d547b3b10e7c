"""One contract for every remote provider, each against its fake server over real HTTP.

The same questions for KIE.ai, Segmind and Luma: submit, processing, success, failure, expiry,
rate limit, bad key, insufficient credits, callbacks, credits. Each fake follows providers.md;
the adapters below only translate "make this happen" into each fake's scripting calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from bot.domain.failures import Failure
from bot.domain.provider import JobState, Provider, ProviderError, SubmitRequest
from bot.net.netguard import GuardedClient
from bot.net.results import Fetched, ResultFetcher
from bot.net.retry import Backoff
from bot.providers.kie import KieProvider
from bot.providers.luma import LumaProvider
from bot.providers.segmind import SegmindProvider
from tests.fakes.kie import TEST_KIE_KEY, FakeKie, result_file_bytes
from tests.fakes.luma import TEST_LUMA_KEY, FakeLuma
from tests.fakes.segmind import TEST_SEGMIND_KEY, FakeSegmind

FAST = Backoff(attempts=4, base_delay=0.01)
REQUEST = SubmitRequest(
    video_url="https://videos.example.com/clip.mp4",
    prompt="make it look like a watercolor painting",
    mode="reimagine_2",
    first_frame_url="https://images.example.com/frame.png",
)


class Contract(Protocol):
    """How to drive one provider's fake."""

    name: str

    def provider(self, key: str | None = None) -> Provider: ...
    def received(self, job_id: str) -> dict[str, Any]: ...
    def complete(self, job_id: str, size: int) -> None: ...
    def fail(self, job_id: str, message: str) -> None: ...
    def forget(self, job_id: str) -> None: ...
    def refuse_submit(self, what: str, times: int) -> None: ...
    def result_url(self, job_id: str) -> str: ...
    def callback(self, job_id: str) -> dict[str, Any] | None: ...


@dataclass
class KieContract:
    fake: FakeKie
    name: str = "kie"

    def provider(self, key: str | None = None) -> Provider:
        return KieProvider(
            name="kie",
            display_name="KIE.ai",
            base_url=self.fake.url,
            api_key=key or TEST_KIE_KEY,
            backoff=FAST,
        )

    def received(self, job_id: str) -> dict[str, Any]:
        task = self.fake.tasks[job_id]
        return {"video": task.video_url, "prompt": task.prompt}

    def complete(self, job_id: str, size: int) -> None:
        self.fake.complete(job_id, success_flag=1, result_size=size)

    def fail(self, job_id: str, message: str) -> None:
        self.fake.complete(job_id, success_flag=3, error_message=message)

    def forget(self, job_id: str) -> None:
        del self.fake.tasks[job_id]

    def refuse_submit(self, what: str, times: int) -> None:
        code = {"rate_limit": 429, "credits": 402}[what]
        self.fake.refuse_next_generate(code, what, times=times)

    def result_url(self, job_id: str) -> str:
        return self.fake.result_url(job_id)

    def callback(self, job_id: str) -> dict[str, Any] | None:
        return self.fake.callback_body(job_id)


@dataclass
class SegmindContract:
    fake: FakeSegmind
    name: str = "segmind"

    def provider(self, key: str | None = None) -> Provider:
        return SegmindProvider(
            base_url=self.fake.url, api_key=key or TEST_SEGMIND_KEY, backoff=FAST
        )

    def received(self, job_id: str) -> dict[str, Any]:
        job = self.fake.jobs[job_id]
        return {
            "video": job.video_url,
            "prompt": job.prompt,
            "mode": job.mode,
            "first_frame": job.first_frame_url,
        }

    def complete(self, job_id: str, size: int) -> None:
        self.fake.complete(job_id, result_size=size)

    def fail(self, job_id: str, message: str) -> None:
        self.fake.fail(job_id, error=message)

    def forget(self, job_id: str) -> None:
        self.fake.expire(job_id)

    def refuse_submit(self, what: str, times: int) -> None:
        code = {"rate_limit": 429, "credits": 406}[what]
        self.fake.refuse_next_submit(code, what, times=times)

    def result_url(self, job_id: str) -> str:
        return self.fake.result_url(job_id)

    def callback(self, job_id: str) -> dict[str, Any] | None:
        return None


@dataclass
class LumaContract:
    fake: FakeLuma
    name: str = "luma"

    def provider(self, key: str | None = None) -> Provider:
        return LumaProvider(base_url=self.fake.base_url, api_key=key or TEST_LUMA_KEY, backoff=FAST)

    def received(self, job_id: str) -> dict[str, Any]:
        generation = self.fake.generations[job_id]
        return {
            "video": generation.media_url,
            "prompt": generation.prompt,
            "mode": generation.mode,
            "first_frame": generation.first_frame_url,
        }

    def complete(self, job_id: str, size: int) -> None:
        self.fake.complete(job_id, result_size=size)

    def fail(self, job_id: str, message: str) -> None:
        self.fake.fail(job_id, reason=message)

    def forget(self, job_id: str) -> None:
        del self.fake.generations[job_id]

    def refuse_submit(self, what: str, times: int) -> None:
        code = {"rate_limit": 429, "credits": 402}[what]
        self.fake.refuse_next_submit(code, what, times=times)

    def result_url(self, job_id: str) -> str:
        return self.fake.result_url(job_id)

    def callback(self, job_id: str) -> dict[str, Any] | None:
        return self.fake.generation_json(job_id)


@pytest.fixture(params=["kie", "segmind", "luma"])
async def contract(request: pytest.FixtureRequest) -> AsyncIterator[Contract]:
    if request.param == "kie":
        async with FakeKie() as kie:
            yield KieContract(kie)
    elif request.param == "segmind":
        async with FakeSegmind() as segmind:
            yield SegmindContract(segmind)
    else:
        async with FakeLuma() as luma:
            yield LumaContract(luma)


async def test_submit_sends_the_request_and_the_job_is_processing(contract: Contract) -> None:
    provider = contract.provider()
    job_id = await provider.submit(REQUEST)
    status = await provider.status(job_id)
    await provider.aclose()
    assert status.state == JobState.RUNNING
    received = contract.received(job_id)
    assert received["video"] == REQUEST.video_url
    assert received["prompt"] == REQUEST.prompt
    if provider.capabilities.modes:
        assert received["mode"] == REQUEST.mode
    if provider.capabilities.supports_first_frame:
        assert received["first_frame"] == REQUEST.first_frame_url


async def test_success_names_a_result_that_can_be_fetched(
    contract: Contract, tmp_path: Path
) -> None:
    provider = contract.provider()
    job_id = await provider.submit(REQUEST)
    contract.complete(job_id, 123_456)
    status = await provider.status(job_id)
    await provider.aclose()
    assert status.state == JobState.SUCCEEDED
    assert status.result_url == contract.result_url(job_id)
    async with GuardedClient(allow_loopback=True) as links:
        download = await ResultFetcher(links).fetch(status.result_url, tmp_path / "r.mp4", 10**7)
    assert download.outcome == Fetched.OK
    assert (tmp_path / "r.mp4").read_bytes() == result_file_bytes(123_456)


async def test_failure_carries_the_providers_reason(contract: Contract) -> None:
    provider = contract.provider()
    job_id = await provider.submit(REQUEST)
    contract.fail(job_id, "Content blocked by safety filter")
    status = await provider.status(job_id)
    await provider.aclose()
    assert status.state == JobState.FAILED
    assert status.failure == Failure.GENERATION_FAILED
    assert status.error_message == "Content blocked by safety filter"


async def test_an_expired_or_unknown_job_is_not_found(contract: Contract) -> None:
    provider = contract.provider()
    job_id = await provider.submit(REQUEST)
    contract.forget(job_id)
    with pytest.raises(ProviderError) as caught:
        await provider.status(job_id)
    await provider.aclose()
    assert caught.value.failure == Failure.NOT_FOUND
    assert not caught.value.retryable


async def test_a_rate_limit_is_waited_out(contract: Contract) -> None:
    contract.refuse_submit("rate_limit", times=2)
    provider = contract.provider()
    job_id = await provider.submit(REQUEST)
    status = await provider.status(job_id)
    await provider.aclose()
    assert status.state == JobState.RUNNING


async def test_a_rate_limit_that_lasts_is_reported_as_such(contract: Contract) -> None:
    contract.refuse_submit("rate_limit", times=10)
    provider = contract.provider()
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.RATE_LIMITED


async def test_a_wrong_key_is_an_operator_problem(contract: Contract) -> None:
    provider = contract.provider(key="not-the-key")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.PROVIDER_AUTH


async def test_insufficient_credits_is_said_plainly(contract: Contract) -> None:
    contract.refuse_submit("credits", times=1)
    provider = contract.provider()
    with pytest.raises(ProviderError) as caught:
        await provider.submit(REQUEST)
    await provider.aclose()
    assert caught.value.failure == Failure.INSUFFICIENT_CREDITS


async def test_callbacks_are_read_where_the_provider_sends_them(contract: Contract) -> None:
    provider = contract.provider()
    job_id = await provider.submit(REQUEST)
    contract.complete(job_id, 1000)
    body = contract.callback(job_id)
    await provider.aclose()
    assert (body is not None) == provider.capabilities.supports_callbacks
    if body is not None:
        event = provider.parse_callback(body, {}, now=0.0)
        assert event.job_id == job_id
        assert event.status is not None
        assert event.status.state == JobState.SUCCEEDED
        assert event.status.result_url == contract.result_url(job_id)


async def test_credit_balance_where_reported(contract: Contract) -> None:
    provider = contract.provider()
    balance = await provider.credit_balance()
    await provider.aclose()
    assert (balance is not None) == provider.capabilities.reports_credits
    if balance is not None:
        assert balance == pytest.approx(100.0)


async def test_segmind_results_under_video_url_are_read_too() -> None:
    async with FakeSegmind(output_shape="video") as segmind:
        provider = SegmindContract(segmind).provider()
        job_id = await provider.submit(REQUEST)
        segmind.complete(job_id)
        status = await provider.status(job_id)
        await provider.aclose()
    assert status.state == JobState.SUCCEEDED
    assert status.result_url == segmind.result_url(job_id)
