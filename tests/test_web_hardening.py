"""The web server against clients that misbehave on purpose (issue 11).

Every attack is a raw socket on loopback. Timeouts are short (HEADER_TIMEOUT, BODY_TIMEOUT) and
every wait has a generous MARGIN, for a busy machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.app import BotApp
from tests.fakes.kie import FakeKie
from tests.helpers import Chat
from tests.test_webhook import submitted, webhook_settings

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 1.0
MARGIN = 2.5  # on top of a deadline, before a test calls the connection still open
SECRET = "telegram-webhook-test-secret"

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def hardened_bot(start_bot: Callable[..., Any]) -> BotApp:
    app: BotApp = await start_bot(
        **webhook_settings(
            webhook_secret=SECRET,
            web_header_timeout_seconds=HEADER_TIMEOUT,
            web_body_timeout_seconds=BODY_TIMEOUT,
        )
    )
    return app


def port_of(app: BotApp) -> int:
    return app.settings.web_port


async def connect(port: int) -> Stream:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: its status and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return int(lines[0].split()[1]), await reader.readexactly(length)


@pytest.mark.parametrize("declared", [60_000, 10**10])
async def test_a_callback_to_an_unknown_url_is_refused_before_its_body(
    hardened_bot: BotApp, declared: int
) -> None:
    stream = await connect(port_of(hardened_bot))
    head = (
        "POST /callbacks/kie/no-such-token-0123456789abcdef HTTP/1.1\r\nHost: bot\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    stream[1].write(head.encode())  # and not a byte of the body
    status, _ = await asyncio.wait_for(read_response(stream[0]), 5)
    assert status == 404
    stream[1].close()


@pytest.mark.parametrize("route", ["telegram", "callback"])
async def test_an_aborted_body_is_one_quiet_debug_line(
    hardened_bot: BotApp,
    kie: FakeKie,
    chat: Chat,
    caplog: pytest.LogCaptureFixture,
    route: str,
) -> None:
    if route == "telegram":
        path, extra = "/telegram", f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n"
    else:
        task = await submitted(chat, kie)
        assert task.callback_url is not None
        path, extra = httpx.URL(task.callback_url).path, ""
    caplog.set_level(logging.DEBUG, logger="bot.web")
    caplog.clear()

    _, writer = await connect(port_of(hardened_bot))
    head = f"POST {path} HTTP/1.1\r\nHost: bot\r\n{extra}Content-Length: 5000\r\n\r\n"
    writer.write(head.encode() + b'{"update_id": 1, ')
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is reading the body
    writer.close()

    def logged() -> list[logging.LogRecord]:
        """What was said about it (not, say, DEBUG lines about idle connections closed)."""
        return [
            r
            for r in caplog.records
            if r.levelno >= logging.WARNING or r.getMessage().startswith("A client went away")
        ]

    deadline = time.monotonic() + 5
    while not logged() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [(r.name, r.levelname, r.exc_info) for r in logged()] == [("bot.web", "DEBUG", None)]
