"""Tests for the fake KIE's File Upload API (file-stream-upload), driven with plain httpx."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.kie import GENERATE_PATH, TEST_KIE_KEY, UPLOAD_PATH, FakeKie

AUTH = {"Authorization": f"Bearer {TEST_KIE_KEY}"}
FOLDER = "videos/user-uploads"
VIDEO = bytes(range(256)) * 40 + b"\x00tail"  # 10 245 bytes, every byte value


# The `kie` fixture (a started FakeKie) comes from tests/conftest.py.


def api(kie: FakeKie, timeout: float = 5.0) -> httpx.AsyncClient:
    """A client for the fake's API that sends the test key."""
    return httpx.AsyncClient(base_url=kie.url, headers=AUTH, timeout=timeout)


@pytest.fixture
async def client(kie: FakeKie) -> AsyncIterator[httpx.AsyncClient]:
    async with api(kie) as c:
        yield c


async def upload(
    client: httpx.AsyncClient,
    content: bytes = VIDEO,
    *,
    filename: str = "clip.mp4",
    mime: str = "video/mp4",
    **fields: str,
) -> httpx.Response:
    """POST a multipart upload: the `file` part, then the given form fields (uploadPath is FOLDER
    unless given; a field given as "" is left out)."""
    data = {"uploadPath": FOLDER, **fields}
    data = {k: v for k, v in data.items() if v != ""}
    return await client.post(UPLOAD_PATH, data=data, files={"file": (filename, content, mime)})


async def upload_ok(client: httpx.AsyncClient, content: bytes = VIDEO, **kw: Any) -> Any:
    """An upload that must succeed; returns the answer's `data`."""
    r = await upload(client, content, **kw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["success"], body["code"], body["msg"]) == (
        True,
        200,
        "File uploaded successfully",
    )
    return body["data"]


def assert_error(r: httpx.Response, code: int, msg_part: str = "") -> None:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"success", "code", "msg"}
    assert body["success"] is False
    assert body["code"] == code
    assert msg_part in body["msg"]


async def test_upload_ok_and_served_back(kie: FakeKie, client: httpx.AsyncClient) -> None:
    data = await upload_ok(client)
    name = data["fileName"]
    assert re.fullmatch(r"[\w-]+\.mp4", name), name
    assert data["filePath"] == f"{FOLDER}/{name}"
    assert data["downloadUrl"] == f"{kie.url}/uploads/{FOLDER}/{name}"
    assert data["fileSize"] == len(VIDEO)
    assert data["mimeType"] == "video/mp4"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["uploadedAt"])

    [stored] = await kie.wait_for_upload()
    assert kie.uploads == {data["filePath"]: stored}
    assert stored.content == VIDEO
    assert (stored.upload_path, stored.file_name, stored.file_path) == (
        FOLDER,
        name,
        data["filePath"],
    )
    assert stored.mime_type == "video/mp4"
    assert sorted(stored.fields) == ["file", "uploadPath"]
    assert stored.authorization == f"Bearer {TEST_KIE_KEY}"
    assert stored.part_filename == "clip.mp4"
    assert stored.download_url == data["downloadUrl"]
    assert stored.file_size == len(VIDEO)
    [rec] = kie.upload_requests()
    assert rec.method == "POST"
    assert rec.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert VIDEO in rec.raw

    async with httpx.AsyncClient(timeout=5.0) as plain:  # no key needed
        r = await plain.get(data["downloadUrl"])
        assert r.status_code == 200
        assert r.content == VIDEO
        assert r.headers["content-type"] == "video/mp4"
        head = await plain.head(data["downloadUrl"])
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(VIDEO))
        assert head.content == b""
        assert (await plain.get(f"{kie.url}/uploads/{FOLDER}/nope.mp4")).status_code == 404
        assert (await plain.get(f"{kie.url}/uploads/")).status_code == 404

    # The link is a videoUrl like any other.
    r = await client.post(GENERATE_PATH, json={"prompt": "p", "videoUrl": data["downloadUrl"]})
    assert r.json()["code"] == 200
    assert kie.only_task().video_url == data["downloadUrl"]
    assert kie.credits == 100  # uploads are free


async def test_file_name_overwrites(kie: FakeKie, client: httpx.AsyncClient) -> None:
    first = await upload_ok(client, b"first", fileName="in put.mp4")
    second = await upload_ok(client, b"second!", fileName="in put.mp4")
    assert first["filePath"] == second["filePath"] == f"{FOLDER}/in put.mp4"
    assert second["fileSize"] == 7
    assert second["downloadUrl"] == f"{kie.url}/uploads/{FOLDER}/in%20put.mp4"
    assert list(kie.uploads) == [f"{FOLDER}/in put.mp4"]
    assert kie.uploads[f"{FOLDER}/in put.mp4"].content == b"second!"
    history = await kie.wait_for_upload(2)
    assert [u.content for u in history] == [b"first", b"second!"]
    assert sorted(history[0].fields) == ["file", "fileName", "uploadPath"]
    async with httpx.AsyncClient(timeout=5.0) as plain:
        assert (await plain.get(second["downloadUrl"])).content == b"second!"

    # Without fileName every upload gets a name of its own; the part's extension is kept.
    a = await upload_ok(client, b"a", filename="a.MOV", mime="video/quicktime")
    b = await upload_ok(client, b"b", filename="noext", mime="application/octet-stream")
    assert a["fileName"].endswith(".MOV")
    assert "." not in b["fileName"]
    assert a["mimeType"] == "video/quicktime"
    assert len({a["filePath"], b["filePath"], second["filePath"]}) == 3
    # A leading or trailing slash of uploadPath is not part of the folder.
    c = await upload_ok(client, b"c", uploadPath="/other/", fileName="c.mp4")
    assert c["filePath"] == "other/c.mp4"


