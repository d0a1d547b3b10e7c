"""DraftService: a link and a prompt become a confirmation card, which Submit turns into a task.

A prompt in another script is put into English by the operator's translator, when there is one
(bot.services.prompts): the card shows the English that Submit sends beside the user's words.

The card also carries the choices the provider offers (bot.domain.capabilities.Capabilities): the
strength of the edit, and a first-frame image. Each change to a card that is showing makes a new
draft (and a new card) or edits the same pending draft; a card becomes a task only by Submit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot import texts
from bot.domain.capabilities import Capabilities
from bot.domain.records import Draft, DraftState, Task
from bot.parsing import parse_text
from bot.services.media import MediaStore
from bot.services.preflight import Preflight, Verdict
from bot.services.prompts import Prompt, PromptReader
from storage.drafts import DraftRepository


class FollowUp(StrEnum):
    """A button under a task's result or failure that starts a new card from it."""

    AGAIN = "again"  # the same video, a new prompt (asked next)
    EDIT_RESULT = "edit_result"  # the result as the video, a new prompt (asked next)
    RETRY = "retry"  # the same request: video, prompt and choices


class ReplyKind(StrEnum):
    PROBLEM = "problem"  # the message cannot be used; nothing was stored
    ASK_PROMPT = "ask_prompt"  # a link was stored; the bot waits for the prompt
    CARD = "card"  # link and prompt are complete: show the confirmation card


@dataclass(frozen=True, slots=True)
class DraftReply:
    kind: ReplyKind
    text: str  # HTML to send
    draft: Draft | None = None
    # An older card (with buttons) was replaced by this draft; `text` says so. The old card is
    # not edited now, which would cost a Bot API call per message: a press on it says it was
    # replaced, and takes its buttons then (handlers/requests.py).
    replaced_card: bool = False


