"""Whether the tracker keeps the checks' times, and the admins told when it cannot.

The tracker checks the longest-due task first, so when there are more checks due than it can
make (a check is a request to the provider and two database statements: one core makes a few
hundred a second, BENCHMARKS.md), every task is checked later than planned, by the same delay,
rather than some never. How late the checks it starts are is the measure: late by more than
`threshold` (POLL_INTERVAL_SECONDS: a task checked at twice its interval or worse) for
`sustain` seconds in a row, the admins are told once, with what to change; and again when the
checks are back on time. Each instance measures its own tracker (each has its own capacity), so
with several instances each may report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot import texts
from bot.domain.delivery import Report

log = logging.getLogger(__name__)

# How long the checks must stay late before the admins hear of it (a burst of results, or a
# restart that finds every task due at once, catches up within it).
BEHIND_FOR_SECONDS = 300.0


class Punctuality:
    def __init__(
        self,
        *,
        threshold: float,
        report: Callable[[Report], Awaitable[None]],
        callbacks: bool = False,
        sustain: float = BEHIND_FOR_SECONDS,
    ) -> None:
        """`threshold`: the check interval in force (POLL_INTERVAL_SECONDS; with `callbacks`,
        SAFETY_POLL_INTERVAL_SECONDS). `report`: sends a report to the admins
        (Outbox.report_to_admins); it runs apart, never holding up the tracker."""
        self._threshold = threshold
        self._callbacks = callbacks
        self._sustain = sustain
        self._report = report
        self._late_since: float | None = None  # since when every check started was late
        self._last_late = 0.0  # when the last late check started
        self._reported = False  # the admins were told of the current spell
        self._worst = 0.0  # the latest check of the spell, seconds
        self._sending: set[asyncio.Task[None]] = set()

    def checks_started(self, lateness: float, at_provider: int, now: float) -> None:
        """The tracker started checks; `lateness`: how late the most overdue was (s)."""
        if lateness <= self._threshold:
            if self._reported:
                log.warning("Status checks are on time again")
                self._send(texts.report_checks_on_time)
            self._late_since, self._reported, self._worst = None, False, 0.0
            return
        if self._late_since is None or now - self._last_late > self._threshold:
            # A first late check, or one after a spell with none: checks were not shown late
            # meanwhile, so this is a new spell (a report already sent stays sent).
            self._late_since, self._worst = now, 0.0
        self._last_late = now
        self._worst = max(self._worst, lateness)
        if self._reported or now - self._late_since < self._sustain:
            return
        self._reported = True
        late, worst, interval, callbacks = lateness, self._worst, self._threshold, self._callbacks
        log.warning(
            "Status checks are %.0f s late (check interval %.0f s, %d tasks at the provider)",
            late,
            interval,
            at_provider,
        )
        self._send(
            lambda: texts.report_checks_behind(late, worst, interval, at_provider, callbacks)
        )

    def _send(self, report: Report) -> None:
        async def send() -> None:
            await self._report(report)

        sending = asyncio.create_task(send())
        self._sending.add(sending)
        sending.add_done_callback(self._sent)

    def _sent(self, sending: asyncio.Task[None]) -> None:
        self._sending.discard(sending)
        if not sending.cancelled() and sending.exception() is not None:
            log.warning("The report on status checks was not sent: %r", sending.exception())
