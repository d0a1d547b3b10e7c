"""Keeping secrets out of logs and admin reports."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TextIO

from bot.logs.context import ContextFilter
from bot.logs.formats import LogFormat, formatter

# Anything shaped like a Telegram bot token, known to us or not.
_TOKEN_SHAPE = re.compile(r"(?<!\d)\d{5,12}:[A-Za-z0-9_-]{20,}")
MASK = "[redacted]"


class Redactor:
    """Replaces known secret values, and anything shaped like a bot token, with a mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask `secret` from now on (for secrets known only at run time)."""
        if len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _TOKEN_SHAPE.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's final message through a Redactor."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(
    level: str, redact: Redactor, log_format: LogFormat = "text", stream: TextIO | None = None
) -> None:
    """Log to stderr (or `stream`), as text or JSON lines (LOG_FORMAT), with secrets masked;
    quiet the HTTP libraries, which log full URLs."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format, redact))
    handler.addFilter(RedactingFilter(redact))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The HTTP libraries log full URLs; aiosqlite logs SQL with its parameters (callback tokens).
    for noisy in ("httpx", "httpcore", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