async def test_wrong_or_missing_key_is_401(kie: FakeKie) -> None:
    async with httpx.AsyncClient(base_url=kie.url, timeout=5.0) as c:
        for headers in ({"Authorization": "Bearer wrong"}, {}, {"Authorization": TEST_KIE_KEY}):
            c.headers.clear()
            c.headers.update(headers)
            r = await upload(c)
            assert_error(r, 401)
    assert kie.uploads == {}
    assert len(kie.upload_requests()) == 3
    assert kie.upload_requests()[0].headers["authorization"] == "Bearer wrong"


async def test_bad_parameters_are_400(kie: FakeKie, client: httpx.AsyncClient) -> None:
    r = await client.post(UPLOAD_PATH, data={"uploadPath": FOLDER}, files={"x": ("a", b"a")})
    assert_error(r, 400, "file is required")
    # `file` as a plain form field (no filename) in a multipart body is not a file
    r = await client.post(
        UPLOAD_PATH, data={"uploadPath": FOLDER}, files={"file": (None, b"not a file")}
    )
    assert_error(r, 400, "file is required")
    assert_error(await upload(client, b""), 400, "empty")
    assert_error(await upload(client, uploadPath=""), 400, "uploadPath")
    assert_error(await upload(client, uploadPath=" / "), 400, "uploadPath")
    assert_error(await upload(client, uploadPath="a/../b"), 400, "uploadPath")
    assert_error(await upload(client, fileName="../x.mp4"), 400, "fileName")
    r = await client.post(UPLOAD_PATH, json={"uploadPath": FOLDER, "file": "eA=="})
    assert_error(r, 400, "multipart/form-data")
    r = await client.post(
        UPLOAD_PATH,
        files=[("file", ("a.mp4", b"a")), ("file", ("b.mp4", b"b"))],
        data={"uploadPath": FOLDER},
    )
    assert_error(r, 400, "Invalid multipart body")
    assert kie.uploads == {}
    assert kie.upload_history == []
    assert len(kie.upload_requests()) == 9


async def test_size_bound() -> None:
    async with FakeKie(max_upload_bytes=4096) as kie, api(kie) as client:
        r = await upload(client, b"x" * 8192)
        assert_error(r, 400, "too large")
        [rec] = kie.upload_requests()
        assert rec.raw == b""  # over the bound: read and dropped, never held
        assert (await upload_ok(client, b"x" * 1000))["fileSize"] == 1000
        assert len(kie.uploads) == 1


async def test_refuse_next_upload(kie: FakeKie, client: httpx.AsyncClient) -> None:
    kie.refuse_next_upload()
    r = await upload(client)
    assert r.status_code == 500
    assert r.json() == {"success": False, "code": 500, "msg": "Server Error"}
    kie.refuse_next_upload(401, "Invalid API key", times=2)
    for _ in range(2):
        assert_error(await upload(client), 401, "Invalid API key")
    kie.refuse_next_upload(400)
    assert_error(await upload(client), 400, "Bad parameters")
    assert kie.uploads == {}
    await upload_ok(client)  # the faults consumed themselves
    assert len(kie.upload_requests()) == 5


async def test_close_next_upload(kie: FakeKie, client: httpx.AsyncClient) -> None:
    kie.close_next_upload()
    with pytest.raises(httpx.TransportError):
        await upload(client)
    assert kie.uploads == {}
    await upload_ok(client)


async def test_hang_next_upload(kie: FakeKie) -> None:
    kie.hang_next_upload()
    async with api(kie, timeout=0.5) as impatient:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await upload(impatient, fileName="hung.mp4")
        assert time.monotonic() - started < 2.0
        # accept=True (the default): KIE got the file, only the answer never came.
        [stored] = await kie.wait_for_upload()
        assert stored.file_name == "hung.mp4"
        await upload_ok(impatient)  # the next request is answered normally

    kie.hang_next_upload(0.1, accept=False)
    async with api(kie) as client:
        assert_error(await upload(client), 500, "Server Error")
    assert len(kie.uploads) == 2


async def test_hang_does_not_block_stop(kie: FakeKie) -> None:
    kie.hang_next_upload(accept=False)
    async with api(kie, timeout=30.0) as patient:
        pending = asyncio.ensure_future(upload(patient))
        await kie.wait_for_requests(UPLOAD_PATH)
        await asyncio.sleep(0.1)
        assert not pending.done()
        started = time.monotonic()
        await kie.stop()
        assert time.monotonic() - started < 2.0
        done, _ = await asyncio.wait([pending], timeout=5.0)
        assert done, "the parked request outlived the fake"
        if pending.exception() is None:
            assert_error(pending.result(), 500)
        else:
            assert isinstance(pending.exception(), httpx.TransportError)
    assert kie.uploads == {}


async def test_expire_uploads(kie: FakeKie, client: httpx.AsyncClient) -> None:
    a = await upload_ok(client, b"a", fileName="a.mp4")
    b = await upload_ok(client, b"b", fileName="b.mp4")
    kie.expire_uploads(a["filePath"])
    async with httpx.AsyncClient(timeout=5.0) as plain:
        assert (await plain.get(a["downloadUrl"])).status_code == 404
        assert (await plain.get(b["downloadUrl"])).content == b"b"
        kie.expire_uploads()
        assert (await plain.get(b["downloadUrl"])).status_code == 404
    assert kie.uploads == {}
    assert len(kie.upload_history) == 2
