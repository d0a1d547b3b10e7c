"""`python -m bot` as a real process against the fakes: the job end to end, kill -9, bad config."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

import pytest

from tests.database import TestDatabase, connect
from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram
from tests.helpers import Chat, bot_environment

BotProcess = Callable[..., subprocess.Popen[bytes]]


def base_environment() -> dict[str, str]:
    """A clean environment: nothing of the developer's own settings leaks in."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


@pytest.fixture
async def bot_process(
    telegram: FakeTelegram, kie: FakeKie, database: TestDatabase, tmp_path: Path
) -> AsyncIterator[BotProcess]:
    """`bot_process()` starts `python -m bot`; every process is killed at the end."""
    started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(**extra: str) -> subprocess.Popen[bytes]:
        env = base_environment() | bot_environment(telegram, kie, database) | extra
        log = (tmp_path / f"bot-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, stdout=log, stderr=log
        )
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        log.close()
    logs = b"".join(p.read_bytes() for p in tmp_path.glob("bot-*.log"))
    assert TEST_BOT_TOKEN.encode() not in logs
    assert TEST_KIE_KEY.encode() not in logs


async def wait_exit(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    for _ in range(int(timeout * 20)):
        code = process.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.05)
    raise AssertionError("the bot process did not exit")


async def test_the_bot_process_does_the_whole_job(
    bot_process: BotProcess, telegram: FakeTelegram, kie: FakeKie, tmp_path: Path
) -> None:
    process = bot_process()
    chat = Chat(telegram)
    await chat.say("/start", timeout=30)
    await chat.press(await chat.card(), "Submit")
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id)
    await telegram.wait_for("sendVideo")
    await chat.wait_for_text("Done")

    process.send_signal(signal.SIGTERM)
    assert await wait_exit(process) == 0
    assert "Bot stopped" in (tmp_path / "bot-0.log").read_text()
    for request in kie.requests:  # nothing the provider saw carries the bot's token
        assert TEST_BOT_TOKEN.encode() not in request.raw
        assert TEST_BOT_TOKEN not in str(request.headers)


async def test_kill_9_while_processing_then_restart_delivers_exactly_once(
    bot_process: BotProcess, telegram: FakeTelegram, kie: FakeKie
) -> None:
    process = bot_process()
    chat = Chat(telegram)
    await chat.say("/help", timeout=30)
    for n in (1, 2):
        await chat.press(await chat.card(f"https://v.example.com/{n}.mp4 make it red"), "Submit")
    tasks = await kie.wait_for_task(count=2)
    await telegram.wait_until(lambda: len(kie.status_requests()) >= 2)  # both being tracked
    process.kill()  # SIGKILL: no chance to clean up
    await wait_exit(process)

    for task in tasks:
        kie.complete(task.task_id)
    bot_process()
    await telegram.wait_for("sendVideo", count=2, timeout=30)
    await chat.wait_for_text("Done")
    await asyncio.sleep(0.5)  # room for a duplicate to show up, if there were one
    captions = [str(c.params["caption"]) for c in telegram.calls_to("sendVideo")]
    assert sorted(c.split(":")[0] for c in captions) == ["Task #1", "Task #2"]
    assert len(kie.generate_requests()) == 2


