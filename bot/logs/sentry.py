"""Unexpected errors to Sentry (SENTRY_DSN; off when unset), with secrets scrubbed.

What goes: every ERROR line and every logged exception (sentry-sdk's logging integration; an
asyncio task's exception nobody retrieved is one too, asyncio logs it), and uncaught exceptions;
INFO lines before one ride along as breadcrumbs. Before an event leaves, `scrubbed` runs the
same Redactor the log uses over every string in it (the message and its arguments, the
exception values, the frames' variables, the breadcrumbs, `extra`, request data), so what the
log never shows Sentry never receives either. No personal data is sent
(sentry-sdk's default); the line's task, user and job go as tags (bot.logs.context).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.excepthook import ExcepthookIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint

from bot.logs import context

Redact = Callable[[str], str]  # a bot.logs.redaction.Redactor


def scrub(value: Any, redact: Redact) -> Any:
    """`value` with every string in it (keys too) passed through `redact`; what is neither a
    string, a number nor a container becomes its masked repr."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {scrub(key, redact): scrub(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item, redact) for item in value]
    return redact(repr(value))


def scrubbed(redact: Redact) -> Callable[[Event, Hint], Event | None]:
    """A before_send hook: the event with its secrets masked and the log context as tags."""

    def before_send(event: Event, hint: Hint) -> Event | None:
        tags = dict(event.get("tags") or {})
        for name, value in context.current().items():
            tags.setdefault(name, str(value))
        if tags:
            event["tags"] = tags
        cleaned: Event = scrub(dict(event), redact)
        return cleaned

    return before_send


def start_sentry(
    dsn: str,
    redact: Redact,
    *,
    transport: type[Transport] | Transport | None = None,
    release: str | None = None,
) -> None:
    """Send unexpected errors to `dsn` (nothing when it is empty); `transport` is for tests."""
    if not dsn:
        return
    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        before_send=scrubbed(redact),
        release=release,
        # Only these: the others patch the HTTP libraries (breadcrumbs of Bot API URLs, trace
        # headers on requests to Telegram and the provider), none of which is needed here.
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            ExcepthookIntegration(),
            DedupeIntegration(),
            AtexitIntegration(),  # what is still queued is sent before the process exits
        ],
        **options,
    )
