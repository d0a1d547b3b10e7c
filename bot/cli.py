"""`python -m bot modify`: one job through the configured provider, without Telegram.

    python -m bot modify <video URL or file> "<prompt>" [--out FILE] [--mode MODE]
                         [--first-frame URL] [--interval SECONDS]

For an operator: to check a new key, or to use the bot's main job offline with the sandbox. It
submits, shows a progress line while it waits, and saves the result. A local file works only
with a provider that runs on this machine (PROVIDER=sandbox): the others need a public URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path
from typing import TextIO

import httpx

from bot import texts
from bot.config import Settings
from bot.domain.failures import Failure
from bot.domain.provider import (
    JobState,
    Provider,
    ProviderError,
    SubmitOutcomeUnknownError,
    SubmitRequest,
)
from bot.net.netguard import GuardedClient
from bot.net.results import Fetched, ResultFetcher
from bot.parsing import parse_text, prompt_problem
from bot.wiring import create_provider

MAX_RESULT_BYTES = 4 * 1024**3
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]+:")  # two letters at least: not C:\


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bot modify",
        description=texts.CLI_DESCRIPTION,
    )
    p.add_argument("video", help=texts.CLI_HELP["video"])
    p.add_argument("prompt", help=texts.CLI_HELP["prompt"])
    p.add_argument("--out", type=Path, help=texts.CLI_HELP["--out"])
    p.add_argument("--mode", help=texts.CLI_HELP["--mode"])
    p.add_argument("--first-frame", help=texts.CLI_HELP["--first-frame"])
    p.add_argument("--interval", type=_interval, default=10.0, help=texts.CLI_HELP["--interval"])
    return p


def _interval(value: str) -> float:
    seconds = float(value)
    if not seconds >= 1:
        raise argparse.ArgumentTypeError(texts.CLI_INTERVAL_TOO_SHORT)
    return seconds


def main(argv: list[str], settings: Settings) -> int:
    args = parser().parse_args(argv)
    return asyncio.run(modify(settings, args, sys.stdout))


async def modify(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    folder = args.out.parent if args.out else Path()
    if not (folder.is_dir() and os.access(folder, os.W_OK)):
        say(out, texts.cli_cannot_save(str(folder.resolve())))
        return 1
    provider = create_provider(settings)
    try:
        request = _request(provider, args, settings.default_mode)
        job_id = await provider.submit(request)
        say(out, texts.cli_submitted(provider.capabilities.display_name, job_id))
        result_url = await _wait(
            provider, job_id, args.interval, settings.task_timeout_seconds, out
        )
        target = args.out or Path(f"result-{job_id[:12]}.mp4")
        await _save(provider, result_url, target, settings.allow_loopback_urls)
        say(out, texts.cli_saved(str(target)))
        return 0
    except _StopError as stop:
        say(out, str(stop))
        return 1
    except ProviderError as exc:
        say(out, texts.cli_refused(exc.failure, exc.message, exc.detail))
        return 1
    except SubmitOutcomeUnknownError as exc:
        say(out, texts.cli_outcome_unknown(str(exc)))
        return 1
    finally:
        await provider.aclose()


class _StopError(Exception):
    """The job cannot go on; the message says why."""


def _request(provider: Provider, args: argparse.Namespace, default_mode: str) -> SubmitRequest:
    capabilities = provider.capabilities
    video = str(args.video)
    if not _URL_SCHEME.match(video):
        path = Path(video)
        if capabilities.local_results is None:
            raise _StopError(texts.cli_needs_public_link(capabilities.display_name))
        if not path.is_file():
            raise _StopError(texts.cli_no_such_file(str(path)))
        video = path.resolve().as_uri()
    else:
        link = parse_text(video)
        if link.url is None:
            raise _StopError(link.link_problem or texts.no_link())
    problem = prompt_problem(args.prompt.strip(), capabilities.max_prompt_chars)
    if problem:
        raise _StopError(problem)
    mode = args.mode or (default_mode if capabilities.modes else None)
    if mode and mode not in capabilities.modes:
        raise _StopError(texts.cli_modes_offered(capabilities.display_name, capabilities.modes))
    if args.first_frame and not capabilities.supports_first_frame:
        raise _StopError(texts.cli_no_first_frame(capabilities.display_name))
    return SubmitRequest(
        video_url=video, prompt=args.prompt.strip(), mode=mode, first_frame_url=args.first_frame
    )


async def _wait(
    provider: Provider, job_id: str, interval: float, give_up_after: float, out: TextIO
) -> str:
    started = time.monotonic()
    while True:
        try:
            status = await provider.status(job_id)
        except ProviderError as exc:
            if not exc.retryable:
                raise
            status = None
        elapsed = time.monotonic() - started
        if status is not None and status.state == JobState.SUCCEEDED and status.result_url:
            progress(out, texts.cli_done_after(elapsed))
            return status.result_url
        if status is not None and status.state == JobState.FAILED:
            failure = status.failure or Failure.GENERATION_FAILED
            progress(out, "")
            raise _StopError(texts.cli_job_failed(failure, status.error_message))
        if elapsed > give_up_after:
            progress(out, "")
            raise _StopError(texts.cli_gave_up(elapsed))
        progress(out, texts.cli_processing(elapsed), end="")
        await asyncio.sleep(interval)


async def _save(provider: Provider, url: str, target: Path, allow_loopback: bool) -> None:
    guarded = GuardedClient(
        timeout=httpx.Timeout(120.0, connect=15.0), allow_loopback=allow_loopback
    )
    try:
        fetcher = ResultFetcher(guarded, provider.capabilities.local_results)
        download = await fetcher.fetch(url, target, MAX_RESULT_BYTES)
    finally:
        await guarded.aclose()
    if download.outcome != Fetched.OK:
        raise _StopError(texts.cli_not_downloaded(url))


def say(out: TextIO, line: str) -> None:
    print(line, file=out, flush=True)


def progress(out: TextIO, line: str, end: str = "\n") -> None:
    """On a terminal, rewrite the current line; elsewhere (a log file), print plain lines."""
    if out.isatty():
        print(f"\r{line}\033[K", file=out, end=end, flush=True)
    elif line:
        print(line, file=out, flush=True)
