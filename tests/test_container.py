"""The Docker image's way of running the bot, without a Docker daemon.

The Dockerfile is read (ENV, WORKDIR, USER, VOLUME, COPY, CMD) and its layout built in a temporary
folder: the copied sources in a read-only app folder, an empty volume folder owned by the image's
user, the image's environment with an `--env-file` made from `.env.example` on top (as
`docker run --env-file` puts it). The bot then runs as the image's user when the tests run as root
(as in CI), in the volume folder, against the fake Telegram and KIE servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.kie import TEST_KIE_KEY, FakeKie
from tests.fakes.telegram import TEST_BOT_TOKEN, FakeTelegram
from tests.helpers import Chat
from tests.test_process import wait_exit

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Image:
    """What the Dockerfile says about how the bot runs."""

    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    volumes: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # sources COPY'd into the image
    cmd: list[str] = field(default_factory=list)


def read_dockerfile(path: Path) -> Image:
    image = Image()
    for line in _instructions(path.read_text()):
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ENV":
            image.env.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
        elif word == "WORKDIR":
            image.workdir = rest.strip()
        elif word == "USER":
            image.user = rest.strip()
        elif word == "VOLUME":
            image.volumes += json.loads(rest)
        elif word == "COPY":
            image.copied += rest.split()[:-1]
        elif word == "CMD":
            image.cmd = json.loads(rest)
    return image


def _instructions(text: str) -> Iterator[str]:
    """Dockerfile lines with their continuations joined, comments and blank lines left out."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""


def read_env_file(path: Path) -> dict[str, str]:
    """`docker run --env-file`: KEY=VALUE lines taken as they are; # lines and blanks skipped."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def test_the_image_runs_as_a_numeric_non_root_user_in_its_volume() -> None:
    image = read_dockerfile(ROOT / "Dockerfile")
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", image.user), image.user  # hadolint DL3066
    assert image.volumes == ["/data"]
    assert image.workdir == "/data"  # so that a relative DATABASE_PATH lands on the volume
    assert image.env["DATABASE_PATH"].startswith("/data/")
    assert image.cmd == ["python", "-m", "bot"]


def test_the_dockerfile_header_shows_the_readme_docker_run() -> None:
    header = " ".join(
        line.lstrip("# ").rstrip("\\").strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("#")
    )
    readme = (ROOT / "README.md").read_text()
    start = readme.index("docker run -d")
    readme_run = " ".join(part.rstrip("\\").strip() for part in readme[start:].split("\n", 2)[:2])
    assert " ".join(readme_run.split()) in " ".join(header.split())


@dataclass
class Layout:
    root: Path
    app: Path
    volume: Path
    uid: int | None  # whom the bot runs as (None: this process's user, when not root)
    gid: int | None


@pytest.fixture
def layout() -> Iterator[Layout]:
    image = read_dockerfile(ROOT / "Dockerfile")
    root = Path(tempfile.mkdtemp(prefix="container-"))
    root.chmod(0o755)  # the image's user must reach the folders inside
    app, volume = root / "app", root / "data"
    app.mkdir()
    for source in image.copied:
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, app / source)
        elif (ROOT / source).is_file():
            shutil.copy(ROOT / source, app / source)
    _make_read_only(app)
    volume.mkdir()
    uid = gid = None
    if os.geteuid() == 0:
        uid, gid = (int(part) for part in image.user.split(":"))
        os.chown(volume, uid, gid)
    try:
        yield Layout(root, app, volume, uid, gid)
    finally:
        for path in [app, *app.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def _make_read_only(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize(
    "env_file_extra",
    [
        {},  # .env made from .env.example, as the Quick start says
        {"DATABASE_PATH": "data/bot.sqlite3"},  # what .env.example used to set
    ],
    ids=["env-example", "relative-database-path"],
)
async def test_the_bot_runs_as_the_image_runs_it(
    layout: Layout,
    telegram: FakeTelegram,
    kie: FakeKie,
    env_file_extra: dict[str, str],
) -> None:
    image = read_dockerfile(ROOT / "Dockerfile")

    def in_layout(value: str) -> str:  # the image's /data and /app, here
        for inside, here in (("/data", layout.volume), ("/app", layout.app)):
            if value == inside or value.startswith(inside + "/"):
                return str(here) + value[len(inside) :]
        return value

    env_file = read_env_file(ROOT / ".env.example") | {
        # What an operator fills in, and where the fakes are.
        "TELEGRAM_BOT_TOKEN": TEST_BOT_TOKEN,
        "PROVIDER_API_KEY": TEST_KIE_KEY,
        "TELEGRAM_API_URL": telegram.url,
        "PROVIDER_BASE_URL": kie.url,
        "ALLOW_LOOPBACK_URLS": "true",
        "POLL_INTERVAL_SECONDS": "0.05",
        "PREFLIGHT_CHECKS": "false",
        **env_file_extra,
    }
    env = (
        {"PATH": os.environ["PATH"], "HOME": str(layout.volume), "PYTHONPATH": str(layout.app)}
        | {name: in_layout(value) for name, value in image.env.items()}
        | env_file
    )
    app_before = _listing(layout.app)
    command = [sys.executable if image.cmd[0] == "python" else image.cmd[0], *image.cmd[1:]]
    log_path = layout.root / "bot.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=in_layout(image.workdir),
            env=env,
            stdout=log,
            stderr=log,
            user=layout.uid,
            group=layout.gid,
        )
        try:
            chat = Chat(telegram)
            await chat.say("/start", timeout=30)
            await chat.press(await chat.card(), "Submit")
            (task,) = await kie.wait_for_task()
            kie.complete(task.task_id)
            await chat.wait_for_text("Done", timeout=30)
            assert len(chat.videos()) == 1
            process.send_signal(signal.SIGTERM)
            assert await wait_exit(process) == 0
        finally:
            if process.poll() is None:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
    output = log_path.read_text()
    assert "Permission denied" not in output
    assert "Bot stopped" in output
    databases = list(layout.volume.rglob("bot.sqlite3"))
    assert len(databases) == 1, output
    if layout.uid is not None:
        assert databases[0].stat().st_uid == layout.uid
    assert _listing(layout.app) == app_before  # nothing written beside the code
