"""cancel_and_wait: background tasks cancelled and waited for, without swallowing the caller's
own cancellation (bot/domain/cancelling.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.cancelling import cancel_and_wait


async def slow_to_end(ended: asyncio.Event) -> None:
    """Runs until cancelled, then takes a moment to end (as a task that cleans up does)."""
    try:
        await asyncio.sleep(3600)
    finally:
        await asyncio.sleep(0.05)
        ended.set()


async def test_every_task_is_cancelled_and_has_ended_when_it_returns() -> None:
    ended = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(slow_to_end(e)) for e in ended]
    await asyncio.sleep(0)
    await cancel_and_wait(*tasks)
    assert all(t.cancelled() for t in tasks)
    assert all(e.is_set() for e in ended)


async def test_the_callers_own_cancellation_while_it_waits_is_raised() -> None:
    """`cancel(); with suppress(CancelledError): await task` would swallow it here, and the
    caller would go on as if it had never been cancelled."""
    ended = asyncio.Event()
    child = asyncio.create_task(slow_to_end(ended))
    went_on = asyncio.Event()

    async def caller() -> None:
        await cancel_and_wait(child)
        went_on.set()

    waiting = asyncio.create_task(caller())
    await asyncio.sleep(0.01)  # the caller now waits for the child's end
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not went_on.is_set()
    await asyncio.wait_for(ended.wait(), timeout=5)  # the child was cancelled all the same


async def test_a_task_that_had_failed_is_logged_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise RuntimeError("lost its way")

    failed = asyncio.create_task(fails(), name="the-failing-one")
    await asyncio.sleep(0)
    await cancel_and_wait(failed)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["Background task the-failing-one had failed"]
    assert errors[0].exc_info is not None


async def test_nothing_to_cancel_is_nothing_to_wait_for() -> None:
    await cancel_and_wait()
