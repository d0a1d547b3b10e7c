"""UploadService: a video sent as a file becomes a draft, like a link does; an image sent while
a card waits for its first frame becomes that first frame, like a link to it does.

The handler downloads the file from Telegram into a slot this service reserves; the service
checks it, keeps it in the media store, and hands the draft service a URL the provider can
fetch: {PUBLIC_URL}/media/<token> in webhook mode (for every provider); without a public address,
the URL of the file host it is uploaded to (KIE's File Upload API); for a provider that runs on
this machine, the file itself. The Telegram file URL (it holds the bot token) is never passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx

from bot import texts
from bot.domain.capabilities import Capabilities
from bot.domain.file_host import FileHost, FileHostError
from bot.domain.metrics import NO_METRICS, Metrics
from bot.net.downloads import TooBigError, copy_file, save_body
from bot.services.drafts import DraftReply, DraftService, ReplyKind
from bot.services.media import IMAGE_EXTENSIONS, MediaStore, Slot
from bot.services.preflight import Preflight
from bot.urls import media_url

log = logging.getLogger(__name__)

# The whole download from Telegram's file server: 20 MB (2 GB from a local Bot API server, on
# the same machine or network) takes far less on any working link.
DOWNLOAD_DEADLINE_SECONDS = 300.0
# An image's type, told by its first bytes (its name and its declared type are the user's word).
_IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def image_type(head: bytes) -> str | None:
    """The type of the image whose file begins with `head` (12 bytes are enough): JPEG, PNG or
    WebP, the types a first frame may be; None for anything else."""
    for signature, mime_type in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return mime_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


class UploadService:
    def __init__(
        self,
        *,
        media: MediaStore,
        preflight: Preflight,
        drafts: DraftService,
        capabilities: Capabilities,
        public_url: str,
        download_limit_bytes: int,
        telegram_files: httpx.AsyncClient,
        file_host: FileHost | None = None,
        local_files: bool = False,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """`local_files`: Telegram is a local Bot API server (--local) on this machine, whose
        getFile gives a path on its disk."""
        self._local_files = local_files
        self._metrics = metrics  # counts the files users send, by what became of them
        self._telegram_files = telegram_files
        self._file_host = file_host
        self._media = media
        self._preflight = preflight
        self._drafts = drafts
        self._capabilities = capabilities
        self._public_url = public_url
        self._download_limit = download_limit_bytes

    @property
    def _takes_files(self) -> bool:
        """Whether the provider can be given a file at all: by the bot's public address, the
        file host, or on this machine."""
        return bool(self._public_url or self._capabilities.reads_local_files or self._file_host)

    @property
    def _image_limit(self) -> int:
        return min(self._capabilities.max_image_mb * 1048576, self._download_limit)

    def refusal(self, size: int | None) -> str | None:
        """Why this upload cannot be taken, said before anything is downloaded."""
        if not self._takes_files:
            return texts.uploads_need_webhook()
        if size is not None and size > self._download_limit:
            return texts.upload_too_big_for_telegram(
                size / 1048576, self._download_limit // 1048576
            )
        if size is not None and size > self._capabilities.max_size_mb * 1048576:
            return texts.video_too_big(size / 1048576, self._capabilities.max_size_mb)
        return None

    async def reserve(
        self, size: int | None, mime_type: str | None, file_name: str | None
    ) -> Slot | None:
        return await self._media.reserve(size or self._download_limit, mime_type, file_name)

    def image_refusal(self, size: int | None, mime_type: str | None) -> str | None:
        """Why this first-frame image cannot be taken, said before anything is downloaded."""
        if mime_type not in IMAGE_EXTENSIONS:
            return texts.first_frame_not_an_image()
        if not self._takes_files:
            return texts.first_frame_files_not_taken()
        if size is not None and size > self._image_limit:
            return texts.first_frame_too_big(size / 1048576, self._image_limit // 1048576)
        return None

    async def reserve_image(self, size: int | None, mime_type: str) -> Slot | None:
        """Room for a first-frame image: no more than the image limit is downloaded."""
        return await self._media.reserve(size or self._image_limit, mime_type, None)

    def discard(self, slot: Slot) -> None:
        self._media.discard(slot)

    @contextlib.contextmanager
    def held(self, slot: Slot) -> Iterator[None]:
        """While the upload is fetched and checked: whatever goes wrong frees its room (a room
        left reserved counts against MEDIA_MAX_TOTAL_MB until the bot restarts)."""
        try:
            yield
        except BaseException:
            self.discard(slot)  # twice is harmless
            raise

    async def download(self, slot: Slot, file_url: str, user_id: int) -> str | None:
        """Stream the upload from Telegram's file server into its slot, no more bytes than were
        reserved (the size Telegram declared is not trusted). None when it is there; else the
        sentence for the user (the caller discards the slot). `file_url` holds the bot's token:
        it is never logged, shown or passed on."""
        if self._local_files and Path(file_url).is_absolute():
            return await self._copy_local(slot, Path(file_url), user_id)
        reason: str | None = None
        try:
            async with (
                asyncio.timeout(DOWNLOAD_DEADLINE_SECONDS),
                self._telegram_files.stream("GET", file_url) as response,
            ):
                if response.is_success:
                    await save_body(response, slot.path, slot.size)
                    return None
                why, reason = f"HTTP {response.status_code}", texts.upload_reason_refused()
        except TooBigError:
            why, reason = "larger than declared", texts.upload_reason_larger()
        except TimeoutError:
            why, reason = "too slow", texts.upload_reason_slow()
        except (httpx.HTTPError, OSError) as exc:  # the name only: a message may hold the URL
            why, reason = type(exc).__name__, texts.upload_reason_network()
        log.warning("Downloading an upload from user %d failed: %s", user_id, why)
        self._metrics.upload("file", "failed")
        return texts.upload_failed(reason)

    async def _copy_local(self, slot: Slot, source: Path, user_id: int) -> str | None:
        """Copy the upload from the local Bot API server's disk (its path holds the token: not
        logged)."""
        try:
            await copy_file(source, slot.path, slot.size)
        except TooBigError:
            why, reason = "larger than declared", texts.upload_reason_larger()
        except OSError as exc:
            why, reason = type(exc).__name__, texts.upload_reason_refused()
        else:
            return None
        log.warning("Copying an upload of user %d from the Bot API server failed: %s", user_id, why)
        self._metrics.upload("file", "failed")
        return texts.upload_failed(reason)

    async def _provider_url(self, slot: Slot, user_id: int, mime_type: str | None) -> str | None:
        """Where the provider fetches the upload from; None when the file host refused it."""
        if self._public_url:
            return media_url(self._public_url, slot.token)
        if self._capabilities.reads_local_files or self._file_host is None:
            return slot.path.resolve().as_uri()  # the sandbox, on this machine (see refusal)
        try:
            return await self._file_host.put(slot.path, slot.path.name, mime_type)
        except FileHostError as exc:
            log.warning("Hosting an upload of user %d failed: %s", user_id, exc)
            return None

    async def accept(
        self,
        *,
        user_id: int,
        chat_id: int,
        slot: Slot,
        size: int,
        mime_type: str | None,
        caption: str | None,
    ) -> DraftReply:
        """Check the downloaded file; keep it and make a draft of it, or say what is wrong."""
        verdict = await self._preflight.check_file(slot.path, size, mime_type)
        if verdict.problem:
            self._media.discard(slot)
            self._metrics.upload("video", "refused")
            return DraftReply(ReplyKind.PROBLEM, verdict.problem)
        video_url = await self._provider_url(slot, user_id, mime_type)
        if video_url is None:
            self._media.discard(slot)
            self._metrics.upload("video", "failed")
            return DraftReply(ReplyKind.PROBLEM, texts.upload_not_hosted())
        await self._media.keep(slot, user_id, size)
        self._metrics.upload("video", "kept")
        return await self._drafts.receive_upload(
            user_id, chat_id, video_url, slot.token, caption or ""
        )

    async def accept_first_frame(self, *, user_id: int, slot: Slot) -> DraftReply:
        """Check the downloaded image; keep it and make it the first frame of the card that
        waits for one, or say what is wrong (nothing is kept then)."""
        with slot.path.open("rb") as file:
            mime_type = image_type(file.read(12))
        if mime_type is None:
            self._media.discard(slot)
            self._metrics.upload("image", "refused")
            return DraftReply(ReplyKind.PROBLEM, texts.first_frame_not_an_image())
        slot = self._media.retype(slot, mime_type)  # its name says what its first bytes do
        with self.held(slot):
            image_url = await self._provider_url(slot, user_id, mime_type)
            if image_url is None:
                self._media.discard(slot)
                self._metrics.upload("image", "failed")
                return DraftReply(ReplyKind.PROBLEM, texts.first_frame_not_hosted())
            await self._media.keep(slot, user_id, slot.path.stat().st_size)
            self._metrics.upload("image", "kept")
        reply = await self._drafts.receive_first_frame_upload(user_id, image_url, slot.token)
        if reply is None:  # the card was cancelled or replaced meanwhile: the image is not needed
            await self._media.drop(slot.token)
            return DraftReply(ReplyKind.PROBLEM, texts.unsupported_message())
        return reply
