"""Who may use the bot: banned users are refused; in allowlist mode, admins approve newcomers."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from bot.domain.numbers import user_ref
from bot.domain.records import Access, User
from storage.users import UserRepository


class Admission(StrEnum):
    ALLOWED = "allowed"
    BANNED = "banned"
    ASKED = "asked"  # a newcomer in allowlist mode: the admins are asked now
    WAITING = "waiting"  # asked before; no decision yet
    DENIED = "denied"


class AccessService:
    def __init__(
        self,
        users: UserRepository,
        *,
        allowlist: bool,
        admin_ids: frozenset[int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._users = users
        self._allowlist = allowlist
        self._admin_ids = admin_ids
        self._clock = clock

    def is_admin(self, user_id: int) -> bool:
        return user_id in self._admin_ids

    async def admit(
        self,
        user_id: int,
        username: str | None,
        first_name: str,
        telegram_language: str | None = None,
    ) -> tuple[Admission, User]:
        """Record the user and say whether they may use the bot now (with their row)."""
        user = await self._users.seen(
            user_id, username, first_name, self._clock(), telegram_language
        )
        return await self._admission(user), user

    async def _admission(self, user: User) -> Admission:
        if self.is_admin(user.id):
            return Admission.ALLOWED
        if user.banned:
            return Admission.BANNED
        if not self._allowlist or user.access == Access.ALLOWED:
            return Admission.ALLOWED
        if user.access == Access.DENIED:
            return Admission.DENIED
        if await self._users.set_access(user.id, Access.PENDING, only_from=(None,)):
            return Admission.ASKED
        return Admission.WAITING

    async def may_use(self, user_id: int) -> bool:
        """Whether a known user may use the bot now, changing nothing (for updates the gate
        does not see, such as a pre-checkout query, which has no chat)."""
        user = await self._users.get(user_id)
        if user is None:
            return False
        if self.is_admin(user.id):
            return True
        return not user.banned and (not self._allowlist or user.access == Access.ALLOWED)

    async def user(self, user_id: int) -> User | None:
        return await self._users.get(user_id)

    async def decide(
        self, who: str, allow: bool, *, only_if_pending: bool = False
    ) -> tuple[User | None, bool]:
        """Allow or deny a user (by id or @username): the user, and whether anything changed.

        A numeric id the bot never saw may be decided ahead. `only_if_pending` is for the
        request buttons: the first admin's decision stands; later presses change nothing.
        """
        ref = user_ref(who)
        user = await self._users.find_or_ensure(ref) if ref is not None else None
        if user is None:
            return None, False
        only_from = (Access.PENDING,) if only_if_pending else None
        changed = await self._users.set_access(
            user.id, Access.ALLOWED if allow else Access.DENIED, only_from=only_from
        )
        return await self._users.get(user.id), changed
