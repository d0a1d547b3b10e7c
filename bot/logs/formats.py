"""The log's two shapes: readable text (LOG_FORMAT=text, the default) and one JSON object a line
(LOG_FORMAT=json), for log collectors.

A JSON line has `time` (UTC, ISO 8601 with milliseconds), `level`, `logger` and `message`; then
`task_id`, `user_id` and `job_id` when the line is about a task or a user (bot.logs.context);
`exception` (the traceback, as text) when one was logged. Every string is passed through the
Redactor before it is written, as the text lines are.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable
from typing import Any, Literal

from bot.logs.context import FIELDS

Redact = Callable[[str], str]  # a bot.logs.redaction.Redactor

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line, secrets masked."""

    def __init__(self, redact: Redact) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, int | str) and not isinstance(value, bool):
                line[name] = self._redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = self._redact(record.exc_text)
        if record.stack_info:
            line["stack"] = self._redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False)


def formatter(log_format: LogFormat, redact: Redact) -> logging.Formatter:
    """The formatter LOG_FORMAT names."""
    if log_format == "json":
        return JsonFormatter(redact)
    return logging.Formatter(TEXT_FORMAT)
