"""The test's side of the fake: play the user (send messages, press buttons, inject updates),
wait for the bot's calls, and read what the bot did to each chat."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.telegram.bot_api import BotApi
from tests.fakes.telegram.params import _scope_key
from tests.fakes.telegram.payments import PaymentActions
from tests.fakes.telegram.protocol import _canonical
from tests.fakes.telegram.rendering import _auto_entities
from tests.fakes.telegram.state import Call, SentMessage, _User


class FakeTelegram(PaymentActions, BotApi):
    """A fake Bot API server and the user's side of it; the package docstring shows a test's use."""

    # ------------------------------------------------------------------ reading calls

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        """The calls to `method` received so far (only those for `chat_id` if given)."""
        name = _canonical(method)
        return [
            c
            for c in self.calls
            if c.method == name and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Call]:
        """Wait until `count` calls to `method` matching `predicate` were received; return them all.

        Calls received earlier count. Raises AssertionError on timeout, listing what was received.
        """
        name = _canonical(method)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matching = [
                c for c in self.calls if c.method == name and (predicate is None or predicate(c))
            ]
            if len(matching) >= count:
                return matching
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = f"{count} call(s) to {name}"
                if predicate is not None:
                    what += " matching the predicate"
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; {len(matching)} matched.\n"
                    + self.describe_calls(name)
                )
            await self._calls_signal.wait(remaining)

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
    ) -> None:
        """Wait until `condition()` is true: re-checked on every call received, and every 20 ms."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}.\n" + self.describe_calls()
                )
            await self._calls_signal.wait(min(remaining, 0.02))

    def describe_calls(self, method: str | None = None) -> str:
        """A short account of the calls received (for assertion messages)."""
        counts: dict[str, int] = {}
        for c in self.calls:
            counts[c.method] = counts.get(c.method, 0) + 1
        summary = ", ".join(f"{m} ×{n}" for m, n in counts.items()) or "none"
        lines = [f"Calls received so far ({len(self.calls)}): {summary}."]
        if method is not None:
            recent = [c for c in self.calls if c.method == method][-5:]
            if recent:
                lines.append(f"Last calls to {method}:")
                lines.extend(f"  {_short(c.params)}" for c in recent)
        return "\n".join(lines)

    # ------------------------------------------------------------------ injecting updates

    def send_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        username: str | None = "tester",
        language_code: str = "en",
    ) -> int:
        """User `user_id` sends a text message to the bot; returns the update_id."""
        self.meet(user_id, first_name=first_name, username=username, language_code=language_code)
        return self.send_update_message(user_id, text=text)

    def meet(
        self,
        user_id: int,
        *,
        first_name: str = "Test",
        username: str | None = "tester",
        language_code: str = "en",
    ) -> None:
        """Who user `user_id` is in the updates they send from now on (the `from` field)."""
        self._users[user_id] = _User(user_id, first_name, username, language_code)

    def send_update_message(self, user_id: int, **message_fields: Any) -> int:
        """User `user_id` sends a message with these fields (video=..., caption=..., ...).

        The fake fills message_id, date, chat and from (fields given here win); a `text` gets the
        entities Telegram adds (bot_command, url) unless `entities` is given.
        """
        return self.inject_update({"message": self._user_message(user_id, message_fields)})

    def add_user_message(self, user_id: int, **message_fields: Any) -> dict[str, Any]:
        """A message user `user_id` sent earlier (fields as for send_update_message), in the
        chat's history only, with no update for the bot: something to reply to or to copy.
        Returns the Bot API Message."""
        message = self._user_message(user_id, message_fields)
        chat = self._chat(user_id)
        chat.received[message["message_id"]] = message
        chat.next_message_id = message["message_id"] + 1
        return message

    def _user_message(self, user_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        user = self._user(user_id)
        chat = self._chat(user_id)
        message: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "date": int(time.time()),
            "chat": self._chat_dict(user_id),
            "from": user.as_dict(),
        }
        message.update(fields)
        text = message.get("text")
        if isinstance(text, str) and "entities" not in message:
            entities = _auto_entities(text)
            if entities:
                message["entities"] = entities
        return message

    def user_message_ids(self, user_id: int) -> list[int]:
        """The ids of the messages user `user_id` sent, oldest first."""
        return sorted(self._chat(user_id).received)

    def edit_user_message(self, user_id: int, message_id: int, text: str) -> int:
        """User `user_id` edits their message `message_id` to `text` (an `edited_message`
        update, as Telegram sends one); returns the update_id."""
        original = self._chat(user_id).received.get(message_id)
        if original is None:
            raise AssertionError(f"user {user_id} sent no message {message_id}")
        edited = {k: v for k, v in original.items() if k != "entities"}
        edited |= {"text": text, "edit_date": int(time.time())}
        entities = _auto_entities(text)
        if entities:
            edited["entities"] = entities
        self._chat(user_id).received[message_id] = edited
        return self.inject_update({"edited_message": edited})

    def press_button(self, user_id: int, message_id: int, data: str) -> str:
        """User `user_id` presses a button with `data` on a bot message; returns the query id."""
        sent = self._chat(user_id).sent.get(message_id)
        if sent is None or sent.deleted:
            state = "was deleted" if sent is not None else "was never sent by the bot"
            raise AssertionError(f"message {message_id} in chat {user_id} {state}")
        query_id = f"{user_id}{self._next_callback:06d}"
        self._next_callback += 1
        self.inject_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id).as_dict(),
                    "message": self._message_dict(sent),
                    "chat_instance": f"-{user_id}0",
                    "data": data,
                }
            }
        )
        return query_id

    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (its update_id is assigned by the fake); returns the update_id."""
        update = dict(update)
        message = update.get("message")
        if isinstance(message, dict):
            chat_id = message.get("chat", {}).get("id")
            message_id = message.get("message_id")
            if isinstance(chat_id, int) and isinstance(message_id, int):
                chat = self._chat(chat_id)
                chat.received[message_id] = message
                chat.next_message_id = max(chat.next_message_id, message_id + 1)
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("id"), str):
            self._callback_queries[query["id"]] = int(query.get("from", {}).get("id", 0))
        return self._enqueue(update)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot (getUpdates offset) or delivered to its webhook."""
        return list(self._pending)

    # ------------------------------------------------------------------ reading chats

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to the chat, in order, as it is now (deleted ones flagged)."""
        chat = self._chats.get(chat_id)
        return [] if chat is None else [chat.sent[k] for k in sorted(chat.sent)]

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        """The bot's message `message_id` in the chat; KeyError if the bot never sent it."""
        chat = self._chats.get(chat_id)
        if chat is None or message_id not in chat.sent:
            raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")
        return chat.sent[message_id]

    def buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str]]:
        """(text, callback_data) of the message's inline keyboard, row by row; [] if none.

        URL buttons give their url in place of callback_data.
        """
        markup = self.message(chat_id, message_id).reply_markup
        if not markup:
            return []
        return [
            (str(b.get("text", "")), str(b.get("callback_data", b.get("url", ""))))
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]

    def callback_answer(self, callback_query_id: str) -> Call | None:
        """The answerCallbackQuery call that answered this query, if any."""
        return self._callback_answers.get(callback_query_id)

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """The commands last set with setMyCommands for that scope and language."""
        return list(self._commands.get(_scope_key(scope, language_code), []))

    def description(self, kind: str = "description", language_code: str = "") -> str | None:
        """The text last set with setMyDescription ("description") or setMyShortDescription
        ("short_description") for that language; None when never set."""
        return self._descriptions.get((kind, language_code))


def _short(params: dict[str, Any], limit: int = 200) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
