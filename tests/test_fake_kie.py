"""Tests for the fake KIE.ai / Apikley server, driven with plain httpx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.kie import GENERATE_PATH, STATUS_PATH, TEST_KIE_KEY, FakeKie
from tests.fakes.provider_checks import CallbackReceiver, assert_result_file_served

AUTH = {"Authorization": f"Bearer {TEST_KIE_KEY}"}
VIDEO = "https://example.com/input-video.mp4"


# The `kie` fixture (a started FakeKie) comes from tests/conftest.py.


def api(kie: FakeKie) -> httpx.AsyncClient:
    """A client for the fake's API that sends the test key."""
    return httpx.AsyncClient(base_url=kie.url, headers=AUTH, timeout=5.0)


@pytest.fixture
async def client(kie: FakeKie) -> AsyncIterator[httpx.AsyncClient]:
    async with api(kie) as c:
        yield c


async def submit(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"prompt": "Make it snow", "videoUrl": VIDEO, **body}
    return await client.post(GENERATE_PATH, json=payload)


async def submit_ok(client: httpx.AsyncClient, **body: Any) -> str:
    r = await submit(client, **body)
    assert r.status_code == 200
    assert r.json()["code"] == 200, r.json()
    task_id: str = r.json()["data"]["taskId"]
    return task_id


