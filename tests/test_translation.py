"""Prompts in other languages: refused in the user's language without a translator; with one,
the card shows the English that Submit sends beside the user's words, and a translator that
fails leaves the user a clear choice. The translator is a fake OpenAI-compatible server."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from bot.app import BotApp
from bot.config import ConfigError, load_settings
from bot.providers import kie as kie_provider
from bot.providers.translator import endpoint, max_tokens_for
from bot.texts import i18n
from tests.database import TestDatabase
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.fakes.translator import TEST_MODEL, TEST_TRANSLATOR_KEY, FakeTranslator
from tests.helpers import OTHER_USER_ID, USER_ID, VIDEO_URL, Chat, count_rows
from tests.test_uploads import video_message
from tests.test_webhook import webhook_settings
from tests.videos import make_clip

RUSSIAN = "сделай так, чтобы видео выглядело как акварельная картина"
ENGLISH = "make the video look like a watercolor painting"


@pytest.fixture
async def translator() -> AsyncIterator[FakeTranslator]:
    async with FakeTranslator({RUSSIAN: ENGLISH}) as fake:
        yield fake


@pytest.fixture
def russian(telegram: FakeTelegram) -> Chat:
    return Chat(telegram, language_code="ru")


@pytest.fixture
async def translating_bot(start_bot: Callable[..., Any], translator: FakeTranslator) -> BotApp:
    app: BotApp = await start_bot(
        translator_url=translator.url + "/v1",
        translator_api_key=TEST_TRANSLATOR_KEY,
        translator_model=TEST_MODEL,
        translator_timeout_seconds=1,
    )
    return app


def in_russian(sentence: Callable[[], str]) -> str:
    with i18n.speaking("ru"):
        return sentence()


async def test_without_a_translator_a_russian_prompt_is_refused_in_russian(
    bot: BotApp, russian: Chat, database: TestDatabase
) -> None:
    answer = await russian.say(f"{VIDEO_URL} {RUSSIAN}")
    assert answer.text == in_russian(texts.prompt_not_english)
    assert count_rows(database, "drafts") == 0


async def test_the_card_shows_the_translation_and_submit_sends_it(
    translating_bot: BotApp, translator: FakeTranslator, kie: FakeKie, russian: Chat
) -> None:
    card = await russian.card(f"{VIDEO_URL} {RUSSIAN}")
    assert ENGLISH in (card.text or "")
    assert RUSSIAN in (card.text or "")
    await russian.press(card, "✅")
    (task,) = await kie.wait_for_task()
    assert task.prompt == ENGLISH
    # The translator got the prompt's text and nothing about who wrote it.
    (request,) = translator.requests
    assert request.text == RUSSIAN
    assert request.authorization == f"Bearer {TEST_TRANSLATOR_KEY}"
    assert set(request.body) == {"model", "messages", "max_tokens"}
    assert request.body["max_tokens"] == max_tokens_for(
        kie_provider.capabilities("KIE.ai").max_prompt_chars
    )
    sent = json.dumps(request.body, ensure_ascii=False)
    for about_the_user in (str(USER_ID), VIDEO_URL, "tester"):
        assert about_the_user not in sent


async def test_an_english_prompt_is_not_sent_to_the_translator(
    translating_bot: BotApp, translator: FakeTranslator, russian: Chat
) -> None:
    card = await russian.card(f"{VIDEO_URL} make it red")
    assert "make it red" in (card.text or "")
    assert translator.requests == []


async def test_a_prompt_sent_after_the_link_is_translated_and_a_new_one_replaces_it(
    translating_bot: BotApp, translator: FakeTranslator, russian: Chat
) -> None:
    await russian.say(VIDEO_URL)
    card = await russian.card(RUSSIAN)
    assert ENGLISH in (card.text or "")
    assert RUSSIAN in (card.text or "")
    english_card = await russian.card("make it red")
    assert "make it red" in (english_card.text or "")
    assert RUSSIAN not in (english_card.text or "")
    assert len(translator.requests) == 1


@pytest.mark.parametrize("fault", ["fail", "hang", "trickle", "not english", "empty"])
async def test_a_failed_translation_asks_for_english_and_stores_nothing(
    translating_bot: BotApp,
    translator: FakeTranslator,
    kie: FakeKie,
    russian: Chat,
    database: TestDatabase,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if fault == "fail":
        translator.fail_next(503)
    elif fault == "hang":
        translator.hang_next()
    elif fault == "trickle":  # each read within the time-out, the whole well past it
        translator.trickle_next()
    elif fault == "not english":
        translator.answer_next("сделай акварель")
    else:
        translator.answer_next("  ")
    with caplog.at_level(logging.DEBUG):
        answer = await russian.say(f"{VIDEO_URL} {RUSSIAN}")
    assert answer.text == in_russian(texts.translation_failed)
    assert not russian.telegram.buttons(russian.user_id, answer.message_id)
    assert count_rows(database, "drafts") == 0
    assert TEST_TRANSLATOR_KEY not in caplog.text
    # The choice it leaves works: the prompt in English.
    card = await russian.card(f"{VIDEO_URL} make it red")
    assert "make it red" in (card.text or "")


def test_the_translator_needs_a_model_and_its_key_is_a_secret() -> None:
    with pytest.raises(ConfigError, match="TRANSLATOR_MODEL"):
        load_settings(
            _env_file=None,
            need_telegram=False,
            provider="sandbox",
            translator_url="https://llm.example.com/v1",
        )
    settings = load_settings(
        _env_file=None,
        need_telegram=False,
        provider="sandbox",
        translator_url="https://llm.example.com/v1",
        translator_model="m",
        translator_api_key=TEST_TRANSLATOR_KEY,
    )
    assert TEST_TRANSLATOR_KEY in settings.secrets()


def test_the_endpoint_is_the_url_given_or_its_chat_completions() -> None:
    assert endpoint("https://api.openai.com/v1") == "https://api.openai.com/v1/chat/completions"
    assert endpoint("https://x.io/v1/chat/completions/") == "https://x.io/v1/chat/completions"


async def test_a_translation_too_long_for_the_provider_says_so(
    translating_bot: BotApp, translator: FakeTranslator, russian: Chat, database: TestDatabase
) -> None:
    limit = kie_provider.capabilities("KIE.ai").max_prompt_chars
    translator.answer_next("make it red " * (limit // 10))
    answer = await russian.say(f"{VIDEO_URL} {RUSSIAN}")
    assert answer.text == in_russian(lambda: texts.translation_too_long(limit))
    translator.answer_next("make it red and", finish_reason="length")  # cut at max_tokens
    answer = await russian.say(f"{VIDEO_URL} {RUSSIAN}")
    assert answer.text == in_russian(lambda: texts.translation_too_long(limit))
    assert count_rows(database, "drafts") == 0


async def test_each_user_has_an_hourly_share_of_translations_and_repeats_are_free(
    start_bot: Callable[..., Any], translator: FakeTranslator, russian: Chat
) -> None:
    await start_bot(
        translator_url=translator.url + "/v1",
        translator_api_key=TEST_TRANSLATOR_KEY,
        translator_model=TEST_MODEL,
        translations_per_user_per_hour=2,
    )
    for _ in range(3):  # the same text: asked once
        assert ENGLISH in ((await russian.card(f"{VIDEO_URL} {RUSSIAN}")).text or "")
    await russian.card(f"{VIDEO_URL} сделай видео ярче")
    refused = await russian.say(f"{VIDEO_URL} сделай видео темнее")
    assert refused.text == in_russian(texts.translation_limit_reached)
    assert len(translator.requests) == 2
    # Another user has their own share.
    other = Chat(russian.telegram, OTHER_USER_ID, language_code="ru")
    assert (await other.card(f"{VIDEO_URL} сделай видео темнее")).text


async def test_an_uploaded_videos_caption_is_translated(
    start_bot: Callable[..., Any],
    translator: FakeTranslator,
    kie: FakeKie,
    telegram: FakeTelegram,
    russian: Chat,
    tmp_path: Path,
) -> None:
    await start_bot(
        **webhook_settings(),
        translator_url=translator.url + "/v1",
        translator_api_key=TEST_TRANSLATOR_KEY,
        translator_model=TEST_MODEL,
    )
    clip = make_clip(tmp_path / "upload.mp4", seconds=2.0).read_bytes()
    card = await russian.send(video=video_message(telegram, clip), caption=RUSSIAN)
    assert ENGLISH in (card.text or "")
    assert RUSSIAN in (card.text or "")
    assert in_russian(texts.uploaded_video) in (card.text or "")  # the card is in Russian
    await russian.press(card, in_russian(texts.button_submit))
    (task,) = await kie.wait_for_task()
    assert task.prompt == ENGLISH
