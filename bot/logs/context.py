"""What a log line is about: the task, its user and its job at the provider, where known.

Work on one task (a tracker round's, a provider callback's) runs inside `about_task`, and every
line logged meanwhile, by any module, carries the task's id, user and job (LOG_FORMAT=json shows
them as fields; Sentry as tags). An update's user is ACTING_FOR (bot.updates sets it), for
the lines of the handlers and of whatever they start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from bot.domain.records import Task
from bot.net.user_threads import ACTING_FOR

TASK_ID: ContextVar[int | None] = ContextVar("log_task_id", default=None)
TASK_USER: ContextVar[int | None] = ContextVar("log_task_user", default=None)
JOB_ID: ContextVar[str | None] = ContextVar("log_job_id", default=None)
# The fields, in the order a JSON line gives them.
FIELDS = ("task_id", "user_id", "job_id")


@contextmanager
def about_task(task: Task | int) -> Iterator[None]:
    """Lines logged inside are about `task` (a Task, or only its id)."""
    if isinstance(task, Task):
        tokens = (
            TASK_ID.set(task.id),
            TASK_USER.set(task.user_id),
            JOB_ID.set(task.provider_task_id),
        )
    else:
        tokens = (TASK_ID.set(task), TASK_USER.set(TASK_USER.get()), JOB_ID.set(JOB_ID.get()))
    try:
        yield
    finally:
        JOB_ID.reset(tokens[2])
        TASK_USER.reset(tokens[1])
        TASK_ID.reset(tokens[0])


def job_known(job_id: str) -> None:
    """The task being worked on has this job at the provider from now on (after a submit)."""
    JOB_ID.set(job_id)


def current() -> dict[str, int | str]:
    """The fields known here: task_id, user_id, job_id (those that are)."""
    user = TASK_USER.get()
    found: dict[str, int | str | None] = {
        "task_id": TASK_ID.get(),
        "user_id": ACTING_FOR.get() if user is None else user,
        "job_id": JOB_ID.get(),
    }
    return {name: value for name, value in found.items() if value is not None}


class ContextFilter(logging.Filter):
    """Puts the fields known where a line is logged on its record (unless the call gave them
    with `extra=`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True