class DraftService:
    def __init__(
        self,
        drafts: DraftRepository,
        *,
        capabilities: Capabilities,
        default_mode: str,
        preflight: Preflight | None,
        media: MediaStore,
        prompts: PromptReader,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._drafts = drafts
        self._prompts = prompts
        self._media = media
        self._preflight = preflight
        self._capabilities = capabilities
        self._default_mode = default_mode if default_mode in capabilities.modes else None
        if capabilities.modes and self._default_mode is None:
            self._default_mode = capabilities.modes[0]
        self._clock = clock

    async def receive_text(self, user_id: int, chat_id: int, text: str) -> DraftReply:
        """Read a text message: a link, a prompt, or both, in either order.

        While a card waits for its first-frame image, a message that is only a link is that
        image; a link with a prompt is a new request, as always.
        """
        parsed = parse_text(text)
        if parsed.link_problem:
            return DraftReply(ReplyKind.PROBLEM, parsed.link_problem)
        if parsed.url is None:
            return await self._prompt_only(user_id, chat_id, parsed.prompt)
        if not parsed.prompt:
            open_draft = await self._awaiting_first_frame(user_id)
            if open_draft is not None:
                return await self._replace(open_draft, first_frame=(parsed.url, None))
        else:
            problem = self._prompts.quick_problem(parsed.prompt)
            if problem:
                return DraftReply(ReplyKind.PROBLEM, problem)
        verdict = await self._preflight.check_link(parsed.url) if self._preflight else Verdict()
        if verdict.problem:
            return DraftReply(ReplyKind.PROBLEM, verdict.problem)
        prompt = await self._prompts.read(user_id, parsed.prompt) if parsed.prompt else Prompt()
        if prompt.problem:  # only a translation can fail here: nothing is stored
            return DraftReply(ReplyKind.PROBLEM, prompt.problem)
        return await self._new_draft(
            user_id,
            chat_id,
            parsed.url,
            prompt,
            self._default_mode,
            None,
            note=verdict.note,
        )

    async def receive_upload(
        self, user_id: int, chat_id: int, video_url: str, media_token: str, caption: str
    ) -> DraftReply:
        """An uploaded (and checked) video; its caption, if any, is the prompt."""
        caption = " ".join(caption.split())
        prompt = await self._prompts.read(user_id, caption) if caption else Prompt()
        reply = await self._new_draft(
            user_id,
            chat_id,
            video_url,
            prompt if prompt.problem is None else Prompt(),
            self._default_mode,
            None,
            media_token=media_token,
        )
        if prompt.problem:
            text = texts.ask_for_prompt(problem=prompt.problem, replaced=reply.replaced_card)
            return DraftReply(ReplyKind.ASK_PROMPT, text, reply.draft, reply.replaced_card)
        return reply

    async def awaits_first_frame(self, user_id: int) -> bool:
        """Whether the user's card waits for its first-frame image (a photo is that image)."""
        return await self._awaiting_first_frame(user_id) is not None

    async def receive_first_frame_upload(
        self, user_id: int, image_url: str, media_token: str
    ) -> DraftReply | None:
        """An image the user sent (checked, and kept in the media store) becomes the first frame
        of the card that waits for one: a new card, as a link does. None when no card waits any
        more (the caller lets the image go)."""
        draft = await self._awaiting_first_frame(user_id)
        if draft is None:
            return None
        return await self._replace(draft, first_frame=(image_url, media_token))

    async def _awaiting_first_frame(self, user_id: int) -> Draft | None:
        draft = await self._drafts.open_for_user(user_id)
        return draft if draft is not None and draft.awaiting_first_frame else None

    async def _prompt_only(self, user_id: int, chat_id: int, text: str) -> DraftReply:
        draft = await self._drafts.open_for_user(user_id)
        if draft is None:
            return DraftReply(ReplyKind.PROBLEM, texts.no_link())
        prompt = await self._prompts.read(user_id, text)
        if prompt.problem:
            return DraftReply(ReplyKind.PROBLEM, prompt.problem)
        if draft.state == DraftState.AWAITING_PROMPT:
            moved = await self._drafts.transition(
                draft.id,
                DraftState.AWAITING_PROMPT,
                DraftState.PENDING,
                self._clock(),
                prompt=prompt.english,
                original_prompt=prompt.original,
            )
            if moved:
                completed = await self._drafts.get(draft.id)
                if completed is not None:
                    return _card(completed, replaced_card=False)
        # A card is showing already: the new text is a new prompt for the same link.
        return await self._replace(draft, prompt=prompt)

    async def _replace(
        self,
        draft: Draft,
        *,
        prompt: Prompt | None = None,
        first_frame: tuple[str, str | None] | None = None,
    ) -> DraftReply:
        """A new card for the same video, keeping the old card's choices unless given anew
        (`first_frame`: the image's URL, and its media token when the user sent the file)."""
        first_frame_url, first_frame_token = first_frame or (
            draft.first_frame_url,
            draft.first_frame_media_token,
        )
        return await self._new_draft(
            draft.user_id,
            draft.chat_id,
            draft.video_url,
            prompt or Prompt(draft.prompt, draft.original_prompt),
            draft.mode,
            first_frame_url,
            media_token=draft.media_token,
            first_frame_media_token=first_frame_token,
        )

    async def _new_draft(
        self,
        user_id: int,
        chat_id: int,
        url: str,
        prompt: Prompt,
        mode: str | None,
        first_frame_url: str | None,
        *,
        media_token: str | None = None,
        first_frame_media_token: str | None = None,
        note: str | None = None,
    ) -> DraftReply:
        """A draft with `prompt.english` (None: ask for the prompt)."""
        draft, retired = await self._drafts.create(
            user_id=user_id,
            chat_id=chat_id,
            video_url=url,
            prompt=prompt.english,
            original_prompt=prompt.original,
            now=self._clock(),
            mode=mode,
            first_frame_url=first_frame_url,
            media_token=media_token,
            first_frame_media_token=first_frame_media_token,
        )
        for old in retired:  # an upload only the retired card had is no longer needed
            for token in set(old.media_tokens) - set(draft.media_tokens):
                await self._media.drop(token)
        replaced_card = any(d.card_message_id is not None for d in retired)
        if prompt.english is None:
            ask = texts.ask_for_prompt(note=note, replaced=replaced_card)
            return DraftReply(ReplyKind.ASK_PROMPT, ask, draft, replaced_card)
        return _card(draft, replaced_card, note)

    async def follow_up(self, task: Task, kind: FollowUp, now: float) -> DraftReply:
        """A new card from one of the user's tasks (nothing is spent before its Submit). The
        uploaded video must still be kept, and a result still kept by the provider."""
        if kind == FollowUp.EDIT_RESULT:
            if not self.result_kept(task, now):
                return DraftReply(ReplyKind.PROBLEM, texts.toast_result_expired())
            return await self._new_draft(
                task.user_id,
                task.chat_id,
                task.result_url or "",
                Prompt(),
                self._default_mode,
                None,
            )
        if task.media_token and not await self._media.reuse(task.media_token):
            return DraftReply(ReplyKind.PROBLEM, texts.toast_video_gone())
        if task.media_token is None and self._preflight is not None:
            verdict = await self._preflight.check_link(task.video_url)  # still there?
            if verdict.problem:
                return DraftReply(ReplyKind.PROBLEM, verdict.problem)
        retry = kind == FollowUp.RETRY
        # Try again keeps the first frame, if it is still there (an image sent as a file is
        # kept only a while after its task); a new prompt starts without one.
        first_frame, frame_token = None, None
        if retry and task.first_frame_url and self._capabilities.supports_first_frame:
            frame_token = task.first_frame_media_token
            if frame_token is None or await self._media.reuse(frame_token):
                first_frame = task.first_frame_url
            else:
                frame_token = None
        return await self._new_draft(
            task.user_id,
            task.chat_id,
            task.video_url,
            Prompt(task.prompt) if retry else Prompt(),
            task.mode if task.mode in self._capabilities.modes else self._default_mode,
            first_frame,
            media_token=task.media_token,
            first_frame_media_token=frame_token,
        )

    def result_kept(self, task: Task, now: float) -> bool:
        """Whether the provider still keeps the task's result (for "Edit this result")."""
        finished = task.delivered_at or task.finished_at
        if not task.result_url or finished is None:
            return False
        if task.result_url.startswith("file:") and not self._capabilities.reads_local_files:
            return False
        return now < finished + self._capabilities.result_retention_hours * 3600

    async def card_shown(
        self, draft_id: int, message_id: int, source_message_id: int | None = None
    ) -> None:
        """The card is message `message_id`, answering the user's `source_message_id`."""
        await self._drafts.set_card(draft_id, message_id, source_message_id)

    async def receive_edit(
        self, user_id: int, chat_id: int, message_id: int, text: str
    ) -> tuple[DraftReply, int] | None:
        """The user edited the message their showing card answered: read it anew, as a new
        message would be. The reply, and the old card's message (to show the new card in);
        None when the edit is of any other message (it changes nothing)."""
        draft = await self._drafts.open_for_user(user_id)
        if (
            draft is None
            or draft.state != DraftState.PENDING
            or draft.card_message_id is None
            or draft.source_message_id != message_id
        ):
            return None
        reply = await self.receive_text(user_id, chat_id, text)
        if reply.kind == ReplyKind.CARD and reply.draft is not None and reply.draft.id != draft.id:
            # The new card takes over the old one's message: a late press of the old buttons
            # must not retire it as "replaced".
            await self._drafts.forget_card(draft.id)
        return reply, draft.card_message_id

    async def is_replaced_card(self, user_id: int, draft_id: int, message_id: int) -> bool:
        """Whether the message is the card of the user's draft that a newer one replaced."""
        draft = await self._drafts.get(draft_id)
        return (
            draft is not None
            and draft.user_id == user_id
            and draft.card_message_id == message_id
            and draft.state == DraftState.REPLACED
        )

    async def cancel(self, user_id: int, draft_id: int) -> bool:
        """Cancel the user's pending card; False when it is not open any more."""
        draft = await self._drafts.get(draft_id)
        if draft is None or draft.user_id != user_id:
            return False
        cancelled = await self._drafts.transition(
            draft_id, DraftState.PENDING, DraftState.CANCELLED, self._clock()
        )
        if cancelled:
            for token in draft.media_tokens:
                await self._media.drop(token)
        return cancelled

    async def set_mode(self, user_id: int, draft_id: int, mode: str) -> Draft | None:
        """Choose the strength of the edit on a pending card; None when that is not possible."""
        if mode not in self._capabilities.modes:
            return None
        return await self._update(user_id, draft_id, mode=mode)

    async def first_frame_button(self, user_id: int, draft_id: int) -> Draft | None:
        """Remove the card's first frame if it has one, else wait for the image link."""
        if not self._capabilities.supports_first_frame:
            return None
        draft = await self._drafts.get(draft_id)
        if draft is None or draft.user_id != user_id:
            return None
        if draft.first_frame_url:
            removed = await self._update(
                user_id,
                draft_id,
                first_frame_url=None,
                first_frame_media_token=None,
                awaiting_first_frame=False,
            )
            if removed is not None:  # an image the user sent is no longer needed
                await self._media.drop(draft.first_frame_media_token)
            return removed
        return await self._update(user_id, draft_id, awaiting_first_frame=True)

    async def _update(self, user_id: int, draft_id: int, **fields: object) -> Draft | None:
        if not await self._drafts.update_pending(draft_id, user_id, self._clock(), **fields):
            return None
        return await self._drafts.get(draft_id)


def card_text(draft: Draft, *, note: str | None = None, replaced: bool = False) -> str:
    video = texts.uploaded_video() if draft.media_token else draft.video_url
    first_frame = texts.uploaded_image() if draft.first_frame_media_token else draft.first_frame_url
    return texts.confirmation_card(
        video,
        draft.prompt or "",
        draft.mode,
        first_frame,
        original_prompt=draft.original_prompt,
        note=note,
        replaced=replaced,
    )


def _card(draft: Draft, replaced_card: bool, note: str | None = None) -> DraftReply:
    text = card_text(draft, note=note, replaced=replaced_card)
    return DraftReply(ReplyKind.CARD, text, draft, replaced_card)
