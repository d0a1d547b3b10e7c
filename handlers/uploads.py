"""Videos sent as files (a video message, or a video document): downloaded, checked, carded."""

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
    upload = message.video or message.document
    if upload is None:
        return
    mime_type = upload.mime_type
    if message.document is not None and not (mime_type or "").startswith("video/"):
        await message.reply_text(texts.upload_not_a_video_file())
        return
    rt = runtime(context)
    refusal = rt.uploads.refusal(upload.file_size)
    if refusal:
        await message.reply_text(refusal)
        return
    slot = await rt.uploads.reserve(upload.file_size, mime_type, upload.file_name)
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
