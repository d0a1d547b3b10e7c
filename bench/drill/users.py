"""The drills' users: each sends a link and a prompt, gets the card, and presses Submit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tests.fakes.telegram import FakeTelegram, SentMessage

FIRST_USER = 20_000
PROMPT = "make it look like a watercolor painting"


def users_for(tasks: int, users: int) -> tuple[list[int], int]:
    """`users` user ids (fewer if `tasks` is smaller) and the tasks each submits."""
    users = max(1, min(users, tasks))
    if tasks % users:
        raise SystemExit(f"--tasks ({tasks}) must be a multiple of --users ({users})")
    return [FIRST_USER + i for i in range(users)], tasks // users


def video_link(user: int, n: int) -> str:
    return f"https://v.example.com/u{user}-{n}.mp4"


def _open_card(telegram: FakeTelegram, user: int, since: int) -> tuple[SentMessage, str] | None:
    for message in telegram.messages(user)[since:]:
        for _, data in telegram.buttons(user, message.message_id):
            if data.startswith("submit:"):
                return message, data
    return None


async def submit_cards(
    telegram: FakeTelegram, users: Sequence[int], per_user: int, within: float = 300.0
) -> None:
    """Each user, one card at a time: link and prompt, the card, Submit, its answer.

    A card, or an answer to Submit, that does not come within a minute (lost: the error handler
    then says so, or the instance that had the update was killed) is asked for again, as a user
    would, twice at most.
    """

    async def card_for(user: int, n: int) -> tuple[SentMessage, str]:
        for attempt in range(3):
            since = len(telegram.messages(user))
            telegram.send_message(user, f"{video_link(user, n)} {PROMPT}", username=f"d{user}")
            try:
                await telegram.wait_until(
                    lambda: _open_card(telegram, user, since) is not None,  # noqa: B023
                    timeout=min(within, 60.0),
                    what=f"card {n} of user {user}",
                )
            except AssertionError:
                if attempt == 2:
                    raise
            found = _open_card(telegram, user, since)
            if found is not None:
                return found
        raise AssertionError("unreachable")

    async def press_submit(user: int, card: SentMessage, data: str) -> None:
        for attempt in range(3):
            query = telegram.press_button(user, card.message_id, data)
            try:
                await telegram.wait_until(
                    lambda: telegram.callback_answer(query) is not None,  # noqa: B023
                    timeout=min(within, 60.0),
                    what=f"the Submit of user {user} to be answered",
                )
                return
            except AssertionError:
                if attempt == 2:
                    raise

    async def one_user(user: int) -> None:
        for n in range(per_user):
            card, data = await card_for(user, n)
            await press_submit(user, card, data)

    await asyncio.gather(*(one_user(u) for u in users))
