"""Tests for the fake Segmind v2 server, driven with plain httpx."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.provider_checks import assert_result_file_served
from tests.fakes.segmind import (
    DEFAULT_MODE,
    MODES,
    REQUESTS_PATH,
    SUBMIT_PATH,
    TEST_SEGMIND_KEY,
    FakeSegmind,
)

AUTH = {"x-api-key": TEST_SEGMIND_KEY}
VIDEO = "https://example.com/input-video.mp4"
FRAME = "https://example.com/first-frame.png"


@pytest.fixture
async def segmind() -> AsyncIterator[FakeSegmind]:
    async with FakeSegmind() as fake:
        yield fake


def api(segmind: FakeSegmind) -> httpx.AsyncClient:
    """A client for the fake's API that sends the test key."""
    return httpx.AsyncClient(base_url=segmind.url, headers=AUTH, timeout=5.0)


@pytest.fixture
async def client(segmind: FakeSegmind) -> AsyncIterator[httpx.AsyncClient]:
    async with api(segmind) as c:
        yield c


async def submit(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"video_url": VIDEO, **body}
    return await client.post(SUBMIT_PATH, json=payload)


async def submit_ok(client: httpx.AsyncClient, **body: Any) -> str:
    r = await submit(client, **body)
    assert r.status_code == 200, r.text
    request_id: str = r.json()["request_id"]
    return request_id


async def status(client: httpx.AsyncClient, request_id: str) -> httpx.Response:
    return await client.get(f"{REQUESTS_PATH}/{request_id}/status")


async def result(client: httpx.AsyncClient, request_id: str) -> httpx.Response:
    return await client.get(f"{REQUESTS_PATH}/{request_id}")


