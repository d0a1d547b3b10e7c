"""Driving the bot as a user would, through the fake Telegram server."""

from __future__ import annotations

from bot import texts
from bot.domain.records import TaskState
from tests.database import TestDatabase, connect
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram, SentMessage

ADMIN_ID = 900
USER_ID = 1001
OTHER_USER_ID = 1002
# Telegram usernames are unique: each test user has their own.
USERNAMES = {USER_ID: "tester", ADMIN_ID: "boss", OTHER_USER_ID: "other"}
VIDEO_URL = "https://videos.example.com/clip.mp4"
PROMPT = "make it look like a watercolor painting"


def bot_environment(telegram: FakeTelegram, kie: FakeKie, database: TestDatabase) -> dict[str, str]:
    """The settings a test bot runs with, as environment variables (for `python -m bot`)."""
    return {
        "TELEGRAM_BOT_TOKEN": TEST_BOT_TOKEN,
        "TELEGRAM_API_URL": telegram.url,
        "PROVIDER": "kie",
        "PROVIDER_API_KEY": TEST_KIE_KEY,
        "PROVIDER_BASE_URL": kie.url,
        "KIE_UPLOAD_URL": kie.url,  # the fake serves KIE's File Upload API too
        **database.environment(),
        "ADMIN_IDS": str(ADMIN_ID),
        "POLL_INTERVAL_SECONDS": "0.05",
        "PROVIDER_RETRY_DELAY_SECONDS": "0.01",
        "STATUS_EDIT_INTERVAL_SECONDS": "1",
        "TASK_TIMEOUT_SECONDS": "60",
        "MAX_ACTIVE_TASKS_PER_USER": "2",
        "DAILY_TASK_LIMIT": "10",
        # The fakes live on loopback. Links in most tests name hosts that do not exist, so they
        # are not checked in advance; tests of the preflight turn it on.
        "ALLOW_LOOPBACK_URLS": "true",
        "PREFLIGHT_CHECKS": "false",
    }


class Chat:
    """One user's private chat with the bot."""

    def __init__(
        self, telegram: FakeTelegram, user_id: int = USER_ID, *, language_code: str = "en"
    ) -> None:
        """`language_code`: the language of the user's Telegram app, sent with each update."""
        self.telegram = telegram
        self.user_id = user_id
        self.language_code = language_code
        self.username = USERNAMES.get(user_id, f"user{user_id}")

    @property
    def seen(self) -> int:
        """How many messages the bot has sent to this chat so far."""
        return len(self.telegram.messages(self.user_id))

    async def say(self, text: str, timeout: float = 10.0) -> SentMessage:
        """Send `text` and return the bot's first new message in this chat."""
        before = self.seen
        self.telegram.send_message(
            self.user_id, text, username=self.username, language_code=self.language_code
        )
        return await self.message_after(before, timeout=timeout)

    async def settle(self) -> None:
        """Wait until the bot has finished with every update sent so far.

        The bot handles one update at a time, so once it has answered a new /help, all earlier
        handlers have finished (including their database writes after the reply).
        """
        await self.say("/help")

    async def send(self, timeout: float = 10.0, **message_fields: object) -> SentMessage:
        """Send a non-text message (sticker=..., voice=...) and return the bot's answer."""
        before = self.seen
        self.telegram.meet(self.user_id, username=self.username, language_code=self.language_code)
        self.telegram.send_update_message(self.user_id, **message_fields)
        return await self.message_after(before, timeout=timeout)

    async def message_after(self, count: int, timeout: float = 10.0) -> SentMessage:
        """The bot's message number `count` (0-based) in this chat, waiting for it to arrive."""
        await self.telegram.wait_until(
            lambda: self.seen > count, timeout=timeout, what=f"message {count} to {self.user_id}"
        )
        return self.telegram.messages(self.user_id)[count]

    async def wait_for_text(self, needle: str, timeout: float = 10.0) -> SentMessage:
        """The first message (as it is now) whose rendered text contains `needle`."""

        def found() -> SentMessage | None:
            return next(
                (m for m in self.telegram.messages(self.user_id) if needle in (m.rendered or "")),
                None,
            )

        await self.telegram.wait_until(
            lambda: found() is not None, timeout=timeout, what=f"a message with {needle!r}"
        )
        message = found()
        assert message is not None
        return message

    async def wait_until_at_provider(self, timeout: float = 10.0) -> SentMessage:
        """The card once it says the task is at the provider.

        The provider has a job before the bot has written its answer down; a callback meanwhile
        gets 503 (the provider calls again). Tests that call back at once wait for this first.
        """
        return await self.wait_for_text(texts.state_label(TaskState.PROCESSING), timeout)

    def button_data(self, message: SentMessage, word: str) -> str:
        for text, data in self.telegram.buttons(self.user_id, message.message_id):
            if word in text:
                return data
        raise AssertionError(f"no {word!r} button on {message.rendered!r}")

    async def press(self, message: SentMessage, word: str) -> str:
        """Press the button whose text contains `word`; return Telegram's toast text."""
        return await self.press_data(message.message_id, self.button_data(message, word))

    async def press_data(self, message_id: int, data: str) -> str:
        """Send a button press with any callback data; return Telegram's toast text."""
        query_id = self.telegram.press_button(self.user_id, message_id, data)
        await self.telegram.wait_until(
            lambda: self.telegram.callback_answer(query_id) is not None,
            what="the button press to be answered",
        )
        answer = self.telegram.callback_answer(query_id)
        assert answer is not None
        return str(answer.params.get("text", ""))

    async def card(self, text: str = f"{VIDEO_URL} {PROMPT}") -> SentMessage:
        """Send a link and prompt; return the confirmation card."""
        card = await self.say(text)
        assert self.telegram.buttons(self.user_id, card.message_id), card.rendered
        return card

    def videos(self) -> list[SentMessage]:
        return [m for m in self.telegram.messages(self.user_id) if m.kind == "video"]


def count_rows(database: TestDatabase, table: str) -> int:
    with connect(database) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
