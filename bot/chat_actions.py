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

from bot.domain.cancelling import cancel_and_wait
from bot.sends import SendSkippedError

log = logging.getLogger(__name__)

ACTION_REFRESH_SECONDS = 4.5
# When Telegram's limit had no turn free for it (bot.sends: sends the user waits for go first),
# the action is tried again this soon.
SKIPPED_RETRY_SECONDS = 1.0


@contextlib.asynccontextmanager
async def chat_action(
    bot: Bot, chat_id: int, action: ChatAction, *, after: float = 0.0
) -> AsyncIterator[None]:
    """Show `action` in the chat while the block runs, from `after` seconds on (work done
    sooner shows nothing, and costs only a timer: most messages are answered within it). A
    failed action is only logged: it never holds up the work."""
    first = after
    if after <= 0:  # at once: before the work's sends
        again_in = await _send(bot, chat_id, action)
        if again_in is None:
            yield
            return
        first = again_in
    shower: list[asyncio.Task[None]] = []

    def start() -> None:
        shower.append(asyncio.create_task(_show(bot, chat_id, action)))

    timer = asyncio.get_running_loop().call_later(first, start)
    try:
        yield
    finally:
        timer.cancel()
        await cancel_and_wait(*shower)


async def _show(bot: Bot, chat_id: int, action: ChatAction) -> None:
    """Show the action, again each time Telegram's display of it runs out, until cancelled."""
    while True:
        again_in = await _send(bot, chat_id, action)
        if again_in is None:
            return
        await asyncio.sleep(again_in)


async def _send(bot: Bot, chat_id: int, action: ChatAction) -> float | None:
    """Show the action once; the seconds until it is shown again, or None when Telegram refused
    it (then it is not tried again). When Telegram's limit has no turn free for it, it is not
    shown this time and tried again sooner (bot.sends)."""
    try:
        await bot.send_chat_action(chat_id=chat_id, action=action)
    except SendSkippedError:
        return SKIPPED_RETRY_SECONDS
    except TelegramError as exc:
        log.info("No %s shown in chat %d: %s", action, chat_id, exc)
        return None
    return ACTION_REFRESH_SECONDS
