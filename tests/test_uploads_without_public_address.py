"""Videos sent as files in long-polling mode (no public address): with KIE.ai they go through
KIE's File Upload API, whose downloadUrl becomes the job's video; with a local Bot API server
they are read from its disk, past the public API's 20 MB; where neither is possible, one sentence
says what to do. A failed upload is told in one sentence, and nothing is stored or charged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from tests.database import TestDatabase
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.segmind import TEST_SEGMIND_KEY, FakeSegmind
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram
from tests.helpers import Chat
from tests.test_bad_input import stored
from tests.test_uploads import video_message
from tests.videos import make_clip


@pytest.fixture
def clip(tmp_path: Path) -> bytes:
    return make_clip(tmp_path / "upload.mp4", seconds=2.0).read_bytes()


async def test_a_video_sent_in_polling_mode_goes_to_kies_file_upload_api(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat, clip: bytes
) -> None:
    await start_bot()  # long polling, PROVIDER=kie
    card = await chat.send(video=video_message(telegram, clip), caption="make it warm")
    assert f"Video: {texts.uploaded_video()}" in (card.rendered or "")
    (upload,) = await kie.wait_for_upload()
    assert upload.content == clip
    assert upload.authorization == f"Bearer {TEST_KIE_KEY}"
    assert set(upload.fields) == {"file", "uploadPath", "fileName"}
    # Only the file goes: not the Telegram file URL (it holds the token), not the user.
    for told in (upload.upload_path, upload.file_name):
        assert TEST_BOT_TOKEN not in told
        assert str(chat.user_id) not in told
    assert kie.generate_requests() == []  # nothing is spent before Submit
    await chat.press(card, "Submit")
    (task,) = await kie.wait_for_task()
    assert task.video_url.endswith("/uploads/" + next(iter(kie.uploads)))
    assert TEST_BOT_TOKEN not in task.video_url


@pytest.mark.parametrize("fault", [400, 401, 500, "hang"])
async def test_a_failed_upload_is_told_in_one_sentence_and_nothing_is_kept(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    clip: bytes,
    database: TestDatabase,
    fault: int | str,
) -> None:
    await start_bot(provider_timeout_seconds=1)
    if fault == "hang":
        kie.hang_next_upload()
    elif fault == 401:  # the key refused
        kie.refuse_next_upload(401, "Invalid API key")
    else:
        kie.refuse_next_upload(int(fault))
    before = stored(database)
    reply = await chat.send(video=video_message(telegram, clip), caption="make it warm")
    assert reply.text == texts.upload_not_hosted()
    assert not telegram.buttons(chat.user_id, reply.message_id)
    assert stored(database) == before
    assert kie.generate_requests() == []
    media = database.parent / "media"
    assert not media.exists() or not [p for p in media.iterdir() if p.is_file()]


async def test_segmind_in_polling_mode_says_what_the_operator_can_set(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat, clip: bytes
) -> None:
    async with FakeSegmind() as segmind:
        await start_bot(
            provider="segmind", provider_base_url=segmind.url, provider_api_key=TEST_SEGMIND_KEY
        )
        reply = await chat.send(video=video_message(telegram, clip), caption="make it warm")
    assert reply.text == texts.uploads_need_webhook()
    assert "PUBLIC_URL" in (reply.text or "")


async def test_a_local_bot_api_server_gives_files_past_20_mb_from_its_disk(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    clip: bytes,
    tmp_path: Path,
) -> None:
    telegram.local_files_dir = tmp_path / "bot-api-server"
    app = await start_bot(telegram_local_mode=True)
    assert app.settings.download_limit_bytes == 2000 * 1024 * 1024
    assert app.settings.upload_limit_bytes == 2000 * 1024 * 1024
    declared = 30 * 1024 * 1024  # past the public Bot API's 20 MB; the file itself is small
    card = await chat.send(video=video_message(telegram, clip, file_size=declared), caption="red")
    assert f"Video: {texts.uploaded_video()}" in (card.rendered or "")
    assert telegram.downloads == []  # read from the server's disk, not through /file
    (upload,) = await kie.wait_for_upload()
    assert upload.content == clip


@pytest.mark.parametrize("kind", ["animation", "video_note"])
async def test_an_animation_or_a_video_note_is_taken_like_a_video(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    clip: bytes,
    kind: str,
) -> None:
    await start_bot()
    file = video_message(telegram, clip)
    if kind == "animation":  # Telegram sends an animation with a document copy of it
        fields: dict[str, Any] = {"animation": file, "document": file, "caption": "make it warm"}
    else:  # a round video message: no caption, no MIME type; the prompt is asked next
        fields = {"video_note": {k: file[k] for k in ("file_id", "file_unique_id", "file_size")}}
        fields["video_note"] |= {"length": 160, "duration": 2}
    reply = await chat.send(**fields)
    (upload,) = await kie.wait_for_upload()
    assert upload.content == clip
    if kind == "animation":
        assert f"Video: {texts.uploaded_video()}" in (reply.rendered or "")
    else:
        assert reply.text == texts.ask_for_prompt()
