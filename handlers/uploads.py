"""Videos sent as files (a video, an animation, a video note, or a video document): downloaded,
checked, carded. Images (a photo, or an image document) sent while a card waits for its first
frame: downloaded the same way, checked, and made that first frame."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.runtime import Runtime, runtime
from bot.services.media import Slot
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
        problem = await _download(context, rt, upload.file_id, slot, user.id)
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


async def first_frame_upload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Take a photo or an image file as the first frame of the card that waits for one."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    rt = runtime(context)
    if not await rt.drafts.awaits_first_frame(user.id):  # what they were answered before
        no_use = texts.unsupported_message() if message.photo else texts.upload_not_a_video_file()
        await message.reply_text(no_use)
        return
    mime_type: str | None
    if message.photo:  # the sizes Telegram made of it: the largest is the photo as sent
        photo = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        file_id, size, mime_type = photo.file_id, photo.file_size, "image/jpeg"
    elif message.document is not None:
        document = message.document
        file_id, size, mime_type = document.file_id, document.file_size, document.mime_type
    else:
        return
    refusal = rt.uploads.image_refusal(size, mime_type)
    if refusal is not None or mime_type is None:  # (no type is no image: a refusal says so)
        await message.reply_text(refusal or texts.first_frame_not_an_image())
        return
    slot = await rt.uploads.reserve_image(size, mime_type)
    if slot is None:
        await message.reply_text(texts.first_frame_storage_full())
        return
    with rt.uploads.held(slot):
        problem = await _download(context, rt, file_id, slot, user.id)
        if problem:
            rt.uploads.discard(slot)
            await message.reply_text(problem)
            return
        reply = await rt.uploads.accept_first_frame(user_id=user.id, slot=slot)
    await show_draft_reply(message, rt, reply)


async def _download(
    context: ContextTypes.DEFAULT_TYPE, rt: Runtime, file_id: str, slot: Slot, user_id: int
) -> str | None:
    """Fetch the user's file from Telegram into its slot: None when it is there, else the
    sentence for the user (the caller discards the slot)."""
    try:
        telegram_file = await context.bot.get_file(file_id)
    except TelegramError as exc:  # never log the file's URL: it holds the bot token
        log.warning("Downloading an upload from user %d failed: %s", user_id, exc.message)
        return texts.upload_failed(exc.message)
    return await rt.uploads.download(slot, telegram_file.file_path or "", user_id)
