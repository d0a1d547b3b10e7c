"""DraftService: a link and a prompt become a confirmation card, which Submit turns into a task."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot import texts
from bot.parsing import parse_text, prompt_problem
from storage.drafts import DraftRepository
from storage.models import Draft, DraftState


class ReplyKind(StrEnum):
    PROBLEM = "problem"  # the message cannot be used; nothing was stored
    ASK_PROMPT = "ask_prompt"  # a link was stored; the bot waits for the prompt
    CARD = "card"  # link and prompt are complete: show the confirmation card


@dataclass(frozen=True, slots=True)
class DraftReply:
    kind: ReplyKind
    text: str  # HTML to send
    draft: Draft | None = None
    retired_cards: tuple[Draft, ...] = ()  # older cards this draft replaced: take their buttons


class DraftService:
    def __init__(
        self,
        drafts: DraftRepository,
        *,
        max_prompt_chars: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._drafts = drafts
        self._max_prompt_chars = max_prompt_chars
        self._clock = clock

    async def receive_text(self, user_id: int, chat_id: int, text: str) -> DraftReply:
        """Read a text message: a link, a prompt, or both, in either order."""
        parsed = parse_text(text)
        if parsed.link_problem:
            return DraftReply(ReplyKind.PROBLEM, parsed.link_problem)
        if parsed.url is None:
            return await self._prompt_only(user_id, chat_id, parsed.prompt)
        if parsed.prompt:
            problem = prompt_problem(parsed.prompt, self._max_prompt_chars)
            if problem:
                return DraftReply(ReplyKind.PROBLEM, problem)
        return await self._new_draft(user_id, chat_id, parsed.url, parsed.prompt or None)

    async def _prompt_only(self, user_id: int, chat_id: int, prompt: str) -> DraftReply:
        draft = await self._drafts.open_for_user(user_id)
        if draft is None:
            return DraftReply(ReplyKind.PROBLEM, texts.NO_LINK)
        problem = prompt_problem(prompt, self._max_prompt_chars)
        if problem:
            return DraftReply(ReplyKind.PROBLEM, problem)
        if draft.state == DraftState.AWAITING_PROMPT:
            moved = await self._drafts.transition(
                draft.id,
                DraftState.AWAITING_PROMPT,
                DraftState.PENDING,
                self._clock(),
                prompt=prompt,
            )
            if moved:
                completed = await self._drafts.get(draft.id)
                if completed is not None:
                    return _card(completed, ())
        # A card is showing already: the new text is a new prompt for the same link.
        return await self._new_draft(user_id, chat_id, draft.video_url, prompt)

    async def _new_draft(
        self, user_id: int, chat_id: int, url: str, prompt: str | None
    ) -> DraftReply:
        draft, retired = await self._drafts.create(
            user_id=user_id, chat_id=chat_id, video_url=url, prompt=prompt, now=self._clock()
        )
        retired_cards = tuple(d for d in retired if d.card_message_id is not None)
        if prompt is None:
            return DraftReply(ReplyKind.ASK_PROMPT, texts.ASK_FOR_PROMPT, draft, retired_cards)
        return _card(draft, retired_cards)

    async def card_shown(self, draft_id: int, message_id: int) -> None:
        await self._drafts.set_card(draft_id, message_id)

    async def cancel(self, user_id: int, draft_id: int) -> bool:
        """Cancel the user's pending card; False when it is not open any more."""
        draft = await self._drafts.get(draft_id)
        if draft is None or draft.user_id != user_id:
            return False
        return await self._drafts.transition(
            draft_id, DraftState.PENDING, DraftState.CANCELLED, self._clock()
        )


def _card(draft: Draft, retired_cards: tuple[Draft, ...]) -> DraftReply:
    text = texts.confirmation_card(draft.video_url, draft.prompt or "")
    if retired_cards:
        text = f"{text}\n\n<i>{texts.DRAFT_REPLACED_NOTICE}</i>"
    return DraftReply(ReplyKind.CARD, text, draft, retired_cards)
