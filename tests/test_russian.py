"""Issue 13's "done when": a user whose Telegram is in Russian goes through the whole flow in
Russian, and an admin through every admin command, driven through the fake Telegram.

Expected sentences are the catalog's, said in Russian (`ru`); each answer is also checked to be
Russian indeed (Cyrillic, without the English of the same sentence), so a missing catalog fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from bot import texts
from bot.domain.records import TaskState
from bot.providers import kie as kie_provider
from bot.texts import i18n
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import ADMIN_ID, OTHER_USER_ID, USER_ID, VIDEO_URL, Chat

T = TypeVar("T")
ADMIN_SCOPE = {"type": "chat", "chat_id": ADMIN_ID}
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
PROMPT = "make it look like a watercolor painting"
BROADCAST = "Hello everyone"
# What the tests type, or the fake Telegram names the users: shown as it is in any language.
TYPED = (PROMPT, BROADCAST, "make it red", "make it blue", "boom", "spam", "Test", "KIE.ai")


def ru(sentence: Callable[[], T]) -> T:
    with i18n.speaking("ru"):
        return sentence()


def in_russian(text: str | None) -> str:
    """The text, once checked to be Russian: most of its letters Cyrillic, leaving out links,
    commands, markup, and the names and words that tests type (which stay as typed)."""
    assert text, "no text"
    said = re.sub(r"https?://\S+|[/@]\w+|<[^>]*>|&\w+;", "", text)
    for typed in TYPED:
        said = said.replace(typed, "")
    letters = [c for c in said if c.isalpha()]
    cyrillic = sum(1 for c in letters if CYRILLIC.match(c))
    assert cyrillic > len(letters) / 2, f"not Russian: {text!r}"
    return text


def russian_chat(telegram: FakeTelegram, user_id: int = USER_ID) -> Chat:
    return Chat(telegram, user_id, language_code="ru")


async def test_a_russian_user_goes_through_the_whole_flow_in_russian(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie
) -> None:
    await start_bot(daily_task_limit=2)
    chat = russian_chat(telegram)
    capabilities = kie_provider.capabilities("KIE.ai")

    # /start, /help, and Telegram's own surfaces in Russian.
    welcome = await chat.say("/start")
    assert welcome.text == ru(lambda: texts.welcome("Test", capabilities))
    in_russian(welcome.text)
    in_russian((await chat.say("/help")).text)
    menu = telegram.commands({"type": "all_private_chats"}, "ru")
    assert [(c["command"], c["description"]) for c in menu] == list(ru(texts.commands))
    assert telegram.description("description", "ru") == ru(
        lambda: texts.bot_description(capabilities)
    )
    in_russian(telegram.description("short_description", "ru"))

    # A prompt in Russian is refused in Russian (no translator here); bad input too.
    refusal = await chat.say(f"{VIDEO_URL} сделай акварелью")
    assert refusal.text == ru(texts.prompt_not_english)
    in_russian(refusal.text)
    in_russian((await chat.say("ftp://videos.example.com/a.mp4 make it red")).text)

    # Link and prompt: the card, its buttons, its toast.
    ask = await chat.say(VIDEO_URL)
    in_russian(ask.text)
    card = await chat.card(PROMPT)
    in_russian(card.text)
    labels = [label for label, _ in telegram.buttons(USER_ID, card.message_id)]
    assert labels == [ru(texts.button_submit), ru(texts.button_cancel)]
    assert await chat.press(card, ru(texts.button_submit)) == ru(texts.toast_submitted)

    # The status card, refreshed by the tracker, and the result.
    (task,) = await kie.wait_for_task()
    await chat.wait_for_text(ru(lambda: texts.state_label(TaskState.PROCESSING)))
    kie.complete(task.task_id, success_flag=1)
    await telegram.wait_for("sendVideo")
    (video,) = chat.videos()
    caption_start = ru(lambda: i18n.gettext("Task #{id}: {prompt}").format(id=1, prompt=""))
    assert (video.caption or "").startswith(caption_start)
    await chat.wait_for_text(ru(lambda: texts.state_label(TaskState.DELIVERED)))

    # A failure, told in Russian.
    await chat.press(await chat.card(f"{VIDEO_URL} make it red"), ru(texts.button_submit))
    _, failing = await kie.wait_for_task(count=2)
    kie.complete(failing.task_id, success_flag=3, error_code=500, error_message="boom")
    await chat.wait_for_text(ru(lambda: texts.state_label(TaskState.FAILED)))  # the status card
    in_russian((await chat.wait_for_text("boom")).text)  # and the message that says why

    # The daily limit (2), said in Russian.
    third = await chat.card(f"{VIDEO_URL} make it blue")
    before = chat.seen
    await chat.press(third, ru(texts.button_submit))
    refused = await chat.message_after(before)
    in_russian(refused.text)
    assert "2" in (refused.text or "")

    # /tasks, /status, in Russian.
    listing = await chat.say("/tasks")
    in_russian(listing.text)
    assert "#1" in (listing.text or "")
    in_russian((await chat.say("/status 1")).text)
    assert (await chat.say("/status")).text == ru(texts.status_usage)
    assert (await chat.say("/status 99")).text == ru(lambda: texts.task_not_found(99))

    # /language: the menu in Russian; choosing English switches everything at once.
    menu_message = await chat.say("/language")
    in_russian(menu_message.text)
    assert await chat.press(menu_message, "English") == texts.toast_language_chosen("English")
    assert (await chat.say("/status")).text == texts.status_usage()
    own_menu = telegram.commands({"type": "chat", "chat_id": USER_ID})
    assert [c["description"] for c in own_menu] == [d for _, d in texts.commands()]
    # And back to "like my Telegram": Russian again, and no menu of its own.
    await chat.press(await chat.say("/language"), texts.button_language_auto())
    assert (await chat.say("/status")).text == ru(texts.status_usage)
    assert telegram.commands({"type": "chat", "chat_id": USER_ID}) == []


async def test_an_admin_uses_every_admin_command_in_russian(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie
) -> None:
    await start_bot(access_mode="allowlist")
    admin = russian_chat(telegram, ADMIN_ID)
    await admin.say("/start")
    expected = [
        d for _, d in ru(lambda: (*texts.commands(), *texts.admin_commands(payments=False)))
    ]
    await telegram.wait_until(  # set after /start's answer, in the admin's language
        lambda: [c["description"] for c in telegram.commands(ADMIN_SCOPE)] == expected,
        what="the admin's menu in Russian",
    )

    # A newcomer asks; the request reaches the admin in Russian; the newcomer hears the
    # decision in their own language (English here).
    newcomer = Chat(telegram, OTHER_USER_ID)
    await newcomer.say("hello")
    request = await admin.wait_for_text(str(OTHER_USER_ID))
    in_russian(request.text)
    await admin.press(request, "✅")
    await newcomer.wait_for_text(texts.access_granted())

    user = russian_chat(telegram)
    in_russian((await user.say("привет")).text)  # "asked the admins", in Russian
    await admin.wait_for_text(str(USER_ID))
    in_russian((await admin.say(f"/allow {USER_ID}")).text)
    await user.press(await user.card(f"{VIDEO_URL} {PROMPT}"), ru(texts.button_submit))
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=1)
    await telegram.wait_for("sendVideo")

    commands = [
        "/stats",
        f"/user {USER_ID}",
        f"/limit {USER_ID} 5",
        f"/limit {USER_ID} default",
        "/task 1",
        "/redeliver 1",
        f"/ban {USER_ID} spam",
        f"/unban {USER_ID}",
        f"/deny {OTHER_USER_ID}",
        f"/allow {OTHER_USER_ID}",
        "/maintenance on",
        "/maintenance off",
        f"/broadcast {BROADCAST}",
        "/refund stx1",  # payments are off: each of these says so
        f"/grant {USER_ID} 5 x",
        "/payments",
        "/reconcile",
    ]
    for command, _ in texts.admin_commands():  # every admin command is here, and its usage
        assert any(c.split()[0] == f"/{command}" for c in commands), command
        if command not in ("stats", "payments", "reconcile"):  # these need no arguments
            with i18n.speaking("ru"):
                usage = texts.admin_usage(command)
            assert (await admin.say(f"/{command}")).text == usage
    for command in commands:
        said = await admin.say(command)
        in_russian(said.text or said.caption)  # /stats: its picture's caption


async def test_what_a_russian_admin_does_reaches_an_english_user_in_english(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie
) -> None:
    """A text the admin's action makes for a user is built in the user's language: the result
    /redeliver sends again, and the default maintenance message."""
    await start_bot()
    admin, user = russian_chat(telegram, ADMIN_ID), Chat(telegram)
    await user.press(await user.card(f"{VIDEO_URL} {PROMPT}"), "Submit")
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=1)
    await telegram.wait_for("sendVideo")
    await user.wait_for_text("Done")  # delivered: a task still being sent is not redelivered
    in_russian((await admin.say("/redeliver 1")).text)
    first, again = chat_videos = user.videos()
    assert len(chat_videos) == 2
    assert again.caption == first.caption
    assert (again.caption or "").startswith("Task #1: ")

    in_russian((await admin.say("/maintenance on")).text)
    card = await user.card(f"{VIDEO_URL} make it red")
    before = user.seen
    await user.press(card, "Submit")
    assert (await user.message_after(before)).text == texts.maintenance_default()
    await russian_chat(telegram, OTHER_USER_ID).card(f"{VIDEO_URL} make it red")
    russian_user = russian_chat(telegram, OTHER_USER_ID)
    card = await russian_user.card(f"{VIDEO_URL} make it blue")
    before = russian_user.seen
    await russian_user.press(card, ru(texts.button_submit))
    assert (await russian_user.message_after(before)).text == ru(texts.maintenance_default)