async def test_submit_ok(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    r = await submit(
        client, prompt="woman in a yarn doll style", mode="flex_2", first_frame_url=FRAME
    )
    assert r.status_code == 200
    body = r.json()
    request_id = body["request_id"]
    assert str(uuid.UUID(request_id, version=4)) == request_id
    assert body == {
        "request_id": request_id,
        "status": "QUEUED",
        "status_url": f"{segmind.url}/v2/requests/{request_id}/status",
        "response_url": f"{segmind.url}/v2/requests/{request_id}",
    }
    job = segmind.only_job()
    assert (job.request_id, job.video_url, job.prompt, job.mode, job.first_frame_url) == (
        request_id,
        VIDEO,
        "woman in a yarn doll style",
        "flex_2",
        FRAME,
    )
    assert (job.status, job.error, job.polls, job.completed_at) == ("QUEUED", None, 0, None)
    assert job.output_shape == "output"
    [rec] = segmind.submit_requests()
    assert rec.headers["x-api-key"] == TEST_SEGMIND_KEY
    assert json.loads(rec.raw) == rec.json
    assert (await segmind.wait_for_job())[0] is job


async def test_optional_fields_default(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    request_id = await submit_ok(client)
    job = segmind.jobs[request_id]
    assert (job.prompt, job.mode, job.first_frame_url) == (None, DEFAULT_MODE, None)
    assert DEFAULT_MODE == "adhere_1"
    assert len(MODES) == 9
    for mode in ("adhere_3", "flex_1", "reimagine_3"):
        assert segmind.jobs[await submit_ok(client, mode=mode, prompt="")].mode == mode
    assert len(await segmind.wait_for_job(4)) == 4


async def test_bad_or_missing_key_is_401(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    request_id = await submit_ok(client)
    bearer = {"Authorization": f"Bearer {TEST_SEGMIND_KEY}"}
    async with httpx.AsyncClient(base_url=segmind.url, timeout=5.0) as c:
        for headers in ({"x-api-key": "wrong"}, {}, bearer):
            r = await c.post(SUBMIT_PATH, json={"video_url": VIDEO}, headers=headers)
            assert r.status_code == 401
            assert set(r.json()) == {"error"}
            assert isinstance(r.json()["error"], str)
        wrong = {"x-api-key": "wrong"}
        for path in (f"{REQUESTS_PATH}/{request_id}/status", f"{REQUESTS_PATH}/{request_id}"):
            r = await c.get(path, headers=wrong)
            assert r.status_code == 401
            assert set(r.json()) == {"error"}
    assert len(segmind.jobs) == 1
    assert segmind.jobs[request_id].polls == 0


async def test_validation_400(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    bad: list[dict[str, Any]] = [
        {"video_url": None},
        {"video_url": "ftp://example.com/a.mp4"},
        {"video_url": "not a url"},
        {"prompt": 5},
        {"mode": "adhere_4"},
        {"mode": "ADHERE_1"},
        {"first_frame_url": "file:///etc/passwd"},
    ]
    for fields in bad:
        r = await submit(client, **fields)
        assert r.status_code == 400, fields
        assert set(r.json()) == {"error"}
    r = await client.post(SUBMIT_PATH, json={"prompt": "no video"})
    assert r.status_code == 400
    assert "video_url" in r.json()["error"]
    r = await client.post(SUBMIT_PATH, content=b"[1]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = await client.post(SUBMIT_PATH, content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    assert segmind.jobs == {}
    assert len(segmind.submit_requests()) == len(bad) + 3


async def test_status_transitions(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    request_id = await submit_ok(client)
    r = await status(client, request_id)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "QUEUED"
    assert body["request_id"] == request_id
    assert isinstance(body["metrics"], dict)
    r = await result(client, request_id)
    assert r.status_code == 200
    assert r.json()["status"] == "QUEUED"
    assert "output" not in r.json()
    assert "video" not in r.json()

    segmind.set_status(request_id, "PROCESSING")
    assert (await status(client, request_id)).json()["status"] == "PROCESSING"
    assert (await result(client, request_id)).json()["status"] == "PROCESSING"

    segmind.complete(request_id)
    r = await status(client, request_id)
    assert r.json()["status"] == "COMPLETED"
    assert "output" not in r.json()
    r = await result(client, request_id)
    assert r.status_code == 200
    assert r.json()["status"] == "COMPLETED"
    assert r.json()["output"] == segmind.result_url(request_id)
    assert "video" not in r.json()
    assert isinstance(r.json()["metrics"], dict)

    job = segmind.jobs[request_id]
    assert job.polls == 3  # result fetches are not polls
    assert job.completed_at is not None
    assert len(segmind.status_requests(request_id)) == 3
    assert len(segmind.status_requests()) == 3
    assert len(segmind.result_requests(request_id)) == 3
    assert segmind.status_requests("other") == []


async def test_complete_after_polls() -> None:
    async with (
        FakeSegmind(complete_after_polls=3, processing_after_polls=2) as segmind,
        api(segmind) as client,
    ):
        request_id = await submit_ok(client)
        states = [(await status(client, request_id)).json()["status"] for _ in range(4)]
        assert states == ["QUEUED", "PROCESSING", "COMPLETED", "COMPLETED"]
        assert (await result(client, request_id)).json()["output"] == segmind.result_url(request_id)


async def test_failed_is_422(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    request_id = await submit_ok(client)
    segmind.fail(request_id, "Content blocked by the safety filter")
    expected = {
        "status": "FAILED",
        "error": "Content blocked by the safety filter",
        "request_id": request_id,
    }
    for r in (await status(client, request_id), await result(client, request_id)):
        assert r.status_code == 422
        assert r.json() == expected
    async with httpx.AsyncClient(timeout=5.0) as plain:
        assert (await plain.get(segmind.result_url(request_id))).status_code == 404
    other = await submit_ok(client)
    segmind.set_status(other, "FAILED")
    r = await status(client, other)
    assert r.status_code == 422
    assert r.json()["error"]


async def test_unknown_and_expired_are_404(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    unknown = str(uuid.uuid4())
    for r in (await status(client, unknown), await result(client, unknown)):
        assert r.status_code == 404
        assert r.json() == {"error": f"Request {unknown} not found"}

    request_id = await submit_ok(client)
    segmind.complete(request_id)
    url = segmind.result_url(request_id)
    async with httpx.AsyncClient(timeout=5.0) as plain:
        assert (await plain.head(url)).status_code == 200
        segmind.expire(request_id)
        assert (await plain.get(url)).status_code == 404
    for r in (await status(client, request_id), await result(client, request_id)):
        assert r.status_code == 404
        assert r.json() == {"error": f"Request {request_id} not found"}
    assert segmind.jobs[request_id].expired


async def test_retention_seconds() -> None:
    async with FakeSegmind(retention_seconds=0.1) as segmind, api(segmind) as client:
        request_id = await submit_ok(client)
        await asyncio.sleep(0.15)  # not completed yet: does not expire
        assert (await status(client, request_id)).status_code == 200
        segmind.complete(request_id)
        assert (await result(client, request_id)).status_code == 200
        await asyncio.sleep(0.15)
        assert (await result(client, request_id)).status_code == 404
        assert (await status(client, request_id)).status_code == 404


async def test_video_output_shape(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    request_id = await submit_ok(client)
    segmind.complete(request_id, result_size=12_345, output_shape="video")
    body = (await result(client, request_id)).json()
    assert "output" not in body
    assert body["status"] == "COMPLETED"
    assert body["video"] == {
        "url": segmind.result_url(request_id),
        "content_type": "video/mp4",
        "file_name": f"{request_id}.mp4",
        "file_size": 12_345,
    }
    # The shape for jobs submitted later (constructor option output_shape=) is an attribute.
    segmind.output_shape = "video"
    segmind.complete_after_polls = 1
    rid = await submit_ok(client)
    assert (await status(client, rid)).json()["status"] == "COMPLETED"
    assert (await result(client, rid)).json()["video"]["url"] == segmind.result_url(rid)


async def test_result_file_streamed(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    size = 300_017
    request_id = await submit_ok(client)
    url = segmind.result_url(request_id)
    assert url == f"{segmind.url}/files/{request_id}.mp4"
    async with httpx.AsyncClient(timeout=5.0) as plain:  # result files need no key
        assert (await plain.get(url)).status_code == 404  # not completed yet
        segmind.complete(request_id, result_size=size)
        await assert_result_file_served(segmind, request_id, url, size)
        assert (await plain.get(f"{segmind.url}/files/{request_id}")).status_code == 404


async def test_refuse_next_submit(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    segmind.refuse_next_submit(406, "Insufficient credits")
    r = await submit(client)
    assert r.status_code == 406
    assert r.json() == {"error": "Insufficient credits"}
    segmind.refuse_next_submit(502, "Bad Gateway", times=2)
    segmind.refuse_next_submit(429, "Rate limited")
    assert [(await submit(client)).status_code for _ in range(3)] == [502, 502, 429]
    assert segmind.jobs == {}
    await submit_ok(client)  # the faults consumed themselves
    assert len(segmind.submit_requests()) == 5


async def test_hang_next_submit_times_out_but_creates_job(
    segmind: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind.hang_next_submit(3.0)
    with pytest.raises(httpx.ReadTimeout):
        await client.post(SUBMIT_PATH, json={"video_url": VIDEO, "prompt": "p"}, timeout=0.3)
    [job] = await segmind.wait_for_job()
    assert job.prompt == "p"
    await submit_ok(client)
    assert len(segmind.jobs) == 2


async def test_hang_without_accept(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    segmind.hang_next_submit(0.1, accept=False)
    r = await submit(client)
    assert r.status_code == 504
    assert set(r.json()) == {"error"}
    assert segmind.jobs == {}


async def test_close_next_submit(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    segmind.close_next_submit()
    with pytest.raises(httpx.TransportError):
        await submit(client)
    assert segmind.jobs == {}
    await submit_ok(client)


async def test_fail_next_status_and_result(segmind: FakeSegmind, client: httpx.AsyncClient) -> None:
    request_id = await submit_ok(client)
    segmind.fail_next_status()
    segmind.fail_next_status(429, "Too many requests")
    r = await status(client, request_id)
    assert r.status_code == 500
    assert set(r.json()) == {"error"}
    r = await status(client, request_id)
    assert r.status_code == 429
    assert r.json() == {"error": "Too many requests"}
    assert (await status(client, request_id)).status_code == 200
    assert segmind.jobs[request_id].polls == 1

    segmind.complete(request_id)
    segmind.fail_next_result(http_status=504, error="Request timed out")
    r = await result(client, request_id)
    assert r.status_code == 504
    assert r.json() == {"error": "Request timed out"}
    assert (await result(client, request_id)).json()["output"] == segmind.result_url(request_id)


async def test_rate_limit() -> None:
    async with FakeSegmind(rate_limit=(3, 10.0)) as segmind, api(segmind) as client:
        for _ in range(3):
            await submit_ok(client)
        r = await submit(client)
        assert r.status_code == 429
        assert set(r.json()) == {"error"}
        assert len(segmind.jobs) == 3


async def test_wait_helpers_and_unknown_paths(
    segmind: FakeSegmind, client: httpx.AsyncClient
) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        request_id = await submit_ok(client)
        await status(client, request_id)

    task = asyncio.create_task(later())
    [rec] = await segmind.wait_for_requests("/v2/requests/", timeout=2.0)
    await task
    assert rec.path.endswith("/status")
    with pytest.raises(AssertionError, match="timed out"):
        await segmind.wait_for_job(count=2, timeout=0.05)

    r = await client.get("/v1/credits")
    assert r.status_code == 404
    assert set(r.json()) == {"error"}
    assert (await client.get(SUBMIT_PATH)).status_code == 404
    with pytest.raises(KeyError):
        segmind.complete("nope")
