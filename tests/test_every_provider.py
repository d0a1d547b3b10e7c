"""The whole bot once per provider: the card adapts to what the provider offers, and the video
comes back. The sandbox's result is checked as a real video in tests/test_sandbox.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.luma import TEST_LUMA_KEY, FakeLuma
from tests.fakes.segmind import TEST_SEGMIND_KEY, FakeSegmind
from tests.fakes.telegram import FakeTelegram
from tests.helpers import USER_ID, Chat

FRAME_URL = "https://images.example.com/first-frame.png"


async def test_kie_and_apikley_cards_have_no_strength_or_first_frame_buttons(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    for provider in ("kie", "apikley"):
        app: BotApp = await start_bot(provider=provider)
        card = await chat.card()
        labels = [label for label, _ in telegram.buttons(USER_ID, card.message_id)]
        assert labels == [texts.button_submit(), texts.button_cancel()]
        assert "Strength" not in (card.rendered or "")
        await app.stop()


async def test_segmind_end_to_end_with_a_chosen_strength_and_first_frame(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    async with FakeSegmind() as segmind:
        await start_bot(
            provider="segmind",
            provider_base_url=segmind.url,
            provider_api_key=TEST_SEGMIND_KEY,
            default_mode="adhere_1",
        )
        card = await chat.card()
        assert "Strength: Adhere 1 (subtle)" in (card.rendered or "")
        await chat.press(card, "Reimagine")
        await chat.press(card, "3")
        assert "Strength: Reimagine 3 (transformative)" in (
            telegram.message(USER_ID, card.message_id).rendered or ""
        )
        assert await chat.press(card, "first frame") == texts.toast_waiting_for_first_frame()
        await chat.wait_for_text("Send an image for the first frame")
        new_card = await chat.card(FRAME_URL)
        assert f"First frame: {FRAME_URL}" in (new_card.rendered or "")
        assert "Reimagine 3" in (new_card.rendered or "")  # the choice carried over
        await chat.press(new_card, "Submit")
        (job,) = await segmind.wait_for_job()
        assert (job.mode, job.first_frame_url) == ("reimagine_3", FRAME_URL)
        segmind.complete(job.request_id)
        await telegram.wait_for("sendVideo")
        await chat.wait_for_text("Done")
        assert len(chat.videos()) == 1


async def test_segmind_failure_served_as_422_is_the_tasks_failure(
    start_bot: Callable[..., Any], chat: Chat
) -> None:
    async with FakeSegmind() as segmind:
        await start_bot(
            provider="segmind", provider_base_url=segmind.url, provider_api_key=TEST_SEGMIND_KEY
        )
        await chat.press(await chat.card(), "Submit")
        (job,) = await segmind.wait_for_job()
        segmind.fail(job.request_id, error="Content blocked by safety filter")
        notice = await chat.wait_for_text("failed")
        assert "Content blocked by safety filter" in (notice.rendered or "")


async def test_luma_end_to_end_by_polling(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    async with FakeLuma() as luma:
        await start_bot(
            provider="luma", provider_base_url=luma.base_url, provider_api_key=TEST_LUMA_KEY
        )
        card = await chat.card()
        assert "Strength: Flex 1 (stylistic)" in (card.rendered or "")  # DEFAULT_MODE
        await chat.press(card, "Submit")
        (generation,) = await luma.wait_for_generation()
        assert generation.mode == "flex_1"
        assert generation.model == "ray-2"
        luma.complete(generation.id)
        await telegram.wait_for("sendVideo")
        await chat.wait_for_text("Done")


async def test_luma_end_to_end_by_its_callbacks(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    from tests.test_webhook import webhook_settings

    async with FakeLuma(auto_callbacks=True) as luma:
        await start_bot(
            provider="luma",
            provider_base_url=luma.base_url,
            provider_api_key=TEST_LUMA_KEY,
            **webhook_settings(),
        )
        await chat.press(await chat.card(), "Submit")
        (generation,) = await luma.wait_for_generation()
        assert generation.callback_url is not None
        luma.set_state(generation.id, "dreaming")
        luma.complete(generation.id)
        await luma.drain()
        await telegram.wait_for("sendVideo")
        assert luma.status_requests(generation.id) == []  # the callbacks were enough


@pytest.mark.parametrize("mode", ["flex_9", "turbo_1", "adhere_"])
async def test_button_data_for_a_mode_the_provider_lacks_changes_nothing(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat, mode: str
) -> None:
    async with FakeSegmind() as segmind:
        await start_bot(
            provider="segmind", provider_base_url=segmind.url, provider_api_key=TEST_SEGMIND_KEY
        )
        card = await chat.card()
        draft = chat.button_data(card, "Submit").split(":")[1]
        assert await chat.press_data(card.message_id, f"mode:{draft}:{mode}") == (
            texts.toast_card_gone()
        )
        assert telegram.message(USER_ID, card.message_id).rendered == card.rendered


async def test_kie_gets_the_operators_watermark(
    start_bot: Callable[..., Any], kie: FakeKie, chat: Chat
) -> None:
    await start_bot(watermark="my-brand", provider_api_key=TEST_KIE_KEY)
    await chat.press(await chat.card(), "Submit")
    (task,) = await kie.wait_for_task()
    assert task.watermark == "my-brand"


async def test_tapping_the_chosen_strength_again_is_harmless(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    async with FakeSegmind() as segmind:
        await start_bot(
            provider="segmind",
            provider_base_url=segmind.url,
            provider_api_key=TEST_SEGMIND_KEY,
            default_mode="flex_1",
        )
        card = await chat.card()
        for _ in range(2):
            assert await chat.press(card, "Flex") == "Flex 1 (stylistic)"
        assert not [m for m in telegram.messages(USER_ID) if "wrong" in (m.rendered or "")]


async def test_a_new_link_with_a_prompt_while_a_first_frame_is_awaited_is_a_new_request(
    start_bot: Callable[..., Any], telegram: FakeTelegram, chat: Chat
) -> None:
    async with FakeSegmind() as segmind:
        await start_bot(
            provider="segmind", provider_base_url=segmind.url, provider_api_key=TEST_SEGMIND_KEY
        )
        card = await chat.card("https://v.example.com/one.mp4 make it snow")
        await chat.press(card, "first frame")
        await chat.wait_for_text("Send an image for the first frame")
        new = await chat.card("https://v.example.com/two.mp4 make it rain")
        shown = new.rendered or ""
        assert "two.mp4" in shown
        assert "make it rain" in shown
        assert "First frame" not in shown
