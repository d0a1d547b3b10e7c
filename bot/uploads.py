"""UploadService: a video sent as a file becomes a draft, like a link does.

The handler downloads the file from Telegram into a slot this service reserves; the service
checks it, keeps it in the media store, and hands the draft service a URL the provider can
fetch: {PUBLIC_URL}/media/<token>, or, for a provider that runs on this machine, the file itself.
The Telegram file URL (it holds the bot token) is never passed on.
"""

from __future__ import annotations

from bot import texts
from bot.drafts import DraftReply, DraftService, ReplyKind
from bot.media import MediaStore, Slot
from bot.preflight import Preflight
from bot.providers.base import Capabilities
from bot.urls import media_url


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
    ) -> None:
        self._media = media
        self._preflight = preflight
        self._drafts = drafts
        self._capabilities = capabilities
        self._public_url = public_url
        self._download_limit = download_limit_bytes

    def refusal(self, size: int | None) -> str | None:
        """Why this upload cannot be taken, said before anything is downloaded."""
        if not (self._public_url or self._capabilities.reads_local_files):
            return texts.UPLOADS_NEED_WEBHOOK
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

    def discard(self, slot: Slot) -> None:
        self._media.discard(slot)

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
            return DraftReply(ReplyKind.PROBLEM, verdict.problem)
        await self._media.keep(slot, user_id, size)
        if self._capabilities.reads_local_files:
            video_url = slot.path.resolve().as_uri()
        else:
            video_url = media_url(self._public_url, slot.token)
        return await self._drafts.receive_upload(
            user_id, chat_id, video_url, slot.token, caption or ""
        )
