"""Tests for the fake Luma Dream Machine API server, driven with plain httpx."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.fakes.luma import CREDITS_PATH, MODIFY_PATH, TEST_LUMA_KEY, FakeLuma
from tests.fakes.provider_checks import CallbackReceiver, assert_result_file_served

AUTH = {"Authorization": f"Bearer {TEST_LUMA_KEY}"}
VIDEO = "https://example.com/input-video.mp4"


@pytest.fixture
async def luma() -> AsyncIterator[FakeLuma]:
    async with FakeLuma() as fake:
        yield fake


def api(luma: FakeLuma) -> httpx.AsyncClient:
    """A client for the fake's API (at `base_url`) that sends the test key."""
    return httpx.AsyncClient(base_url=luma.base_url, headers=AUTH, timeout=5.0)


@pytest.fixture
async def client(luma: FakeLuma) -> AsyncIterator[httpx.AsyncClient]:
    async with api(luma) as c:
        yield c


def modify_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "generation_type": "modify_video",
        "media": {"url": VIDEO},
        "model": "ray-2",
        "mode": "flex_1",
        "prompt": "Make it snow",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not None}


async def submit(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    return await client.post("/generations/video/modify", json=modify_body(**fields))


async def submit_ok(client: httpx.AsyncClient, **fields: Any) -> str:
    r = await submit(client, **fields)
    assert r.status_code == 201, r.text
    generation_id: str = r.json()["id"]
    return generation_id


async def status(client: httpx.AsyncClient, generation_id: str) -> dict[str, Any]:
    r = await client.get(f"/generations/{generation_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as rec:
        yield rec


async def test_submit_201_generation(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    assert luma.base_url == f"{luma.url}/dream-machine/v1"
    sent = modify_body(
        first_frame={"url": "https://example.com/frame.jpg"},
        callback_url="https://bot.example/cb",
    )
    r = await client.post("/generations/video/modify", json=sent)
    assert r.status_code == 201
    body = r.json()
    assert uuid.UUID(body["id"]).version == 4
    assert body["generation_type"] == "modify_video"
    assert body["state"] == "queued"
    assert body["failure_reason"] is None
    assert body["assets"] is None
    assert body["model"] == "ray-2"
    assert body["request"] == sent
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None
    assert body["created_at"].endswith("Z")

    gen = luma.only_generation()
    assert gen.id == body["id"]
    assert (gen.media_url, gen.mode, gen.prompt, gen.first_frame_url, gen.callback_url) == (
        VIDEO,
        "flex_1",
        "Make it snow",
        "https://example.com/frame.jpg",
        "https://bot.example/cb",
    )
    [rec] = luma.submit_requests()
    assert rec.path == MODIFY_PATH
    assert rec.headers["authorization"] == f"Bearer {TEST_LUMA_KEY}"
    assert rec.json == sent
    assert (await luma.wait_for_generation())[0] is gen
    assert len(await luma.wait_for_requests("/generations/video/modify")) == 1
    await client.get(f"/generations/{gen.id}")
    recs = await luma.wait_for_requests(f"/generations/{gen.id}")
    assert [r.method for r in recs] == ["GET"]
    assert re.fullmatch(r"/dream-machine/v1/generations/[0-9a-f-]{36}", recs[0].path)
    with pytest.raises(AssertionError, match="timed out"):
        await luma.wait_for_requests("/credits", timeout=0.05)


async def test_model_defaults_and_mode_optional(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/generations/video/modify",
        json={"generation_type": "modify_video", "media": {"url": VIDEO}},
    )
    assert r.status_code == 201
    assert r.json()["model"] == "ray-2"
    assert "model" not in r.json()["request"]
    gen_id = await submit_ok(client, model="ray-flash-2", mode="reimagine_3")
    assert luma.generations[gen_id].model == "ray-flash-2"


async def test_auth_401(luma: FakeLuma) -> None:
    async with httpx.AsyncClient(base_url=luma.base_url) as c:
        for headers in ({"Authorization": "Bearer wrong"}, {}, {"Authorization": TEST_LUMA_KEY}):
            r = await c.post("/generations/video/modify", json=modify_body(), headers=headers)
            assert r.status_code == 401
            assert isinstance(r.json()["detail"], str)
            assert (await c.get("/credits", headers=headers)).status_code == 401
            assert (await c.get(f"/generations/{uuid.uuid4()}", headers=headers)).status_code == 401
    assert luma.generations == {}
    assert len(luma.submit_requests()) == 3


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"generation_type": "video"}, "generation_type"),
    ({"generation_type": None}, "generation_type"),
    ({"media": None}, "media"),
    ({"media": {"url": "ftp://example.com/a.mp4"}}, "media"),
    ({"media": VIDEO}, "media"),
    ({"model": "ray-1-6"}, "model"),
    ({"mode": "flex_4"}, "mode"),
    ({"prompt": 5}, "prompt"),
    ({"first_frame": {"url": "not a url"}}, "first_frame"),
    ({"callback_url": "nope"}, "callback_url"),
]


