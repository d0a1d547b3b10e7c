"""Videos sent as files (a video, an animation, a video note, or a video document): downloaded,
checked, carded."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import runtime
from handlers.requests import show_draft_reply

log = logging.getLogger(__name__)


async def video_upload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Take a video file: download it, check it, and show the card (the caption is the prompt)."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    # An animation (a GIF Telegram made an MP4 of) comes with a document copy: the animation.
    upload = message.video or message.animation or message.video_note or message.document
    if upload is None:
        return
    # A video note has no MIME type: Telegram's are always MP4.
    mime_type = getattr(upload, "mime_type", None) or (
        "video/mp4" if message.video_note is not None else None
    )
    file_name = getattr(upload, "file_name", None)
    if upload is message.document and not (mime_type or "").startswith("video/"):
        await message.reply_text(texts.upload_not_a_video_file())
        return
    rt = runtime(context)
    refusal = rt.uploads.refusal(upload.file_size)
    if refusal:
        await message.reply_text(refusal)
        return
    slot = await rt.uploads.reserve(upload.file_size, mime_type, file_name)
    if slot is None:
        await message.reply_text(texts.upload_storage_full())
        return
    with rt.uploads.held(slot):
        try:
            telegram_file = await context.bot.get_file(upload.file_id)
        except TelegramError as exc:  # never log the file's URL: it holds the bot token
            log.warning("Downloading an upload from user %d failed: %s", user.id, exc.message)
            problem: str | None = texts.upload_failed(exc.message)
        else:
            problem = await rt.uploads.download(slot, telegram_file.file_path or "", user.id)
        if problem:
            rt.uploads.discard(slot)
            await message.reply_text(problem)
            return
        reply = await rt.uploads.accept(
            user_id=user.id,
            chat_id=message.chat_id,
            slot=slot,
            size=slot.path.stat().st_size,
            mime_type=mime_type,
            caption=message.caption,
        )
    await show_draft_reply(message, rt, reply)
