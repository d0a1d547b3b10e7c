"""The web server against clients that misbehave on purpose (issue 11).

Every attack is a raw socket on loopback. Timeouts are short (HEADER_TIMEOUT, BODY_TIMEOUT) and
every wait has a generous MARGIN, for a busy machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import bot.logs.log_flood
from bot.app import BotApp
from bot.web import WebServer
from tests.fakes.kie import FakeKie
from tests.helpers import Chat
from tests.test_webhook import free_port, submitted, webhook_settings

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 1.0
SEND_TIMEOUT = 1.0
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


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _large(request: Request) -> Response:
    """An answer of 256 KiB: a few fill the socket's buffers (a few MB on loopback)."""
    return Response(b"x" * 256 * 1024, media_type="application/octet-stream")


@pytest.fixture
async def small_server() -> AsyncIterator[tuple[WebServer, int]]:
    """A WebServer alone (no bot) with room for 5 connections and a 3 s header deadline."""
    port = free_port()
    server = WebServer(
        Starlette(routes=[Route("/healthz", _health), Route("/large", _large)]),
        "127.0.0.1",
        port,
        max_connections=5,
        header_timeout=3.0,
        body_timeout=BODY_TIMEOUT,
        send_timeout=SEND_TIMEOUT,
    )
    await server.start()
    yield server, port
    await server.stop()


def port_of(app: BotApp) -> int:
    return app.settings.web_port


async def connect(port: int) -> Stream:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_within(stream: Stream, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (what it sends is skipped)."""
    reader = stream[0]
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:  # a reset is a close too
        pass
    return True


async def trickle(stream: Stream, data: bytes, every: float = 0.1) -> None:
    """Send `data` a byte at a time, until it ends or the server closes the connection."""
    writer = stream[1]
    with contextlib.suppress(ConnectionError):
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(every)


async def cut_off_within(stream: Stream, data: bytes, seconds: float) -> float | None:
    """Trickle `data`; how long the server took to close the connection, or None if it did not
    within `seconds`."""
    started = time.monotonic()
    sender = asyncio.create_task(trickle(stream, data))
    try:
        if await closed_within(stream, seconds):
            return time.monotonic() - started
        return None
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        stream[1].close()


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


NEVER_ENDING_HEADERS = b"POST /telegram HTTP/1.1\r\nHost: bot\r\n" + b"X-Slow: " + b"a" * 200


async def test_a_client_trickling_its_headers_is_cut_off(hardened_bot: BotApp) -> None:
    stream = await connect(port_of(hardened_bot))
    took = await cut_off_within(stream, NEVER_ENDING_HEADERS, HEADER_TIMEOUT + MARGIN)
    assert took is not None, "the connection was still open"


async def test_a_kept_alive_connection_trickling_its_next_request_is_cut_off(
    hardened_bot: BotApp,
) -> None:
    stream = await connect(port_of(hardened_bot))
    stream[1].write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
    assert (await asyncio.wait_for(read_response(stream[0]), 5))[0] == 200
    # uvicorn's keep-alive timer stops at the first byte of the next request.
    took = await cut_off_within(stream, NEVER_ENDING_HEADERS, HEADER_TIMEOUT + MARGIN)
    assert took is not None, "the connection was still open"


async def test_a_body_trickled_past_its_deadline_is_cut_off_quietly(
    hardened_bot: BotApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.web")
    stream = await connect(port_of(hardened_bot))
    head = (
        "POST /telegram HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Length: 1000\r\n\r\n"
    )
    stream[1].write(head.encode())
    took = await cut_off_within(stream, b"{" + b" " * 999, BODY_TIMEOUT + MARGIN)
    assert took is not None, "the connection was still open"
    assert took > BODY_TIMEOUT * 0.9  # the deadline, not something sooner
    await asyncio.sleep(0.2)  # the handler sees the disconnect
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_connections_past_the_cap_are_closed_at_once(
    small_server: tuple[WebServer, int],
) -> None:
    server, port = small_server
    idle = [await connect(port) for _ in range(5)]
    deadline = time.monotonic() + 5
    while server.connection_count < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert server.connection_count == 5

    extra = await connect(port)
    assert await closed_within(extra, 1.0)
    for stream in idle:  # refused at once: not because the idle ones have been let go
        assert not await closed_within(stream, 0.01)

    # The idle connections are dropped at the header deadline, and the server answers again.
    for stream in idle:
        assert await closed_within(stream, 3.0 + MARGIN)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert response.status_code == 200


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


async def test_out_of_files_errors_from_asyncio_are_logged_once_a_period(
    small_server: tuple[WebServer, int],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.logs.log_flood, "FLOOD_WINDOW_SECONDS", 0.5)
    message = "socket.accept() out of system resource\nsocket: <socket>"
    for _ in range(100):
        logging.getLogger("asyncio").error(message)
    logging.getLogger("asyncio").error("another error")
    await asyncio.sleep(0.6)
    logging.getLogger("asyncio").error(message)
    assert [r.getMessage().splitlines()[0] for r in caplog.records] == [
        "socket.accept() out of system resource",
        "another error",
        "socket.accept() out of system resource (99 more like it not logged)",
    ]


async def test_a_client_that_reads_nothing_of_its_answers_is_dropped(
    small_server: tuple[WebServer, int],
) -> None:
    """Pipelined requests, never read: the answers fill the socket and the server waits to
    write, which no read deadline covers. It drops the client after SEND_TIMEOUT."""
    server, port = small_server
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # answers back up at once
    sock.connect(("127.0.0.1", port))
    _, writer = await asyncio.open_connection(sock=sock)
    # Before it stalls, the server answers requests until the socket's buffers are full: large
    # answers fill them in a few dozen (small ones took tens of thousands, over 16 s on a busy
    # machine). Without the send deadline, the connection would stay open for good.
    writer.write(b"GET /large HTTP/1.1\r\nHost: bot\r\n\r\n" * 1000)
    started = time.monotonic()
    deadline = started + SEND_TIMEOUT + 3.0 + MARGIN + 10.0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if server.connection_count == 0:
            break
    assert server.connection_count == 0
    writer.close()


async def test_strangers_requests_make_one_log_line_a_minute(
    hardened_bot: BotApp, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"http://127.0.0.1:{port_of(hardened_bot)}"
    async with httpx.AsyncClient() as client:
        for n in range(30):
            assert (await client.post(f"{base}/telegram", content=b"{}")).status_code == 403
            unknown = f"{base}/callbacks/{'x' * 900}/{n}"  # a provider name of 900 x
            assert (await client.post(unknown, content=b"{}")).status_code == 404
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if "without the right secret" in w]) == 1
    (unknown_url,) = [w for w in warnings if "unknown URL" in w]
    assert len(unknown_url) < 200  # the stranger's path is not echoed whole
