"""Updates run side by side across chats, in order within one chat."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from telegram import Chat, Message, Update

from bot.updates import PerChatUpdateProcessor


def update_in(chat_id: int, update_id: int) -> Update:
    chat = Chat(chat_id, "private")
    return Update(update_id, message=Message(update_id, None, chat))  # type: ignore[arg-type]


async def test_a_chat_waiting_its_turn_does_not_hold_up_other_chats() -> None:
    processor = PerChatUpdateProcessor(max_concurrent_updates=2)
    done: list[tuple[str, float]] = []
    start = time.monotonic()

    async def step(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        done.append((name, time.monotonic() - start))

    jobs: list[Any] = [
        processor.process_update(update_in(1, n), step(f"a{n}", 0.3)) for n in range(5)
    ]
    jobs.append(processor.process_update(update_in(2, 99), step("b", 0.0)))
    await asyncio.gather(*jobs)
    order_a = [name for name, _ in done if name.startswith("a")]
    assert order_a == ["a0", "a1", "a2", "a3", "a4"]  # one chat: in order
    b_done = next(at for name, at in done if name == "b")
    assert b_done < 0.2  # the other chat was not stuck behind chat 1's queue
    assert processor._chats == {}  # no lock left behind