async def test_validation_400(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    for fields, word in INVALID:
        r = await submit(client, **fields)
        assert r.status_code == 400, fields
        assert word in r.json()["detail"], fields
    assert luma.generations == {}


async def test_validation_body_and_status_option(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    r = await client.post("/generations/video/modify", content=b"[1]")
    assert r.status_code == 400  # httpx sent no JSON content type
    r = await client.post(
        "/generations/video/modify", content=b"[1]", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    luma.validation_status = 422
    r = await submit(client, mode="bogus")
    assert r.status_code == 422
    assert "mode" in r.json()["detail"]


async def test_states_assets_and_failure(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    gen_id = await submit_ok(client)
    assert (await status(client, gen_id))["state"] == "queued"
    luma.set_state(gen_id, "dreaming")
    body = await status(client, gen_id)
    assert (body["state"], body["assets"], body["failure_reason"]) == ("dreaming", None, None)
    luma.complete(gen_id, extra_assets={"image": "https://cdn.example/thumb.jpg"})
    body = await status(client, gen_id)
    assert body["state"] == "completed"
    assert body["assets"] == {
        "video": luma.result_url(gen_id),
        "image": "https://cdn.example/thumb.jpg",
    }
    assert body["id"] == gen_id
    assert body["request"]["prompt"] == "Make it snow"

    other = await submit_ok(client)
    luma.fail(other, reason="Prompt violates the content policy")
    body = await status(client, other)
    assert body["state"] == "failed"
    assert body["failure_reason"] == "Prompt violates the content policy"
    assert body["assets"] is None
    luma.set_state(other, "failed")
    assert (await status(client, other))["failure_reason"]  # a default reason
    assert luma.generations[gen_id].polls == 3
    assert len(luma.status_requests(gen_id)) == 3
    assert len(luma.status_requests()) == 5
    with pytest.raises(KeyError):
        luma.complete("nope")

    r = await client.get(f"/generations/{uuid.uuid4()}")
    assert (r.status_code, r.json()) == (404, {"detail": "Generation not found"})
    r = await client.get("/nothing/here")
    assert r.status_code == 404
    assert "detail" in r.json()


async def test_complete_after_polls_and_empty_pending_assets() -> None:
    async with (
        FakeLuma(complete_after_polls=3, pending_assets="empty") as luma,
        api(luma) as client,
    ):
        gen_id = await submit_ok(client)
        bodies = [await status(client, gen_id) for _ in range(4)]
        assert [b["state"] for b in bodies] == ["queued", "queued", "completed", "completed"]
        assert bodies[0]["assets"] == {}
        assert bodies[2]["assets"] == {"video": luma.result_url(gen_id)}


async def test_credits(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    r = await client.get("/credits")
    assert r.status_code == 200
    assert r.json() == {"credit_balance": 100.0}
    luma.credits = 0
    r = await submit(client)
    assert r.status_code == 402
    assert r.json() == {"detail": "Insufficient credits"}
    assert luma.generations == {}
    assert (await client.get("/credits")).json() == {"credit_balance": 0.0}
    assert len(await luma.wait_for_requests(CREDITS_PATH, count=2)) == 2


async def test_rate_limit_429_and_generation_cost() -> None:
    async with (
        FakeLuma(rate_limit=(2, 30.0), credits=50.0, generation_cost=20.0) as luma,
        api(luma) as client,
    ):
        await submit_ok(client)
        await submit_ok(client)
        r = await submit(client)
        assert r.status_code == 429
        assert isinstance(r.json()["detail"], str)
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert len(luma.generations) == 2
        luma.rate_limit = None
        assert (await submit(client)).status_code == 402  # 10 credits left, a job costs 20
        assert (await client.get("/credits")).json() == {"credit_balance": 10.0}


async def test_refuse_next_submit(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    luma.refuse_next_submit(402)
    r = await submit(client)
    assert (r.status_code, r.json()) == (402, {"detail": "Insufficient credits"})
    luma.refuse_next_submit(429, "slow down", times=2, headers={"Retry-After": "3"})
    for _ in range(2):
        r = await submit(client)
        assert (r.status_code, r.json(), r.headers["retry-after"]) == (
            429,
            {"detail": "slow down"},
            "3",
        )
    errors = [{"loc": ["body", "media"], "msg": "field required", "type": "missing"}]
    luma.refuse_next_submit(422, errors)
    r = await submit(client)
    assert (r.status_code, r.json()) == (422, {"detail": errors})
    luma.refuse_next_submit(500)
    assert (await submit(client)).status_code == 500
    assert luma.generations == {}
    await submit_ok(client)  # the faults consumed themselves
    assert len(luma.submit_requests()) == 6


async def test_hang_and_close_next_submit(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    luma.hang_next_submit(3.0)
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/generations/video/modify", json=modify_body(), timeout=0.3)
    [gen] = await luma.wait_for_generation()
    assert gen.state == "queued"
    luma.hang_next_submit(0.1, accept=False)
    r = await submit(client)
    assert r.status_code == 500
    assert len(luma.generations) == 1
    await submit_ok(client)
    assert len(luma.generations) == 2
    luma.close_next_submit()
    with pytest.raises(httpx.TransportError):
        await submit(client)
    assert len(luma.generations) == 2
    await submit_ok(client)
    assert len(luma.submit_requests()) == 5


async def test_fail_next_status(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    gen_id = await submit_ok(client)
    luma.fail_next_status(502, "Bad Gateway", times=2)
    for _ in range(2):
        r = await client.get(f"/generations/{gen_id}")
        assert (r.status_code, r.json()) == (502, {"detail": "Bad Gateway"})
    luma.fail_next_status()
    assert (await client.get(f"/generations/{gen_id}")).status_code == 500
    assert (await status(client, gen_id))["state"] == "queued"
    assert luma.generations[gen_id].polls == 1


async def test_result_file_streamed(luma: FakeLuma, client: httpx.AsyncClient) -> None:
    size = 300_017
    gen_id = await submit_ok(client)
    url = luma.result_url(gen_id)
    async with httpx.AsyncClient(timeout=5.0) as plain:  # result files need no key
        assert (await plain.get(url)).status_code == 404  # not completed yet
        luma.complete(gen_id, result_size=size)
        await assert_result_file_served(luma, gen_id, url, size)


async def test_send_callback_manual(
    luma: FakeLuma, client: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    gen_id = await submit_ok(client, callback_url=receiver.url)
    luma.set_state(gen_id, "dreaming")
    assert receiver.bodies == []  # auto_callbacks is off
    r = await luma.send_callback(gen_id)
    assert r.status_code == 200
    luma.complete(gen_id)
    await luma.send_callback(gen_id)
    await luma.send_callback(gen_id)  # duplicates are the test's to send
    await luma.send_callback(gen_id, body_override={"id": gen_id, "state": "weird"})
    await luma.send_callback("x", url=receiver.url, body_override=b'{"id":"x"}')
    with pytest.raises(ValueError, match="callback URL"):
        await luma.send_callback("x", body_override=b"{}")

    states = [b.get("state") for b in receiver.bodies]
    assert states == ["dreaming", "completed", "completed", "weird", None]
    assert receiver.bodies[1] == luma.generation_json(gen_id)
    assert receiver.bodies[1]["assets"]["video"] == luma.result_url(gen_id)
    assert receiver.headers[0]["content-type"] == "application/json"
    assert [c.state for c in luma.callbacks] == [
        "dreaming",
        "completed",
        "completed",
        "weird",
        None,
    ]
    assert all(not c.automatic and c.status_code == 200 for c in luma.callbacks)


async def test_auto_callbacks(receiver: CallbackReceiver) -> None:
    async with FakeLuma(auto_callbacks=True) as luma, api(luma) as client:
        gen_id = await submit_ok(client, callback_url=receiver.url)
        silent = await submit_ok(client)  # no callback_url: nothing is sent
        await luma.drain()
        assert receiver.bodies == []  # no callback for the initial "queued"
        luma.set_state(gen_id, "dreaming")
        luma.set_state(gen_id, "dreaming")  # no change, no callback
        luma.complete(gen_id)
        luma.complete(silent)
        await luma.drain()
        assert [b["state"] for b in receiver.bodies] == ["dreaming", "completed"]
        assert receiver.bodies[0]["assets"] is None  # a snapshot at the time of the change
        assert receiver.bodies[1]["assets"]["video"] == luma.result_url(gen_id)
        assert all(c.automatic and c.attempt == 1 for c in luma.callbacks)

        failing = await submit_ok(client, callback_url=receiver.url)
        luma.fail(failing, reason="boom")
        await luma.drain()
        assert receiver.bodies[-1]["state"] == "failed"
        assert receiver.bodies[-1]["failure_reason"] == "boom"


async def test_auto_callbacks_retry_and_polls() -> None:
    async with (
        CallbackReceiver(answers=[500, 503]) as rec,
        FakeLuma(auto_callbacks=True, complete_after_polls=1) as luma,
        api(luma) as client,
    ):
        gen_id = await submit_ok(client, callback_url=rec.url)
        assert (await status(client, gen_id))["state"] == "completed"
        await luma.drain()
        assert [b["state"] for b in rec.bodies] == ["completed"] * 3
        assert [(c.attempt, c.status_code) for c in luma.callbacks] == [
            (1, 500),
            (2, 503),
            (3, 200),
        ]
        # an unreachable endpoint: 1 try + 3 retries, then the fake gives up
        gone = await submit_ok(client, callback_url="http://127.0.0.1:9/cb")
        luma.fail(gone)
        await luma.drain()
        attempts = [c for c in luma.callbacks if c.generation_id == gone]
        assert [c.attempt for c in attempts] == [1, 2, 3, 4]
        assert all(c.status_code is None and c.error for c in attempts)
