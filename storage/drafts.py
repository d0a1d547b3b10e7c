"""Drafts: a link and a prompt on their way to becoming a task (the confirmation card)."""

from __future__ import annotations

from typing import Any

from bot.domain.records import OPEN_DRAFT_STATES, Draft, DraftState
from storage.db import Database
from storage.models import checked_columns, from_row

_OPEN = tuple(str(s) for s in OPEN_DRAFT_STATES)


class DraftRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        user_id: int,
        chat_id: int,
        video_url: str,
        prompt: str | None,
        now: float,
        mode: str | None = None,
        first_frame_url: str | None = None,
        media_token: str | None = None,
        original_prompt: str | None = None,
        first_frame_media_token: str | None = None,
    ) -> tuple[Draft, list[Draft]]:
        """Store a new draft and retire the user's open ones; return it and the retired drafts.

        Two writes, not one transaction: the old ones are retired first, so a failure between
        the two leaves the user with no open draft (they send it again), never with two.
        """
        state = DraftState.PENDING if prompt is not None else DraftState.AWAITING_PROMPT
        async with self._db.writes_in_a_row() as conn:
            replaced = await conn.fetch_all(
                f"UPDATE drafts SET state = ?, updated_at = ? "
                f"WHERE user_id = ? AND state IN {_placeholders(_OPEN)} RETURNING *",
                (DraftState.REPLACED, now, user_id, *_OPEN),
            )
            created = await conn.fetch_all(
                """
                INSERT INTO drafts (user_id, chat_id, video_url, prompt, state, created_at,
                                    updated_at, mode, first_frame_url, media_token,
                                    original_prompt, first_frame_media_token)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING *
                """,
                (
                    user_id,
                    chat_id,
                    video_url,
                    prompt,
                    state,
                    now,
                    now,
                    mode,
                    first_frame_url,
                    media_token,
                    original_prompt,
                    first_frame_media_token,
                ),
            )
        return from_row(Draft, next(iter(created))), [from_row(Draft, r) for r in replaced]

    async def get(self, draft_id: int) -> Draft | None:
        row = await self._db.fetch_one("SELECT * FROM drafts WHERE id = ?", (draft_id,))
        return from_row(Draft, row) if row else None

    async def open_for_user(self, user_id: int) -> Draft | None:
        """The user's newest draft that still waits for a prompt or a button press."""
        row = await self._db.fetch_one(
            f"SELECT * FROM drafts WHERE user_id = ? AND state IN {_placeholders(_OPEN)} "
            "ORDER BY id DESC LIMIT 1",
            (user_id, *_OPEN),
        )
        return from_row(Draft, row) if row else None

    async def transition(
        self,
        draft_id: int,
        from_state: DraftState,
        to_state: DraftState,
        now: float,
        **fields: Any,
    ) -> bool:
        """Move the draft from one state to another; False when it was not in `from_state`."""
        checked_columns(Draft, fields)
        assignments = "".join(f", {name} = ?" for name in fields)
        changed = await self._db.execute(
            f"UPDATE drafts SET state = ?, updated_at = ?{assignments} WHERE id = ? AND state = ?",
            (to_state, now, *fields.values(), draft_id, from_state),
        )
        return changed == 1

    async def update_pending(self, draft_id: int, user_id: int, now: float, **fields: Any) -> bool:
        """Change the choices on the user's pending card; False when it is not pending any more."""
        checked_columns(Draft, fields)
        assignments = "".join(f", {name} = ?" for name in fields)
        changed = await self._db.execute(
            f"UPDATE drafts SET updated_at = ?{assignments} "
            "WHERE id = ? AND user_id = ? AND state = ?",
            (now, *fields.values(), draft_id, user_id, DraftState.PENDING),
        )
        return changed == 1

    async def forget_card(self, draft_id: int) -> None:
        """The draft's card message now shows another draft."""
        await self._db.execute("UPDATE drafts SET card_message_id = NULL WHERE id = ?", (draft_id,))

    async def set_card(
        self, draft_id: int, message_id: int, source_message_id: int | None = None
    ) -> None:
        await self._db.execute(
            "UPDATE drafts SET card_message_id = ?, source_message_id = ? WHERE id = ?",
            (message_id, source_message_id, draft_id),
        )


def _placeholders(values: tuple[Any, ...]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"
