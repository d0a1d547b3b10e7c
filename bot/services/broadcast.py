"""BroadcastService: one message to every user, within Telegram's limits, each at most once.

The message is a text (HTML, sent with sendMessage) or a copy of a message of the admin's own
(copyMessage: a photo, a video, a formatted text... as the admin sent it); the copy's source is
stored with the broadcast, so a resumed broadcast copies the same message.

Each recipient's state is in the database and is set to `sending` before the message goes out,
so a broadcast cut off by a restart resumes where it stopped, and a recipient caught in the
middle is counted as failed rather than sent the message a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bot import texts
from bot.domain.cancelling import cancel_and_wait
from bot.domain.database import DatabaseUnavailableError
from bot.domain.delivery import Messenger, SendResult
from bot.domain.metrics import NO_METRICS, Metrics
from bot.net.ratelimit import WindowLimiter
from bot.texts import i18n
from storage.broadcasts import Broadcast, BroadcastRepository, RecipientState
from storage.instances import Lease
from storage.users import UserRepository

log = logging.getLogger(__name__)

BATCH = 100
PARALLEL_SENDS = 5  # answers take time: a few sends in flight keep the rate up
PROGRESS_EVERY_SECONDS = 2.0
_RESULT_STATES = {
    SendResult.SENT: RecipientState.SENT,
    SendResult.BLOCKED: RecipientState.BLOCKED,
    SendResult.FAILED: RecipientState.FAILED,
}


class BroadcastService:
    def __init__(
        self,
        repo: BroadcastRepository,
        users: UserRepository,
        outbox: Messenger,
        *,
        rate: float,
        language_of: Callable[[int], Awaitable[str]] = i18n.source_language_for,
        clock: Callable[[], float] = time.time,
        sender: Lease | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """`language_of`: the language a user is spoken to in (the progress is the admin's).
        `sender`: with several instances, only the holder of this lease sends broadcasts (one
        rate for all, each recipient once); it takes over those a dead holder left."""
        self._sender = sender
        self._metrics = metrics  # counts the messages sent, by result
        self._holding = False
        self._look = asyncio.Event()  # a broadcast was confirmed: the holder picks it up
        self._watch: asyncio.Task[None] | None = None
        self._repo = repo
        self._language_of = language_of
        self._users = users
        self._outbox = outbox
        # One limit for all broadcasts together: at most `rate` messages in any second.
        self._limiter = WindowLimiter(max(1, int(rate)), 1.0)
        self._clock = clock
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping = False

    async def prepare(self, admin_id: int, chat_id: int, text: str) -> tuple[int, int]:
        """Store a draft of `text` (HTML); return its id and how many users it would reach."""
        broadcast_id = await self._repo.create(admin_id, text, chat_id, self._clock())
        return broadcast_id, await self._repo.audience_size()

    async def prepare_copy(
        self, admin_id: int, chat_id: int, from_chat_id: int, message_id: int
    ) -> tuple[int, int]:
        """Store a draft that copies a message to every user (media, caption and formatting as
        they are); return its id and how many users it would reach."""
        broadcast_id = await self._repo.create(
            admin_id, "", chat_id, self._clock(), copy_of=(from_chat_id, message_id)
        )
        return broadcast_id, await self._repo.audience_size()

    async def preview_shown(self, broadcast_id: int, message_id: int) -> None:
        await self._repo.set_progress_message(broadcast_id, message_id)

    async def confirm(self, admin_id: int, broadcast_id: int) -> bool:
        """Start sending the admin's draft; False when it is not a draft of theirs any more."""
        broadcast = await self._repo.get(broadcast_id)
        if broadcast is None or broadcast.admin_id != admin_id:
            return False
        if not await self._repo.start(broadcast_id, self._clock()):
            return False
        if self._sender is None:
            self._launch(broadcast)
        else:
            self._look.set()  # sent by whichever instance holds the sender lease
        return True

    async def cancel(self, admin_id: int, broadcast_id: int) -> bool:
        broadcast = await self._repo.get(broadcast_id)
        if broadcast is None or broadcast.admin_id != admin_id:
            return False
        return await self._repo.cancel(broadcast_id)

    async def resume(self) -> None:
        """At start: go on with broadcasts a restart cut off (with several instances, from now
        on whenever this one holds the sender lease)."""
        if self._sender is not None:
            self._watch = asyncio.create_task(self._hold_sender(), name="broadcast-sender")
            return
        await self._take_up()

    async def _take_up(self) -> None:
        """Settle and send the broadcasts left `sending` by the last sender (a restart, or a
        dead instance)."""
        for broadcast in await self._repo.sending():
            unsure = await self._repo.settle_interrupted(broadcast.id)
            log.info("Resuming broadcast %d (%d recipients left unsure)", broadcast.id, unsure)
            self._launch(broadcast)

    async def _hold_sender(self) -> None:
        assert self._sender is not None
        while not self._stopping:
            try:
                held = await self._sender.hold(self._clock())
                if held and not self._holding:
                    log.info("This instance sends the broadcasts now")
                    self._holding = True
                    await self._take_up()
                elif held:  # confirmed on another instance since
                    for broadcast in await self._repo.sending():
                        if broadcast.id not in self._running:
                            self._launch(broadcast)
                elif self._holding:
                    log.warning("Another instance sends the broadcasts now; this one stops")
                    self._holding = False
                    await self._stop_sending(grace=0.0)
            except DatabaseUnavailableError as exc:
                log.warning("Cannot renew the broadcast sender lease: %s", exc)
            except Exception:
                log.exception("Holding the broadcast sender lease failed")
            self._look.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sender.seconds / 3):
                    await self._look.wait()

    async def stop(self, grace: float = 5.0) -> None:
        """Start no more sends; let those under way finish (so their counts are right)."""
        self._stopping = True
        if self._watch is not None:
            await cancel_and_wait(self._watch)
        await self._stop_sending(grace)
        if self._sender is not None and self._holding:
            # Not worth waiting for a database that is away: the lease expires by itself.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3.0):
                    await self._sender.release()

    async def _stop_sending(self, grace: float) -> None:
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._running.clear()

    def _launch(self, broadcast: Broadcast) -> None:
        self._running[broadcast.id] = asyncio.create_task(
            self._send_all(broadcast), name=f"broadcast-{broadcast.id}"
        )

    async def _send_all(self, broadcast: Broadcast) -> None:
        limiter = self._limiter
        parallel = asyncio.Semaphore(PARALLEL_SENDS)
        last_progress = 0.0

        async def send_one(user_id: int) -> None:
            async with parallel:
                await limiter.acquire()
                if self._stopping:
                    return  # left pending: sent after the next start
                if not await self._repo.mark(
                    broadcast.id, user_id, RecipientState.PENDING, RecipientState.SENDING
                ):
                    return
                result, _ = await self._deliver(broadcast, user_id)
                self._metrics.broadcast_message(result)
                await self._repo.mark(
                    broadcast.id, user_id, RecipientState.SENDING, _RESULT_STATES[result]
                )
                if result == SendResult.BLOCKED:
                    await self._users.mark_blocked_bot(user_id, self._clock())

        try:
            while not self._stopping and (
                recipients := await self._repo.pending(broadcast.id, BATCH)
            ):
                await asyncio.gather(*(send_one(user_id) for user_id in recipients))
                if self._clock() - last_progress >= PROGRESS_EVERY_SECONDS:
                    last_progress = self._clock()
                    await self._show_progress(broadcast, done=False)
            if self._stopping:
                return  # resumed at the next start
            await self._repo.finish(broadcast.id, self._clock())
            await self._show_progress(broadcast, done=True)
            log.info("Broadcast %d finished", broadcast.id)
        except Exception:
            log.exception(
                "Broadcast %d stopped by an error; it resumes at the next start", broadcast.id
            )
        finally:
            with contextlib.suppress(KeyError):
                del self._running[broadcast.id]

    async def _deliver(self, broadcast: Broadcast, user_id: int) -> tuple[SendResult, int | None]:
        """The broadcast's message to one user: a copy of the admin's message, or the text."""
        if (source := broadcast.copy_of) is not None:
            return await self._outbox.copy(user_id, *source)
        return await self._outbox.send_text(user_id, broadcast.text)

    async def _show_progress(self, broadcast: Broadcast, *, done: bool) -> None:
        counts = await self._repo.counts(broadcast.id)
        total = sum(counts.values())
        with i18n.speaking(await self._language_of(broadcast.admin_id)):  # after a restart too
            text = texts.broadcast_progress({str(k): v for k, v in counts.items()}, total, done)
        current = await self._repo.get(broadcast.id)
        if current is not None and current.progress_message_id is not None:
            # Edited without buttons: the preview's Send / Cancel go away.
            await self._outbox.edit_text(
                current.progress_chat_id, current.progress_message_id, text
            )
