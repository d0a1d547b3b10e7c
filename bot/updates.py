"""Handling updates concurrently, but one at a time per chat (also across instances that share
a PostgreSQL database).

A user's messages must be handled in order (a link, then its prompt), while one user's slow step
(a preflight, an upload) must not hold up everyone else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.net.user_threads import ACTING_FOR

# python-telegram-bot takes its own slot before handing an update over; its limit is set high, so
# that updates waiting for their chat's turn do not hold the slots other chats need.
_WAITING_UPDATES = 10_000


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(_WAITING_UPDATES)
        # Across instances sharing a database: held while one of a chat's updates is handled.
        self._across_instances: Callable[[int], AbstractAsyncContextManager[None]] = lambda _key: (
            nullcontext()
        )
        # At most this many updates are handled at once, each taking its slot only once it is
        # its chat's turn.
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        # Per chat: its lock, and how many updates hold or wait for it (forgotten at zero).
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if isinstance(update, Update) and update.effective_user is not None:
            ACTING_FOR.set(update.effective_user.id)  # this update's task, and those it starts
        if isinstance(update, Update) and update.pre_checkout_query is not None:
            await coroutine  # Telegram waits 10 s for its answer: it takes no turn
            return
        key = _chat_key(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        lock, users = self._chats.get(key, (asyncio.Lock(), 0))
        self._chats[key] = (lock, users + 1)
        try:
            async with lock, self._slots, self._across_instances(key):
                await coroutine
        finally:
            lock, users = self._chats[key]
            if users == 1:
                del self._chats[key]
            else:
                self._chats[key] = (lock, users - 1)

    def hold_chats_across_instances(
        self, exclusive: Callable[[int], AbstractAsyncContextManager[None]]
    ) -> None:
        """Also hold `exclusive(chat)` while one of the chat's updates is handled, so that
        instances sharing the database handle a chat's updates one at a time."""
        self._across_instances = exclusive

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None