async def status(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    r = await client.get(STATUS_PATH, params={"taskId": task_id})
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


async def test_submit_ok(kie: FakeKie, client: httpx.AsyncClient) -> None:
    r = await submit(
        client, callBackUrl="https://bot.example/cb", watermark="wm", model="luma-modify"
    )
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == 200
    assert body["msg"] == "success"
    task_id = body["data"]["taskId"]
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    task = kie.only_task()
    assert task.task_id == task_id
    assert (task.prompt, task.video_url, task.callback_url, task.watermark) == (
        "Make it snow",
        VIDEO,
        "https://bot.example/cb",
        "wm",
    )
    [rec] = kie.generate_requests()
    assert rec.json["prompt"] == "Make it snow"
    assert rec.headers["authorization"] == f"Bearer {TEST_KIE_KEY}"
    assert json.loads(rec.raw) == rec.json
    assert (await kie.wait_for_task())[0] is task


async def test_bad_key_is_401_inside_http_200(kie: FakeKie) -> None:
    async with httpx.AsyncClient(base_url=kie.url) as c:
        for headers in ({"Authorization": "Bearer wrong"}, {}):
            r = await c.post(
                GENERATE_PATH, json={"prompt": "x", "videoUrl": VIDEO}, headers=headers
            )
            assert r.status_code == 200
            assert r.json() == {"code": 401, "msg": "You do not have access permissions"}
            r = await c.get("/api/v1/chat/credit", headers=headers)
            assert r.json()["code"] == 401
    assert kie.tasks == {}
    assert len(kie.generate_requests()) == 2


async def test_content_type_required(kie: FakeKie, client: httpx.AsyncClient) -> None:
    r = await client.post(
        GENERATE_PATH, content=b'{"prompt":"x"}', headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 200
    assert r.json()["code"] == 400
    assert kie.tasks == {}


async def test_validation_422(kie: FakeKie, client: httpx.AsyncClient) -> None:
    r = await submit(client, prompt="a" * 801)
    assert r.status_code == 200
    assert r.json()["code"] == 422
    assert "prompt" in r.json()["msg"]
    assert "data" not in r.json()
    r = await submit(client, prompt="")
    assert r.json()["code"] == 422
    r = await submit(client, videoUrl="ftp://example.com/a.mp4")
    assert r.json()["code"] == 422
    assert "videoUrl" in r.json()["msg"]
    assert kie.tasks == {}
    await submit_ok(client, prompt="a" * 800)


async def test_refuse_next_generate(kie: FakeKie, client: httpx.AsyncClient) -> None:
    kie.refuse_next_generate(402, "Credits insufficient")
    r = await submit(client)
    assert r.status_code == 200
    assert r.json() == {"code": 402, "msg": "Credits insufficient"}
    assert kie.tasks == {}
    kie.refuse_next_generate(455, "Maintenance", http_status=503, times=2)
    for _ in range(2):
        r = await submit(client)
        assert r.status_code == 503
        assert r.json()["code"] == 455
    await submit_ok(client)  # the faults consumed themselves
    assert len(kie.generate_requests()) == 4


async def test_rate_limit() -> None:
    async with FakeKie(rate_limit=(3, 10.0)) as kie, api(kie) as client:
        for _ in range(3):
            await submit_ok(client)
        r = await submit(client)
        assert r.status_code == 200
        assert r.json()["code"] == 429
        assert len(kie.tasks) == 3


async def test_record_info_success_flag_shape(kie: FakeKie, client: httpx.AsyncClient) -> None:
    assert (await status(client, "0" * 32))["code"] == 404
    task_id = await submit_ok(client, callBackUrl="https://bot.example/cb")
    body = await status(client, task_id)
    assert body["code"] == 200
    data = body["data"]
    assert data["successFlag"] == 0
    assert data["response"] is None
    assert data["completeTime"] is None
    assert isinstance(data["paramJson"], str)
    assert json.loads(data["paramJson"]) == {
        "callBackUrl": "https://bot.example/cb",
        "prompt": "Make it snow",
        "videoUrl": VIDEO,
        "waterMark": "",
    }
    assert isinstance(data["createTime"], int)

    kie.complete(task_id)
    data = (await status(client, task_id))["data"]
    assert data["successFlag"] == 1
    assert data["errorCode"] is None
    assert data["errorMessage"] is None
    assert isinstance(data["completeTime"], int)
    assert data["response"] == {
        "taskId": task_id,
        "originUrls": [VIDEO],
        "resultUrls": [f"{kie.url}/files/{task_id}.mp4"],
    }
    assert kie.tasks[task_id].polls == 2
    assert len(kie.status_requests(task_id)) == 2


async def test_record_info_status_shape() -> None:
    async with FakeKie(status_shape="status") as kie, api(kie) as client:
        task_id = await submit_ok(client)
        data = (await status(client, task_id))["data"]
        assert data["status"] == 0
        assert data["videoUrl"] is None
        assert data["completedAt"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["createdAt"])
        kie.complete(task_id)
        data = (await status(client, task_id))["data"]
        assert data["status"] == 1
        assert data["videoUrl"] == kie.result_url(task_id)
        assert data["duration"] == 8
        assert data["completedAt"].endswith("Z")
        assert "errorMessage" not in data


async def test_complete_after_polls() -> None:
    async with FakeKie(complete_after_polls=3) as kie, api(kie) as client:
        task_id = await submit_ok(client)
        flags = [(await status(client, task_id))["data"]["successFlag"] for _ in range(4)]
        assert flags == [0, 0, 1, 1]


async def test_generate_failed_with_message(kie: FakeKie, client: httpx.AsyncClient) -> None:
    task_id = await submit_ok(client)
    kie.complete(task_id, success_flag=3, error_code=501, error_message="Content policy violation")
    data = (await status(client, task_id))["data"]
    assert data["successFlag"] == 3
    assert data["errorCode"] == 501
    assert data["errorMessage"] == "Content policy violation"
    assert data["response"] == {"taskId": task_id, "originUrls": [VIDEO]}
    kie.status_shape = "status"
    data = (await status(client, task_id))["data"]
    assert data["status"] == 3
    assert data["videoUrl"] is None
    assert data["errorMessage"] == "Content policy violation"
    r = await client.get(f"/files/{task_id}.mp4")
    assert r.status_code == 404


async def test_fail_next_status(kie: FakeKie, client: httpx.AsyncClient) -> None:
    task_id = await submit_ok(client)
    kie.fail_next_status(http_status=502, msg="Bad Gateway")
    r = await client.get(STATUS_PATH, params={"taskId": task_id})
    assert r.status_code == 502
    assert r.json() == {"code": 500, "msg": "Bad Gateway"}
    assert (await status(client, task_id))["code"] == 200
    assert kie.tasks[task_id].polls == 1


async def test_result_file_streamed(kie: FakeKie, client: httpx.AsyncClient) -> None:
    size = 300_017
    task_id = await submit_ok(client)
    kie.complete(task_id, result_size=size)
    url = kie.result_url(task_id)
    await assert_result_file_served(kie, task_id, url, size)

    r = await client.post("/api/v1/common/download-url", json={"url": url})
    assert r.json() == {"code": 200, "msg": "success", "data": url + "?dl=1"}
    r = await client.post("/api/v1/common/download-url", json={"url": "https://example.com/a.mp4"})
    assert r.json()["code"] == 422
    r = await client.get("/api/v1/chat/credit")
    assert r.json() == {"code": 200, "msg": "success", "data": 100}


async def test_hang_next_generate_times_out_but_creates_task(
    kie: FakeKie, client: httpx.AsyncClient
) -> None:
    kie.hang_next_generate(3.0)
    with pytest.raises(httpx.ReadTimeout):
        await client.post(GENERATE_PATH, json={"prompt": "p", "videoUrl": VIDEO}, timeout=0.3)
    [task] = await kie.wait_for_task()
    assert task.prompt == "p"
    await submit_ok(client)  # the next request is answered normally
    assert len(kie.tasks) == 2


async def test_hang_without_accept(kie: FakeKie, client: httpx.AsyncClient) -> None:
    kie.hang_next_generate(0.1, accept=False)
    r = await submit(client)
    assert r.json()["code"] == 500
    assert kie.tasks == {}


async def test_close_next_generate(kie: FakeKie, client: httpx.AsyncClient) -> None:
    kie.close_next_generate()
    with pytest.raises(httpx.TransportError):
        await submit(client)
    assert kie.tasks == {}
    assert len(kie.generate_requests()) == 1
    await submit_ok(client)


async def test_send_callback_signed(kie: FakeKie, client: httpx.AsyncClient) -> None:
    async with CallbackReceiver() as receiver:
        task_id = await submit_ok(client, callBackUrl=receiver.url)
        kie.complete(task_id)
        key = "webhook-secret"
        r = await kie.send_callback(task_id, hmac_key=key, timestamp=1_755_078_480)
        assert r.status_code == 200
        kie.complete(task_id, success_flag=3)
        await kie.send_callback(task_id, shape="flat")
        await kie.send_callback(task_id)

    headers, flat_headers, _ = receiver.headers
    raw, flat_raw, fail_raw = receiver.raw
    body = json.loads(raw)
    assert body["code"] == 200
    assert body["msg"] == "Modify record generated successfully."
    assert body["data"]["taskId"] == task_id
    assert body["data"]["resultUrls"] == [kie.result_url(task_id)]
    assert json.loads(body["data"]["promptJson"])["prompt"] == "Make it snow"
    assert headers["content-type"] == "application/json"
    ts = headers["x-webhook-timestamp"]
    assert ts == "1755078480"
    expected = base64.b64encode(
        hmac.new(key.encode(), f"{body['data']['taskId']}.{ts}".encode(), hashlib.sha256).digest()
    ).decode()
    assert hmac.compare_digest(headers["x-webhook-signature"], expected)

    assert "x-webhook-signature" not in flat_headers
    assert json.loads(flat_raw) == {
        "taskId": task_id,
        "status": 3,
        "videoUrl": None,
        "duration": 8,
        "completedAt": json.loads(flat_raw)["completedAt"],
    }
    fail = json.loads(fail_raw)
    assert fail["code"] == 500
    assert "resultUrls" not in fail["data"]
