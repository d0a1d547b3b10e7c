"""LOG_FORMAT=json: a JSON object a line, naming the task, its user and job; secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.app import BotApp
from bot.config import load_settings
from bot.logs.context import about_task
from bot.logs.redaction import MASK, Redactor, configure_logging
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import PROMPT, USER_ID, VIDEO_URL, Chat

SECRET = "provider-key-do-not-log"
TOKEN_SHAPED = "987654321:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What configure_logging writes, with the logging set as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "aiosqlite")}
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_one_json_object_with_time_level_logger_and_message(
    stderr: io.StringIO,
) -> None:
    configure_logging("INFO", Redactor(), "json", stream=stderr)
    logging.getLogger("bot.test").info("Task %d went %s", 7, "well")
    logging.getLogger("bot.test").debug("below the level")
    (line,) = lines(stderr)
    assert line["level"] == "INFO"
    assert line["logger"] == "bot.test"
    assert line["message"] == "Task 7 went well"
    assert line["time"].endswith("Z")  # UTC, ISO 8601
    assert "task_id" not in line  # about no task


def test_a_secret_never_shows_in_the_message_nor_in_the_exception(stderr: io.StringIO) -> None:
    configure_logging("INFO", Redactor([SECRET]), "json", stream=stderr)
    log = logging.getLogger("bot.test")
    log.warning("The provider refused key %s", SECRET)
    log.info(f"A token in the template itself: {TOKEN_SHAPED}")
    try:
        raise RuntimeError(f"token {TOKEN_SHAPED} with {SECRET} refused")
    except RuntimeError:
        log.exception("Sending failed (%s)", SECRET)
    written = stderr.getvalue()
    assert SECRET not in written
    assert TOKEN_SHAPED not in written
    refused, template, failed = lines(stderr)
    assert refused["message"] == f"The provider refused key {MASK}"
    assert template["message"] == f"A token in the template itself: {MASK}"
    assert failed["level"] == "ERROR"
    assert failed["message"] == f"Sending failed ({MASK})"
    assert "RuntimeError" in failed["exception"]
    assert MASK in failed["exception"]


def test_lines_about_a_task_name_it_its_user_and_its_job(stderr: io.StringIO) -> None:
    configure_logging("INFO", Redactor(), "json", stream=stderr)
    log = logging.getLogger("bot.test")
    with about_task(12):
        log.info("inside")
    log.info("after", extra={"user_id": 5})
    inside, after = lines(stderr)
    assert inside["task_id"] == 12
    assert "task_id" not in after
    assert after["user_id"] == 5  # given with the call


def test_text_stays_the_default(stderr: io.StringIO) -> None:
    settings = load_settings(_env_file=None, telegram_bot_token="123:abc", provider_api_key="k")
    assert settings.log_format == "text"
    configure_logging("INFO", Redactor(), settings.log_format, stream=stderr)
    logging.getLogger("bot.test").info("Task %d went %s", 7, "well")
    assert stderr.getvalue().rstrip().endswith("INFO bot.test: Task 7 went well")


async def test_a_task_s_story_through_the_real_bot(
    stderr: io.StringIO,
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
) -> None:
    bot: BotApp = await start_bot()
    configure_logging("INFO", Redactor(bot.settings.secrets()), "json", stream=stderr)
    card = await chat.card(f"{VIDEO_URL} {PROMPT}")
    assert await chat.press(card, "Submit") == "Submitted."
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=1, result_size=300_000)
    await telegram.wait_for("sendVideo")
    written = lines(stderr)
    about = [line for line in written if line.get("task_id") == 1]
    accepted = next(line for line in about if "accepted by" in line["message"])
    assert accepted["user_id"] == USER_ID
    assert accepted["job_id"] == task.task_id
    for secret in bot.settings.secrets():
        assert secret not in stderr.getvalue()


def test_an_unknown_token_is_masked_also_right_after_bot_in_a_url() -> None:
    redact = Redactor()
    url = "https://api.telegram.org/bot123456789:AAbbCCddEEffGGhhIIjjKKllMMnn/getMe"
    assert redact(url) == f"https://api.telegram.org/bot{MASK}/getMe"
    assert redact("file/bot987654321:zzZZyyYYxxXXwwWWvvVVuuUU_-/videos/1.mp4") == (
        f"file/bot{MASK}/videos/1.mp4"
    )
    assert redact("task 12: 3 of 10") == "task 12: 3 of 10"  # no token shape, untouched
