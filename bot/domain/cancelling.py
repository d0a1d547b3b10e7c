"""Cancelling background tasks without swallowing the caller's own cancellation.

The usual `task.cancel()` then `with suppress(CancelledError): await task` has a hole: when the
caller is cancelled while it waits there (a stop that lands just as the task ends), the caller's
CancelledError is suppressed with the task's, and the caller goes on as if it had never been
cancelled. A loop that does so runs forever, and whoever cancelled it waits forever (a bot's
stop hung that way when it came right after polling had started).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel `tasks` and wait until each has ended. A cancellation of the caller meanwhile is
    raised, not swallowed. A task that had ended with an error of its own is logged, so that a
    stop goes on with the rest of the shutdown."""
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    # Not gather(): cancelled itself, it would cancel the tasks again, cutting short the
    # clean-up they run once cancelled.
    await asyncio.wait(tasks)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("Background task %s had failed", _name(task), exc_info=error)


def raise_if_cancelling() -> None:
    """Raise CancelledError when the current task was asked to stop and something it awaited
    swallowed that: python-telegram-bot's Updater.stop awaits its polling task under
    suppress(CancelledError), so a stop of the caller landing then would be lost."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
