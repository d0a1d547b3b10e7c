"""Keeping the log readable when strangers can cause a line at will.

Anyone who can reach the web server can make it log (a request without the secret, a callback to
an unknown URL, a malformed request, a flood that runs the process out of files) as fast as they
can send. FloodFilter lets each kind of line, its logger and message template, through once per
window and adds how many like it were held back, with the same throttle admins' reports use.
"""

from __future__ import annotations

import logging

from bot.logs.report_throttle import ReportThrottle

FLOOD_WINDOW_SECONDS = 60.0


class FloodFilter(logging.Filter):
    """Each kind of line at most `burst` times per `window` seconds (FLOOD_WINDOW_SECONDS).

    A kind is a logger and a message template; with `only`, just the lines whose template starts
    with one of those prefixes are held, and the prefix is their kind (asyncio's lines carry the
    socket in the template itself). The count of those held back goes on the next line's first
    line.
    """

    def __init__(
        self, *, burst: int = 1, window: float | None = None, only: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._only = only
        self._throttles: dict[tuple[str, str], ReportThrottle] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        kind = template
        if self._only:
            kind = next((prefix for prefix in self._only if template.startswith(prefix)), "")
            if not kind:
                return True
        key = (record.name, kind)  # templates are the code's: a bounded set
        throttle = self._throttles.get(key)
        if throttle is None:
            window = FLOOD_WINDOW_SECONDS if self._window is None else self._window
            throttle = self._throttles[key] = ReportThrottle(self._burst, window)
        if not throttle.allow():
            return False
        held = throttle.take_held()
        if held:
            first, newline, rest = template.partition("\n")
            record.msg = f"{first} ({held} more like it not logged){newline}{rest}"
        return True


class FloodFilters:
    """FloodFilters installed on a few loggers while something runs (e.g. the web server)."""

    def __init__(self, filters: dict[str, FloodFilter]) -> None:
        self._filters = filters

    def install(self) -> None:
        for name, flood_filter in self._filters.items():
            logging.getLogger(name).addFilter(flood_filter)

    def remove(self) -> None:
        for name, flood_filter in self._filters.items():
            logging.getLogger(name).removeFilter(flood_filter)
