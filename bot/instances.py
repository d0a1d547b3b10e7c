"""This process as one of the bot's instances.

Every instance has a row in `instances`, renewed every HEARTBEAT_SHARE of
INSTANCE_TIMEOUT_SECONDS. On PostgreSQL several instances may share the database: each works on
the tasks it holds (tasks.lease_owner), and at each heartbeat settles the tasks an instance that
stopped being seen left mid-submit or mid-delivery (Recovery.take_over). With long polling,
exactly one of them polls Telegram: the holder of the "telegram-polling" lease, which the others
take over once it is not renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Collection

from bot.domain.cancelling import cancel_and_wait, raise_if_cancelling
from bot.domain.database import DatabaseUnavailableError
from bot.domain.records import Instance
from bot.services.tasks.recovery import Recovery
from storage.instances import POLLING_LEASE, InstanceRepository, LeaseRepository

log = logging.getLogger(__name__)

HEARTBEAT_SHARE = 0.25  # a heartbeat every quarter of INSTANCE_TIMEOUT_SECONDS
POLLING_LEASE_SECONDS = 6.0  # the poller renews it every LEADER_CHECK_SECONDS
LEADER_CHECK_SECONDS = 2.0
LEAVE_SECONDS = 3.0  # at stop: how long to try to say so
# Rows of instances dead this many timeouts are deleted (what they held was taken over long ago).
FORGET_AFTER_TIMEOUTS = 10


def new_instance_id() -> str:
    """host:pid:random, new at every start (a pid can come back after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class InstanceLife:
    def __init__(
        self,
        *,
        instance_id: str,
        mode: str,
        instances: InstanceRepository,
        leases: LeaseRepository,
        recovery: Recovery,
        timeout: float,
        shared: bool,
        in_hand: Callable[[], Collection[int]] = frozenset,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`shared`: other instances may use the database (PostgreSQL). `in_hand`: the tasks
        the tracker is working on now."""
        self._in_hand = in_hand
        # Since when this instance's heartbeats have got through without a break: it takes
        # over nothing until that is a whole timeout, so that after an outage it never takes
        # the others for dead before their heartbeats could get through too.
        self._healthy_since: float | None = None
        self.id = instance_id
        self._mode = mode
        self._instances = instances
        self._leases = leases
        self._recovery = recovery
        self._timeout = timeout
        self._shared = shared
        self._clock = clock
        self._jobs: list[asyncio.Task[None]] = []
        self._leading_job: asyncio.Task[None] | None = None

    async def register(self) -> None:
        now = self._clock()
        host = self.id.split(":", 1)[0]
        await self._instances.register(
            Instance(self.id, host, os.getpid(), self._mode, started_at=now, seen_at=now)
        )

    def start(self) -> None:
        self._jobs.append(asyncio.create_task(self._heartbeats(), name="instance-heartbeat"))

    def lead_polling(
        self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
    ) -> None:
        """Poll Telegram (`start`) while this instance holds the polling lease, and `stop`
        when it loses it; the only instance polls at once."""
        self._leading_job = asyncio.create_task(self._leading(start, stop), name="polling-lead")
        self._jobs.append(self._leading_job)

    async def stop_leading(self) -> None:
        """Stop polling and give the lease up at once, for another instance to take (the first
        step of a stop: work in hand may take a while yet)."""
        job, self._leading_job = self._leading_job, None
        if job is None:
            return
        self._jobs.remove(job)  # ended here: stop() neither waits for it nor logs it again
        await cancel_and_wait(job)
        with contextlib.suppress(DatabaseUnavailableError, TimeoutError):
            async with asyncio.timeout(LEAVE_SECONDS):
                await self._leases.release(POLLING_LEASE, self.id)

    async def stop(self) -> None:
        """Stop the heartbeats and leave: what this instance held is free at once."""
        await cancel_and_wait(*self._jobs)
        self._jobs.clear()
        # Not worth waiting for a database that is away: the row expires by itself.
        with contextlib.suppress(DatabaseUnavailableError, TimeoutError):
            async with asyncio.timeout(LEAVE_SECONDS):
                await self._leases.release(POLLING_LEASE, self.id)
                await self._instances.remove(self.id)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._timeout * HEARTBEAT_SHARE)
            try:
                await self._beat()
            except DatabaseUnavailableError as exc:
                self._healthy_since = None
                log.warning("Instance heartbeat skipped: %s", exc)
            except Exception:
                self._healthy_since = None
                log.exception("Instance heartbeat failed")

    async def _beat(self) -> None:
        now = self._clock()
        if not await self._instances.heartbeat(self.id, now):
            log.warning("This instance was taken for dead; registering it again")
            await self.register()
        if self._healthy_since is None:
            self._healthy_since = time.monotonic()
        if self._shared:
            sure = time.monotonic() - self._healthy_since >= self._timeout
            await self._recovery.take_over(self._in_hand(), silent_owners=sure)
            if sure:
                await self._instances.remove_dead(now - self._timeout * FORGET_AFTER_TIMEOUTS)

    async def _leading(
        self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
    ) -> None:
        polling = False
        try:
            while True:
                try:
                    lead = await self._leases.acquire(
                        POLLING_LEASE, self.id, self._clock(), POLLING_LEASE_SECONDS
                    )
                except DatabaseUnavailableError as exc:
                    log.warning("Cannot renew the polling lease: %s", exc)
                    lead = False
                if lead and not polling:
                    log.info("This instance now polls Telegram")
                    polling = True
                    if not await self._holding_lease(start()):
                        log.warning("The polling lease was lost while polling started")
                        await stop()
                        polling = False
                        raise_if_cancelling()  # a stop of this loop, swallowed by `stop`
                elif not lead and polling:
                    log.info("Another instance polls Telegram now; this one stops")
                    await stop()
                    polling = False
                    raise_if_cancelling()
                await asyncio.sleep(LEADER_CHECK_SECONDS)
        finally:
            if polling:
                await stop()

    async def _holding_lease(self, starting: Awaitable[None]) -> bool:
        """Await `starting` (the start of polling, which waits for Telegram as long as it
        takes) while renewing the polling lease, so that no other instance takes it meanwhile
        and starts polling too. False when the lease was lost all the same (the database was
        away longer than the lease): the start is then cancelled."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(LEADER_CHECK_SECONDS)
                try:
                    held = await self._leases.acquire(
                        POLLING_LEASE, self.id, self._clock(), POLLING_LEASE_SECONDS
                    )
                except DatabaseUnavailableError as exc:
                    log.warning("Cannot renew the polling lease: %s", exc)
                    continue
                except Exception:
                    log.exception("Renewing the polling lease failed")
                    continue
                if not held:
                    return

        start = asyncio.ensure_future(starting)
        renewing = asyncio.create_task(renew(), name="polling-lease-while-starting")
        try:
            await asyncio.wait({start, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if start.done():
                start.result()  # its error, if it failed
                return True
            return False
        finally:
            await cancel_and_wait(*(job for job in (start, renewing) if not job.done()))
