"""The sandbox: a provider that runs on the bot's own machine, offline and free.

It really edits the video (bot.providers.sandbox_edit, with FFmpeg through PyAV): words in the
prompt pick simple edits such as black and white, warm, slow motion. A job is a folder holding
its request, and in the end its result or its error; the work runs in a thread. A job cut off by
a restart has neither, and simply runs again when its status is next asked for. Purpose: a new
operator tries the whole bot without any account, and tests get real videos.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from bot.domain.capabilities import Capabilities
from bot.domain.failures import Failure
from bot.domain.provider import (
    CallbackEvent,
    CallbackRejectedError,
    JobState,
    JobStatus,
    ProviderError,
    SubmitRequest,
)
from bot.net.downloads import CompressedError, TooBigError, save_body
from bot.net.netguard import BlockedLinkError, GuardedClient
from bot.providers.sandbox_edit import EditError, choose_edits, edit_video

log = logging.getLogger(__name__)

MAX_SECONDS = 30
MAX_INPUT_BYTES = 100 * 1024 * 1024
DOWNLOAD_DEADLINE_SECONDS = 120  # the whole input download, however slowly it trickles
KEEP_JOBS_SECONDS = 24 * 3600
SWEEP_EVERY_SECONDS = 3600
_REQUEST = "request.json"
_RESULT = "result.mp4"
_ERROR = "error.txt"


class SandboxProvider:
    name = "sandbox"

    def __init__(
        self, *, work_dir: Path, concurrency: int = 1, allow_loopback: bool = False
    ) -> None:
        self._work_dir = work_dir.resolve()
        self._work_dir.mkdir(parents=True, exist_ok=True)
        self.capabilities = Capabilities(
            display_name="Sandbox (offline, on this machine)",
            max_duration_seconds=MAX_SECONDS,
            max_size_mb=MAX_INPUT_BYTES // (1024 * 1024),
            formats=("mp4", "mov", "avi", "webm"),
            max_prompt_chars=800,
            result_retention_hours=KEEP_JOBS_SECONDS / 3600,
            supports_callbacks=False,
            local_results=self._work_dir,
            offline=True,
            reads_local_files=True,
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[str, asyncio.Task[None]] = {}
        # Users' links: only public addresses (no requests into this machine's network).
        self._links = GuardedClient(
            timeout=httpx.Timeout(60.0, connect=10.0), allow_loopback=allow_loopback
        )
        self._swept_at = 0.0
        self._remove_old_jobs()

    async def aclose(self) -> None:
        for job in self._running.values():
            job.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await self._links.aclose()

    async def wait_for_submit_turn(self) -> None:
        """The sandbox queues its jobs itself: there is no rate to keep."""

    async def give_back_submit_turn(self) -> None:
        """No turn was taken."""

    async def submit(self, request: SubmitRequest) -> str:
        self._remove_old_jobs()
        job_id = uuid.uuid4().hex
        folder = self._work_dir / job_id
        folder.mkdir()
        spec = {"video_url": request.video_url, "prompt": request.prompt}
        (folder / _REQUEST).write_text(json.dumps(spec), encoding="utf-8")
        self._start(job_id)
        return job_id

    async def status(self, job_id: str) -> JobStatus:
        folder = self._folder(job_id)
        if folder is None or not (folder / _REQUEST).exists():
            raise ProviderError(Failure.NOT_FOUND, f"the sandbox has no job {job_id}")
        if (folder / _RESULT).exists():
            return JobStatus(
                JobState.SUCCEEDED, result_url=(folder / _RESULT).as_uri(), detail="sandbox"
            )
        if (folder / _ERROR).exists():
            message = (folder / _ERROR).read_text(encoding="utf-8")
            return JobStatus(
                JobState.FAILED,
                failure=Failure.GENERATION_FAILED,
                error_message=message,
                detail=f"sandbox job {job_id}: {message}",
            )
        self._start(job_id)  # after a restart, the job runs again
        return JobStatus(JobState.RUNNING, detail=f"sandbox job {job_id}")

    def parse_callback(
        self, payload: object, headers: Mapping[str, str], now: float
    ) -> CallbackEvent:
        raise CallbackRejectedError(404, "the sandbox does not call back")

    async def credit_balance(self) -> float | None:
        return None

    def _folder(self, job_id: str) -> Path | None:
        return self._work_dir / job_id if job_id.isalnum() else None

    def _start(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is None or running.done():
            self._running[job_id] = asyncio.create_task(self._run(job_id), name=f"sandbox-{job_id}")

    async def _run(self, job_id: str) -> None:
        folder = self._work_dir / job_id
        source = folder / "input"  # no extension: FFmpeg must not take it for a playlist
        for leftover in folder.glob("*.part"):  # from a run a kill -9 cut off
            leftover.unlink(missing_ok=True)
        try:
            spec = json.loads((folder / _REQUEST).read_text(encoding="utf-8"))
            # The download holds no edit slot: one slow link must not stop everyone's jobs.
            async with asyncio.timeout(DOWNLOAD_DEADLINE_SECONDS):
                await self._fetch_input(str(spec["video_url"]), source)
            edits = choose_edits(str(spec["prompt"]))
            log.info("Sandbox job %s: %s", job_id, ", ".join(e.name for e in edits))
            async with self._slots:
                await asyncio.to_thread(
                    edit_video, source, folder / _RESULT, edits, max_seconds=MAX_SECONDS
                )
        except (EditError, _InputError) as exc:
            (folder / _ERROR).write_text(str(exc), encoding="utf-8")
        except TimeoutError:
            (folder / _ERROR).write_text(_TOO_SLOW, encoding="utf-8")
        except Exception:
            log.exception("Sandbox job %s failed", job_id)
            (folder / _ERROR).write_text(_UNEXPECTED, encoding="utf-8")
        finally:
            source.unlink(missing_ok=True)

    async def _fetch_input(self, url: str, target: Path) -> None:
        """Get the input video: by HTTP, or a local file (the operator's command line)."""
        if url.startswith("file:"):
            path = Path(unquote(urlsplit(url).path))
            try:
                await asyncio.to_thread(shutil.copyfile, path, target)
            except OSError as exc:  # the path is the machine's business: logged, not shown
                log.warning("Sandbox input %s cannot be read: %s", path, exc)
                raise _InputError(
                    "The video file is no longer there (uploads are kept a while only); "
                    "please send it again."
                ) from exc
            return
        try:
            async with self._links.stream("GET", url) as response:
                if not response.is_success:
                    raise _InputError(
                        f"The video link answered HTTP {response.status_code}; "
                        "check that it is public."
                    )
                await save_body(response, target, MAX_INPUT_BYTES)
        except CompressedError as exc:
            raise _InputError("The video link sent it compressed; send a plain video.") from exc
        except TooBigError as exc:
            raise _InputError("The video is larger than 100 MB.") from exc
        except BlockedLinkError as exc:
            raise _InputError(f"The video link {exc.reason.value}.") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _InputError(f"The video could not be downloaded ({type(exc).__name__}).") from exc

    def _remove_old_jobs(self) -> None:
        """Delete job folders older than a day (at most once an hour)."""
        now = time.time()
        if now - self._swept_at < SWEEP_EVERY_SECONDS:
            return
        self._swept_at = now
        cutoff = now - KEEP_JOBS_SECONDS
        for folder in self._work_dir.iterdir():
            with contextlib.suppress(OSError):
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder)


_TOO_SLOW = f"The video took more than {DOWNLOAD_DEADLINE_SECONDS} s to download."
_UNEXPECTED = "The sandbox could not edit this video (an unexpected error; the log has details)."


class _InputError(Exception):
    """The input video cannot be had; the message is a sentence for the user."""