async def test_webhook_mode_process_delivers_by_callback_and_stops_on_sigterm(
    bot_process: BotProcess,
    telegram: FakeTelegram,
    kie: FakeKie,
    tmp_path: Path,
    database: TestDatabase,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = bot_process(
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
        LOG_LEVEL="DEBUG",  # the most a log can say: still no secret in it
    )
    chat = Chat(telegram)
    await chat.say("/start", timeout=30)
    assert telegram.webhook_url == f"http://127.0.0.1:{port}/telegram"
    await chat.press(await chat.card(), "Submit")
    (task,) = await kie.wait_for_task()
    await chat.wait_until_at_provider()
    kie.complete(task.task_id)
    assert (await kie.send_callback(task.task_id)).status_code == 200
    await chat.wait_for_text("Done")
    assert kie.status_requests() == []

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert await wait_exit(process) == 0
    assert time.monotonic() - started < 10
    log = (tmp_path / "bot-0.log").read_text()
    assert "Bot stopped" in log
    with connect(database) as conn:
        (webhook_secret,) = conn.execute("SELECT value FROM bot_state").fetchone()
        (callback_token,) = conn.execute("SELECT callback_token FROM tasks").fetchone()
    assert webhook_secret not in log
    assert callback_token not in log


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"TELEGRAM_BOT_TOKEN": "999:refused-by-telegram-0123456789abcdef"},
            "Telegram refused TELEGRAM_BOT_TOKEN",
        ),
        ({"DATABASE_PATH": "/proc/no-such-dir/bot.sqlite3"}, "cannot open the database"),
        (
            # Nothing listens on port 1: PostgreSQL is down.
            {"DATABASE_URL": "postgresql://bot:pg-password-123@127.0.0.1:1/bot"},
            "cannot connect to PostgreSQL at postgresql://bot@127.0.0.1:1/bot",
        ),
    ],
)
async def test_a_start_up_problem_is_one_clear_line_without_secrets(
    telegram: FakeTelegram, kie: FakeKie, tmp_path: Path, change: dict[str, str], expected: str
) -> None:
    database = TestDatabase(tmp_path / "db.sqlite3")
    env = base_environment() | bot_environment(telegram, kie, database) | change
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert stdout == b""
    output = stderr.decode()
    assert expected in output
    # Why it stops comes first; "Bot stopped" (the clean-up) after it.
    assert output.index(expected) < output.index("Bot stopped")
    assert "Traceback" not in output
    assert "refused-by-telegram" not in output
    assert "pg-password-123" not in output
    assert TEST_KIE_KEY not in output


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"TELEGRAM_BOT_TOKEN": None}, "TELEGRAM_BOT_TOKEN is required"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN must look like"),
        ({"PROVIDER_API_KEY": None}, "PROVIDER_API_KEY is required"),
        ({"PROVIDER": "midjourney"}, "PROVIDER"),
        ({"POLL_INTERVAL_SECONDS": "often"}, "POLL_INTERVAL_SECONDS"),
        ({"ADMIN_IDS": "alice,bob"}, "ADMIN_IDS must be Telegram user ids"),
        ({"TELEGRAM_API_URL": "not a url"}, "TELEGRAM_API_URL"),
        ({"PUBLIC_URL": "http://bot.example.com"}, "PUBLIC_URL must start with https://"),
        ({"WEBHOOK_SECRET": "has spaces"}, "WEBHOOK_SECRET must be 1 to 256 characters"),
    ],
)
def test_a_bad_setting_stops_the_bot_with_one_clear_line(
    tmp_path: Path, change: dict[str, str | None], expected: str
) -> None:
    env = base_environment() | {
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "PROVIDER_API_KEY": "key",
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
    }
    for name, value in change.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 2
    output = result.stderr.decode().strip()
    assert expected in output
    assert len(output.splitlines()) == 1
    assert "Traceback" not in output
    assert result.stdout == b""


@pytest.mark.engines("sqlite")  # the lock below is SQLite's; the credit path is the same on both
async def test_kill_9_between_a_payment_and_its_storing_then_restart_credits_it_once(
    bot_process: BotProcess, telegram: FakeTelegram, database: TestDatabase
) -> None:
    """The payment's update reaches the bot, which cannot write it (the database is held by
    another writer) and is killed; Telegram does not send it again. The next start finds the
    payment in getStarTransactions and credits it, once."""
    paying = {"PAYMENTS": "stars", "CREDIT_PACKS": "10:50"}
    process = bot_process(**paying)
    chat = Chat(telegram)
    menu = await chat.say("/buy", timeout=30)
    await chat.press(menu, "10 credits")
    await telegram.wait_until(lambda: len(telegram.invoices(chat.user_id)) == 1)
    (invoice,) = telegram.invoices(chat.user_id)

    holder = sqlite3.connect(database.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # readers go on (WAL); the bot's writes wait
    paid = await telegram.pay(chat.user_id, invoice.message_id)
    assert paid.ok  # the pre-checkout only reads
    await asyncio.sleep(1.5)  # the payment's update is in the bot, waiting to write
    process.kill()
    await wait_exit(process)
    holder.execute("ROLLBACK")
    holder.close()
    assert not [m for m in telegram.messages(chat.user_id) if "Thank you" in (m.rendered or "")]

    bot_process(**paying)
    await chat.wait_for_text("Thank you!", timeout=30)
    await chat.settle()
    with connect(database) as conn:
        purchases = conn.execute(
            "SELECT user_id, credits, charge_id FROM ledger WHERE kind = 'purchase'"
        ).fetchall()
        (balance,) = conn.execute(
            "SELECT credits FROM users WHERE id = ?", (chat.user_id,)
        ).fetchone()
    assert [tuple(p) for p in purchases] == [(chat.user_id, 10, paid.charge_id)]
    assert balance == 10
    assert sum("Thank you" in (m.rendered or "") for m in telegram.messages(chat.user_id)) == 1
