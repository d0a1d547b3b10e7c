"""Signs of life: Telegram's "sending video…" or "typing…" under the chat's name while the bot
works on something the user waits for. Telegram shows an action for about 5 seconds, so it is
sent again every ACTION_REFRESH_SECONDS until the work is done."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.sends import SendSkippedError

log = logging.getLogger(__name__)

ACTION_REFRESH_SECONDS = 4.5


@contextlib.asynccontextmanager
async def chat_action(
    bot: Bot, chat_id: int, action: ChatAction, *, after: float = 0.0
) -> AsyncIterator[None]:
    """Show `action` in the chat while the block runs, from `after` seconds on (work done
    sooner shows nothing, and costs only a timer: most messages are answered within it). A
    failed action is only logged: it never holds up the work."""
    if after <= 0 and not await _send(bot, chat_id, action):  # at once: before the work's sends
        yield
        return
    shower: list[asyncio.Task[None]] = []

    def start() -> None:
        shower.append(asyncio.create_task(_show(bot, chat_id, action, 0.0)))

    first = after if after > 0 else ACTION_REFRESH_SECONDS
    timer = asyncio.get_running_loop().call_later(first, start)
    try:
        yield
    finally:
        timer.cancel()
        for task in shower:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _show(bot: Bot, chat_id: int, action: ChatAction, first: float) -> None:
    delay = first
    while True:
        await asyncio.sleep(delay)
        if not await _send(bot, chat_id, action):
            return
        delay = ACTION_REFRESH_SECONDS


async def _send(bot: Bot, chat_id: int, action: ChatAction) -> bool:
    """Show the action once; False when Telegram refused it (then it is not tried again). When
    Telegram's limit has no turn free at once, it is not shown this time (bot.sends)."""
    try:
        await bot.send_chat_action(chat_id=chat_id, action=action)
    except SendSkippedError:
        return True
    except TelegramError as exc:
        log.info("No %s shown in chat %d: %s", action, chat_id, exc)
        return False
    return True
