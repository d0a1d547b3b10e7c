"""Checks and helpers the tests of the fake providers (tests/test_fake_*.py) share."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.provider_base import FakeProvider
from tests.fakes.result_files import result_file_bytes
from tests.fakes.server import LoopbackServer, StartStop


async def assert_result_file_served(
    fake: FakeProvider[Any], item_id: str, url: str, size: int
) -> None:
    """The finished item's result file is served at `url` without a key: HEAD answers its length
    and type and counts no download; GET streams exactly `result_file_bytes(size)` (an MP4, in
    more than one chunk) and counts one download in `fake.file_downloads`. The file of an unknown
    id is a 404."""
    async with httpx.AsyncClient(timeout=5.0) as plain:
        head = await plain.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(size)
        assert head.headers["content-type"] == "video/mp4"
        assert fake.file_downloads.get(item_id) is None
        received = bytearray()
        chunks = 0
        async with plain.stream("GET", url) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "video/mp4"
            assert r.headers["content-length"] == str(size)
            async for chunk in r.aiter_raw():
                received += chunk
                chunks += 1
        unknown = await plain.get(f"{fake.url}/files/{uuid.uuid4()}.mp4")
        assert unknown.status_code == 404
    assert len(received) == size
    assert chunks > 1
    assert received[:12] == b"\x00\x00\x00\x18ftypmp42"
    assert bytes(received) == result_file_bytes(size)
    assert fake.file_downloads[item_id] == 1


class CallbackReceiver(StartStop):
    """A loopback webhook endpoint (`url`) that records the callbacks POSTed to it.

    It answers 200, or the next of `answers` (HTTP statuses) while any are left.
    """

    def __init__(self, answers: list[int] | None = None) -> None:
        self.raw: list[bytes] = []
        self.bodies: list[Any] = []  # each body parsed as JSON
        self.headers: list[dict[str, str]] = []
        self._answers = list(answers or [])
        app = Starlette(routes=[Route("/cb", self._receive, methods=["POST"])])
        self._server = LoopbackServer(app)
        self.url = f"{self._server.url}/cb"

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def _receive(self, request: Request) -> JSONResponse:
        raw = await request.body()
        self.raw.append(raw)
        self.bodies.append(json.loads(raw))
        self.headers.append(dict(request.headers))
        code = self._answers.pop(0) if self._answers else 200
        return JSONResponse({"ok": code == 200}, status_code=code)
