"""Signs of life (chat actions while the user waits), and the buttons under a result and a
failure: a new prompt for the same video, the result as the
next card's video (while the provider keeps it), and "Try again" after a failure. Each makes a
card; nothing is spent before its Submit; they work after a restart; stale presses change
nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import texts
from bot.app import BotApp
from tests.database import TestDatabase, connect
from tests.fakes.kie import FakeKie
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import OTHER_USER_ID, PROMPT, VIDEO_URL, Chat
from tests.videos import make_clip


async def delivered(chat: Chat, kie: FakeKie, telegram: FakeTelegram) -> tuple[str, SentMessage]:
    """Submit the standard card and wait for its video; the job's id and the video message."""
    await chat.press(await chat.card(), "Submit")
    (job,) = await kie.wait_for_task()
    kie.complete(job.task_id)
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")  # stored as delivered
    (video,) = chat.videos()
    return job.task_id, video


async def press_and_read(chat: Chat, message: SentMessage, word: str) -> SentMessage:
    before = chat.seen
    await chat.press(message, word)
    return await chat.message_after(before)


async def test_new_prompt_same_video_and_edit_this_result_make_new_cards(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    first: BotApp = await start_bot()
    job_id, video = await delivered(chat, kie, telegram)
    labels = [label for label, _ in telegram.buttons(chat.user_id, video.message_id)]
    assert labels == [texts.button_new_prompt_same_video(), texts.button_edit_result()]
    await first.stop()
    await start_bot()  # the buttons carry only the task's number: they outlive a restart

    ask = await press_and_read(chat, video, "New prompt")
    assert ask.text == texts.ask_for_prompt()
    card = await chat.card("make it blue")
    assert VIDEO_URL in (card.rendered or "")
    assert len(kie.tasks) == 1  # nothing is spent before Submit
    await chat.press(card, "Submit")
    _, again = await kie.wait_for_task(count=2)
    assert (again.video_url, again.prompt) == (VIDEO_URL, "make it blue")

    await press_and_read(chat, video, "Edit this result")
    card = await chat.card("now add snow")
    await chat.press(card, "Submit")
    *_, edited = await kie.wait_for_task(count=3)
    assert edited.video_url == kie.result_url(job_id)
    assert edited.prompt == "now add snow"


async def test_a_result_the_provider_no_longer_keeps_loses_its_edit_button(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat, database: TestDatabase
) -> None:
    _, video = await delivered(chat, kie, telegram)
    with connect(database) as conn:  # delivered 15 days ago: KIE keeps results 14
        conn.execute("UPDATE tasks SET delivered_at = delivered_at - 15 * 86400")
    before = chat.seen
    assert await chat.press(video, "Edit this result") == texts.toast_result_expired()
    labels = [label for label, _ in telegram.buttons(chat.user_id, video.message_id)]
    assert labels == [texts.button_new_prompt_same_video()]
    assert chat.seen == before  # no new card, nothing stored
    assert texts.ask_for_prompt() == (await press_and_read(chat, video, "New prompt")).text


async def test_try_again_after_a_failure_makes_the_same_card(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card(f"{VIDEO_URL} {PROMPT}")
    await chat.press(card, "Submit")
    (job,) = await kie.wait_for_task()
    kie.complete(job.task_id, success_flag=3, error_code=500, error_message="boom")
    failure = await chat.wait_for_text("boom")
    labels = [label for label, _ in telegram.buttons(chat.user_id, failure.message_id)]
    assert labels == [texts.button_try_again()]
    again = await press_and_read(chat, failure, "Try again")
    assert VIDEO_URL in (again.rendered or "")
    assert PROMPT in (again.rendered or "")
    assert telegram.buttons(chat.user_id, again.message_id)  # a card, with Submit
    assert len(kie.tasks) == 1
    await chat.press(again, "Submit")
    _, retried = await kie.wait_for_task(count=2)
    assert (retried.video_url, retried.prompt) == (VIDEO_URL, PROMPT)


async def test_someone_elses_task_or_a_made_up_one_changes_nothing(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    _, video = await delivered(chat, kie, telegram)
    other = Chat(telegram, OTHER_USER_ID)
    await other.say("/start")
    welcome = telegram.messages(OTHER_USER_ID)[-1]
    for data in ("again:1", "redo:1", "retry:1", "retry:999"):
        assert await other.press_data(welcome.message_id, data) == texts.toast_card_gone()
    assert len(telegram.messages(OTHER_USER_ID)) == 1
    assert len(kie.tasks) == 1
    assert video.message_id


async def test_the_chat_shows_sending_video_while_a_result_uploads(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    await delivered(chat, kie, telegram)
    actions = [c.params for c in telegram.calls_to("sendChatAction")]
    assert {"chat_id": chat.user_id, "action": "upload_video"} in [
        {"chat_id": int(p["chat_id"]), "action": p["action"]} for p in actions
    ]


async def test_the_chat_shows_typing_while_a_slow_link_check_runs(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0).read_bytes()

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.6)
        return Response(clip, media_type="video/mp4")

    async with LoopbackServer(Starlette(routes=[Route("/clip.mp4", slow)])) as site:
        await start_bot(preflight_checks=True)
        await chat.say("make it red")  # no link yet: answered at once, no "typing…"
        assert telegram.calls_to("sendChatAction") == []
        await chat.card(f"{site.url}/clip.mp4 make it red")
    actions = [c.params["action"] for c in telegram.calls_to("sendChatAction")]
    assert actions
    assert set(actions) == {"typing"}
