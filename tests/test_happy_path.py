"""The whole job through the real Application: link and prompt in, the video back in the chat."""

from __future__ import annotations

from bot.app import BotApp
from tests.fakes.kie import FakeKie, result_file_bytes
from tests.fakes.telegram import FakeTelegram
from tests.helpers import PROMPT, USER_ID, VIDEO_URL, Chat


async def test_start_explains_the_bot_and_registers_the_command_menu(
    bot: BotApp, telegram: FakeTelegram, chat: Chat
) -> None:
    welcome = (await chat.say("/start")).rendered or ""
    assert "/help" in welcome  # short: what to send, one example, and where the rest is
    assert "watercolor" in welcome
    assert len(welcome) < 800
    text = (await chat.say("/help")).rendered or ""
    for fact in (
        "MP4",
        "MOV",
        "AVI",
        "WebM".upper(),
        "10 s",
        "500 MB",
        "800 characters",
        "English",
    ):
        assert fact in text, fact
    assert "/tasks" in text
    assert "/status" in text
    commands = telegram.commands({"type": "all_private_chats"})
    assert [c["command"] for c in commands] == ["start", "help", "tasks", "status", "language"]
    description = telegram.description() or ""
    assert "video" in description
    assert "10 s" in description  # and its limits
    assert "500 MB" in description
    assert telegram.description("short_description")


async def test_link_and_prompt_become_a_video_in_the_chat(
    bot: BotApp, telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    card = await chat.card(f"{VIDEO_URL} {PROMPT} <b>bold</b> & more")
    assert VIDEO_URL in (card.rendered or "")
    assert "<b>bold</b> & more" in (card.rendered or "")  # escaped, shown as typed
    assert [t for t, _ in telegram.buttons(USER_ID, card.message_id)] == ["✅ Submit", "✖ Cancel"]
    assert kie.generate_requests() == []  # nothing is spent before Submit

    assert await chat.press(card, "Submit") == "Submitted."
    (task,) = await kie.wait_for_task()
    assert task.video_url == VIDEO_URL
    assert task.prompt == f"{PROMPT} <b>bold</b> & more"
    await chat.wait_for_text("Processing")
    status = telegram.message(USER_ID, card.message_id)
    assert "Task #1" in (status.rendered or "")
    assert telegram.buttons(USER_ID, card.message_id) == []

    kie.complete(task.task_id, success_flag=1, result_size=300_000)
    await telegram.wait_for("sendVideo")
    (video,) = chat.videos()
    assert video.file == result_file_bytes(300_000)
    assert telegram.calls_to("sendVideo")[0].params["supports_streaming"] == "true"
    assert video.reply_to_message_id == card.message_id
    assert (video.caption or "").startswith("Task #1: make it look like a watercolor painting")
    await chat.wait_for_text("Done")

    listing = (await chat.say("/tasks")).rendered or ""
    assert "#1" in listing
    assert "Done" in listing


async def test_link_first_then_the_prompt(bot: BotApp, kie: FakeKie, chat: Chat) -> None:
    ask = await chat.say(VIDEO_URL)
    assert "send the prompt" in (ask.rendered or "")
    card = await chat.say("turn day into night")
    assert "turn day into night" in (card.rendered or "")
    await chat.press(card, "Submit")
    (task,) = await kie.wait_for_task()
    assert (task.video_url, task.prompt) == (VIDEO_URL, "turn day into night")
