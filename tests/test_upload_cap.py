"""An upload is written to disk as it arrives, and never past the room reserved for it.

The room is the size Telegram declared in the message (or the download limit when it declared
none); a file server sending more is cut off there, so MEDIA_MAX_TOTAL_MB holds whatever arrives.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bot import texts
from bot.net.downloads import CompressedError, TooBigError, save_body
from bot.providers.kie import capabilities as kie_capabilities
from bot.services.media import MediaStore
from bot.services.uploads import UploadService
from storage.db import Database
from storage.media import MediaRepository
from tests.database import TestDatabase
from tests.fakes.kie import FakeKie
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Chat
from tests.test_uploads import video_message
from tests.test_webhook import webhook_settings
from tests.videos import make_clip

CHUNK = 1 << 16


async def test_an_upload_larger_than_telegram_declared_is_cut_off_and_kept_nowhere(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    database: TestDatabase,
    tmp_path: Path,
) -> None:
    await start_bot(**webhook_settings())
    clip = make_clip(tmp_path / "upload.mp4", seconds=2.0).read_bytes()
    served = clip + bytes(3 * 1024 * 1024)  # a valid video, then 3 MB more than declared
    message = video_message(telegram, served, file_size=len(clip))
    reply = await chat.send(video=message, caption="make it red")
    assert reply.text == texts.upload_failed(texts.upload_reason_larger())
    media = database.parent / "media"
    assert not media.exists() or list(media.iterdir()) == []
    assert kie.requests == []
    # An honest declaration of the same file is taken.
    card = await chat.send(video=video_message(telegram, served), caption="make it red")
    assert "make it red" in (card.rendered or "")


@pytest.fixture
async def endless_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Serves 64 MB a chunk at a time, counting the chunks it got to send."""
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1024):
            sent.append(CHUNK)
            yield bytes(CHUNK)

    async def endless(request: Request) -> StreamingResponse:
        return StreamingResponse(body(), media_type="video/mp4")

    async with LoopbackServer(Starlette(routes=[Route("/file", endless)])) as server:
        yield server.url + "/file", sent


async def test_save_body_stops_at_the_limit_and_never_writes_past_it(
    endless_server: tuple[str, list[int]], tmp_path: Path
) -> None:
    url, sent = endless_server
    target = tmp_path / "upload.mp4"
    limit = 1024 * 1024 + 5
    async with httpx.AsyncClient() as http, http.stream("GET", url) as response:
        with pytest.raises(TooBigError):
            await save_body(response, target, limit)
    assert target.stat().st_size <= limit
    assert sum(sent) < 64 * 1024 * 1024  # the rest was never asked for


async def test_the_room_of_an_upload_is_freed_whatever_goes_wrong(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    store = MediaStore(
        MediaRepository(db), tmp_path / "media", max_total_bytes=100, keep_after_task=0
    )
    async with httpx.AsyncClient() as http:
        uploads = UploadService(
            media=store,
            preflight=cast(Any, None),
            drafts=cast(Any, None),
            capabilities=kie_capabilities("KIE.ai"),
            public_url="https://bot.example.com",
            download_limit_bytes=100,
            telegram_files=http,
        )
        for odd_url in ("http://[::1", "http://127.0.0.1:99999/file"):  # InvalidURL, odd port
            slot = await uploads.reserve(100, "video/mp4", None)
            assert slot is not None
            with pytest.raises(Exception), uploads.held(slot):  # noqa: B017, PT011 (any)
                await uploads.download(slot, odd_url, user_id=1)
            again = await store.reserve(100, "video/mp4", None)  # all the room is free again
            assert again is not None
            store.discard(again)
    await db.close()


async def test_a_compressed_body_is_refused_not_unpacked(tmp_path: Path) -> None:
    packed = gzip.compress(bytes(8 * 1024 * 1024), compresslevel=1)

    async def compressed(request: Request) -> Response:
        return Response(packed, headers={"content-encoding": "gzip"}, media_type="video/mp4")

    app = Starlette(routes=[Route("/file", compressed)])
    target = tmp_path / "upload.mp4"
    async with (
        LoopbackServer(app) as server,
        httpx.AsyncClient() as http,
        http.stream("GET", server.url + "/file") as response,
    ):
        with pytest.raises(CompressedError):
            await save_body(response, target, 100 * 1024 * 1024)
    assert not target.exists() or target.stat().st_size == 0
