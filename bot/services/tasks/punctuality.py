"""Whether the tracker keeps the checks' times, and the admins told when it cannot.

The tracker checks the longest-due task first, so when there are more checks due than it can
make (a check is a request to the provider and two database statements: one core makes a few
hundred a second, BENCHMARKS.md), every task is checked later than planned, by the same delay,
rather than some never. How late the checks it starts are is the measure: late by more than
`threshold` (POLL_INTERVAL_SECONDS: a task checked at twice its interval or worse) for
`sustain` seconds in a row, the admins are told once, with what to change; and again when the
checks are back on time.
"""

from __future__ import annotations

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
        sustain: float = BEHIND_FOR_SECONDS,
    ) -> None:
        """`report`: sends a report to the admins (Outbox.report_to_admins)."""
        self._threshold = threshold
        self._sustain = sustain
        self._report = report
        self._late_since: float | None = None  # since when every check started was late
        self._reported = False  # the admins were told of the current spell
        self._worst = 0.0  # the latest check of the spell, seconds

    async def checks_started(self, lateness: float, at_provider: int, now: float) -> None:
        """The tracker started checks; `lateness`: how late the most overdue was (s)."""
        if lateness <= self._threshold:
            if self._reported:
                log.warning("Status checks are on time again")
                await self._report(texts.report_checks_on_time)
            self._late_since, self._reported, self._worst = None, False, 0.0
            return
        if self._late_since is None:
            self._late_since = now
        self._worst = max(self._worst, lateness)
        if self._reported or now - self._late_since < self._sustain:
            return
        self._reported = True
        late, worst, interval = lateness, self._worst, self._threshold
        log.warning(
            "Status checks are %.0f s late (POLL_INTERVAL_SECONDS %.0f, %d tasks at the provider)",
            late,
            interval,
            at_provider,
        )
        await self._report(lambda: texts.report_checks_behind(late, worst, interval, at_provider))
