"""The pacing of sends to Telegram (bot.net.pacing.SendPacer) and the sends' limiter around it
(bot.sends.SharedSends): the schedule kept when sends come late, never more than the window's
count arriving in any window, first come first served, and best-effort sends skipped when busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

from bot.net.pacing import SendPacer
from bot.sends import SendSkippedError, SharedSends


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def turn_now(pacer: SendPacer) -> bool:
    """Whether `turn` gives a turn at once (the send then made, instantly); it is not waited
    for (the clock is the spec's)."""
    try:
        async with asyncio.timeout(0), pacer.turn():
            return True
    except TimeoutError:
        return False


async def taken_within(pacer: SendPacer, clock: Clock, seconds: float, every: float) -> int:
    """Turns given at once when asked every `every` s for `seconds` (each send instant)."""
    taken = 0
    while clock.now < seconds:
        taken += await turn_now(pacer)
        clock.now += every
    return taken


async def test_the_schedule_is_kept_when_every_send_comes_late() -> None:
    # 100 a second, up to 0.1 s ahead after a quiet spell: in 1 s, the first 11 at once and
    # then one every 10 ms, 111 in all, whether asked every millisecond or every 3 ms (each
    # turn up to 3 ms late). A leaky bucket spacing each send from the previous one's start
    # would give 1 s / 12 ms = 83 when asked every 3 ms.
    for every in (0.001, 0.003):
        clock = Clock()
        pacer = SendPacer(100, window_count=1000, catch_up=0.1, clock=clock)
        assert await taken_within(pacer, clock, 1.0, every) in (110, 111, 112)


async def test_after_a_quiet_spell_the_burst_is_bounded() -> None:
    clock = Clock()
    pacer = SendPacer(100, window_count=1000, catch_up=0.05, clock=clock)
    assert await taken_within(pacer, clock, 0.5, 0.01) > 40
    clock.now = 100.0  # a long quiet spell earns no more than catch_up's worth
    burst = 0
    while await turn_now(pacer):
        burst += 1
    assert burst == 6  # 1 + 0.05 s * 100


async def test_no_window_holds_more_than_its_count_of_sends_under_way_or_answered() -> None:
    # Sends that take 0-30 ms, asked for all at once: a request reaches Telegram somewhere
    # between its start and its answer, so every window of 0.2 s must meet at most 5 of the
    # [start, answer] intervals, wherever it lies.
    pacer = SendPacer(1000, window_count=5, window=0.2)
    loop = asyncio.get_running_loop()
    intervals: list[tuple[float, float]] = []
    rng = random.Random(3)

    async def send() -> None:
        async with pacer.turn():
            started = loop.time()
            await asyncio.sleep(rng.uniform(0, 0.03))
            intervals.append((started, loop.time()))

    await asyncio.gather(*(send() for _ in range(40)))
    assert len(intervals) == 40
    points = sorted({t for interval in intervals for t in interval})
    fullest = max(
        sum(1 for start, end in intervals if start <= t + 0.2 and end >= t) for t in points
    )
    assert fullest == 5  # reached, never passed


async def test_waiters_take_their_turns_first_come_first_served() -> None:
    pacer = SendPacer(200, window_count=100, catch_up=0.0)
    order: list[int] = []

    async def send(n: int) -> None:
        async with pacer.turn():
            order.append(n)

    jobs = []
    for n in range(12):
        jobs.append(asyncio.create_task(send(n)))
        await asyncio.sleep(0)  # each asks in turn
    await asyncio.gather(*jobs)
    assert order == list(range(12))


async def test_a_best_effort_send_is_skipped_while_another_waits() -> None:
    pacer = SendPacer(1000, window_count=1, window=0.5)
    release = asyncio.Event()

    async def long_send() -> None:
        async with pacer.turn():
            await release.wait()

    async def waiting_send() -> None:
        async with pacer.turn():
            pass

    first = asyncio.create_task(long_send())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(waiting_send())
    await asyncio.sleep(0.01)
    async with pacer.try_now() as turn:
        assert not turn  # the window is full, and a send waits for it
    release.set()
    await asyncio.gather(first, second)


@pytest.mark.parametrize("bad", [{"rate": 0}, {"window_count": 0}, {"window": 0}])
def test_nonsense_limits_are_refused(bad: dict[str, float]) -> None:
    arguments: dict[str, Any] = {"rate": 10.0, "window_count": 5, "window": 1.0} | bad
    with pytest.raises(ValueError, match="pacing needs"):
        SendPacer(
            arguments["rate"], window_count=arguments["window_count"], window=arguments["window"]
        )


async def test_a_chat_action_never_waits_for_a_turn() -> None:
    """Through the sends' limiter: while a send to a chat is under way and the window is full,
    "sending video…" is skipped at once (SendSkippedError), never made; a message waits."""
    pacer = SendPacer(1000, window_count=1, window=0.2)
    sends = SharedSends(AIORateLimiter(overall_max_rate=0, max_retries=0), pacer)
    made: list[str] = []
    release = asyncio.Event()

    async def slow_call(*_: Any, **__: Any) -> bool:
        made.append("video")
        await release.wait()
        return True

    async def quick_call(*_: Any, **__: Any) -> bool:
        made.append("action")
        return True

    video = asyncio.create_task(
        sends.process_request(slow_call, (), {}, "sendVideo", {"chat_id": 1}, None)
    )
    await asyncio.sleep(0.01)
    with pytest.raises(SendSkippedError):
        await sends.process_request(quick_call, (), {}, "sendChatAction", {"chat_id": 1}, None)
    release.set()
    assert await video is True
    await asyncio.sleep(0.25)  # the window is free again: the action goes
    assert (
        await sends.process_request(quick_call, (), {}, "sendChatAction", {"chat_id": 1}, None)
        is True
    )
    assert made == ["video", "action"]


async def test_a_best_effort_send_never_spends_the_making_up() -> None:
    """While the schedule runs ahead (sends being made up for), "sending video…" gets no turn:
    the turns it would take are the results'."""
    clock = Clock()
    pacer = SendPacer(10, window_count=100, catch_up=1.0, clock=clock)
    async with pacer.try_now() as turn:
        assert turn  # on schedule: a free turn
    async with pacer.try_now() as turn:
        assert not turn  # only ahead of the schedule
    async with pacer.turn():
        pass  # a result may run ahead
    clock.now = 0.2  # on schedule again (two sends, 0.1 s apart)
    async with pacer.try_now() as turn:
        assert turn


async def test_a_429_holds_the_sends_already_waiting_for_a_turn() -> None:
    """AIORateLimiter holds only the sends that have not reached the pacer: the pacer holds
    those waiting in it too, for the retry_after Telegram gave (here they wait because one
    send at a time may be under way)."""
    pacer = SendPacer(1000, window_count=1, window=0.05, catch_up=0.0)
    sends = SharedSends(AIORateLimiter(overall_max_rate=0, max_retries=0), pacer)
    loop = asyncio.get_running_loop()
    started: list[float] = []
    refused_at: list[float] = []

    async def refused(*_: Any, **__: Any) -> bool:
        await asyncio.sleep(0.02)  # the others queue meanwhile
        refused_at.append(loop.time())
        raise RetryAfter(timedelta(seconds=0.3))

    async def fine(*_: Any, **__: Any) -> bool:
        started.append(loop.time())
        return True

    first = asyncio.create_task(
        sends.process_request(refused, (), {}, "sendMessage", {"chat_id": 1}, None)
    )
    await asyncio.sleep(0)
    others = [
        asyncio.create_task(
            sends.process_request(fine, (), {}, "sendMessage", {"chat_id": n}, None)
        )
        for n in range(2, 6)
    ]
    with pytest.raises(RetryAfter):
        await first
    await asyncio.gather(*others)
    assert len(started) == 4
    assert min(started) >= refused_at[0] + 0.3 - 0.01


class BlockedShared:
    """A pacing shared by instances whose waiting turns wait until released; a turn now is
    always free (as when the database's pacing has room)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.taken = 0
        self.holds: list[float] = []

    @contextlib.asynccontextmanager
    async def turn(self, *, wait: bool) -> AsyncIterator[bool]:
        if wait:
            await self.release.wait()
        self.taken += 1
        yield True

    async def hold(self, seconds: float) -> None:
        self.holds.append(seconds)

    async def flush(self) -> None:
        return None


async def test_a_chat_action_does_not_take_the_shared_turn_a_result_waits_for() -> None:
    sends = SharedSends(
        AIORateLimiter(overall_max_rate=0, max_retries=0),
        SendPacer(1000, window_count=100, catch_up=0.0),
    )
    shared = BlockedShared()
    sends.share(shared)

    async def call(*_: Any, **__: Any) -> bool:
        return True

    video = asyncio.create_task(
        sends.process_request(call, (), {}, "sendVideo", {"chat_id": 1}, None)
    )
    await asyncio.sleep(0.01)  # it has the pacer's turn, and waits for the shared one
    with pytest.raises(SendSkippedError):
        await sends.process_request(call, (), {}, "sendChatAction", {"chat_id": 2}, None)
    assert shared.taken == 0
    shared.release.set()
    assert await video is True
    assert shared.taken == 1


async def test_a_429_holds_every_instance_through_the_shared_pacing() -> None:
    sends = SharedSends(
        AIORateLimiter(overall_max_rate=0, max_retries=0),
        SendPacer(1000, window_count=100, catch_up=0.0),
    )
    shared = BlockedShared()
    shared.release.set()
    sends.share(shared)

    async def refused(*_: Any, **__: Any) -> bool:
        raise RetryAfter(timedelta(seconds=3))

    with pytest.raises(RetryAfter):
        await sends.process_request(refused, (), {}, "sendMessage", {"chat_id": 1}, None)
    assert shared.holds == [3.0]
