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
from bot.net.netguard import GuardedClient
from bot.net.results import Fetched, ResultFetcher
from bot.parsing import parse_text, prompt_problem
from bot.providers.base import (
    JobState,
    Provider,
    ProviderError,
    SubmitOutcomeUnknownError,
    SubmitRequest,
)
from bot.wiring import create_provider

MAX_RESULT_BYTES = 4 * 1024**3
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]+:")  # two letters at least: not C:\


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bot modify",
        description="Run one Luma Modify job through the configured provider and save the result.",
    )
    p.add_argument("video", help="a public http(s) link to the video, or (sandbox) a file")
    p.add_argument("prompt", help="how the video should change, in English")
    p.add_argument("--out", type=Path, help="where to save the result (default: result-<job>.mp4)")
    p.add_argument("--mode", help="edit strength, e.g. flex_1 (providers that offer it)")
    p.add_argument("--first-frame", help="link to an image that guides the first frame")
    p.add_argument(
        "--interval",
        type=_interval,
        default=10.0,
        help="seconds between status checks, at least 1 (default 10)",
    )
    return p


def _interval(value: str) -> float:
    seconds = float(value)
    if not seconds >= 1:
        raise argparse.ArgumentTypeError("must be at least 1 second")
    return seconds


def main(argv: list[str], settings: Settings) -> int:
    args = parser().parse_args(argv)
    return asyncio.run(modify(settings, args, sys.stdout))


async def modify(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    folder = args.out.parent if args.out else Path()
    if not (folder.is_dir() and os.access(folder, os.W_OK)):
        say(out, f"Cannot save the result in {folder.resolve()}: no such folder, or not writable.")
        return 1
    provider = create_provider(settings)
    try:
        request = _request(provider, args, settings.default_mode)
        job_id = await provider.submit(request)
        say(out, f"Submitted to {provider.capabilities.display_name}: job {job_id}")
        result_url = await _wait(
            provider, job_id, args.interval, settings.task_timeout_seconds, out
        )
        target = args.out or Path(f"result-{job_id[:12]}.mp4")
        await _save(provider, result_url, target, settings.allow_loopback_urls)
        say(out, f"Saved the result to {target}")
        return 0
    except _StopError as stop:
        say(out, str(stop))
        return 1
    except ProviderError as exc:
        say(out, f"{texts.failure_reason(exc.failure, exc.message)} ({exc.detail})")
        return 1
    except SubmitOutcomeUnknownError as exc:
        say(out, f"No answer to the submit, so it may or may not be running: {exc}")
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
            raise _StopError(
                f"{capabilities.display_name} needs a public link to the video; a local file "
                "works only with PROVIDER=sandbox."
            )
        if not path.is_file():
            raise _StopError(f"There is no file {path}.")
        video = path.resolve().as_uri()
    else:
        link = parse_text(video)
        if link.url is None:
            raise _StopError(link.link_problem or texts.NO_LINK)
    problem = prompt_problem(args.prompt.strip(), capabilities.max_prompt_chars)
    if problem:
        raise _StopError(problem)
    mode = args.mode or (default_mode if capabilities.modes else None)
    if mode and mode not in capabilities.modes:
        offered = ", ".join(capabilities.modes) or "none"
        raise _StopError(f"{capabilities.display_name} offers these modes: {offered}.")
    if args.first_frame and not capabilities.supports_first_frame:
        raise _StopError(f"{capabilities.display_name} does not take a first frame.")
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
            progress(out, f"Done after {texts.format_duration(elapsed)}.")
            return status.result_url
        if status is not None and status.state == JobState.FAILED:
            reason = texts.failure_reason(
                status.failure or Failure.GENERATION_FAILED, status.error_message
            )
            progress(out, "")
            raise _StopError(f"The job failed: {reason}")
        if elapsed > give_up_after:
            progress(out, "")
            raise _StopError(
                f"Gave up waiting after {texts.format_duration(elapsed)} (TASK_TIMEOUT_SECONDS)."
            )
        progress(out, f"Processing… {texts.format_duration(elapsed)}", end="")
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
        raise _StopError(f"The result could not be downloaded; it is at {url}")


def say(out: TextIO, line: str) -> None:
    print(line, file=out, flush=True)


def progress(out: TextIO, line: str, end: str = "\n") -> None:
    """On a terminal, rewrite the current line; elsewhere (a log file), print plain lines."""
    if out.isatty():
        print(f"\r{line}\033[K", file=out, end=end, flush=True)
    elif line:
        print(line, file=out, flush=True)
