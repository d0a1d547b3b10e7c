"""/readyz: whether the database, Telegram and the provider answered recently.

/healthz is liveness (the process serves, the database answers); /readyz is readiness, for a
load balancer or an orchestrator that should send work elsewhere meanwhile. Each party is
checked, and the first that is not ready says why:

- the database: a trivial query now, given DATABASE_PING_SECONDS;
- Telegram: the last Bot API call's outcome (bot.sends records every call). A failure (no
  answer, a 5xx, the token refused) within READY_WINDOW_SECONDS, not followed by an answer,
  makes it not ready. With no call at all in the window (webhook mode, no users lately) it is
  asked getMe, at most once a window;
- the provider: the last request's outcome (bot.providers.http records every request), the same
  rule; with no request in the window nothing is known against it, and it counts as ready.

"Recently" is READY_WINDOW_SECONDS (two minutes): long polling calls Telegram every
LONG_POLL_SECONDS, and the tracker asks the provider about each running task every
POLL_INTERVAL_SECONDS (15 s by default), so a live bot with work in hand has fresh outcomes of
both well within it, and one failure older than that, with nothing asked since, is not evidence
of anything now.

`Readiness.report()` is a plain function of this object, served by any web server
(bot.web.endpoints in webhook mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain.health import Heartbeat

READY_WINDOW_SECONDS = 120.0
DATABASE_PING_SECONDS = 2.0
TELEGRAM_PROBE_SECONDS = 5.0
READY_PATH = "/readyz"


class Readiness:
    def __init__(
        self,
        *,
        database_ok: Callable[[], Awaitable[bool]],
        telegram: Heartbeat,
        provider: Heartbeat | None,
        probe_telegram: Callable[[], Awaitable[object]] | None = None,
        window: float = READY_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`provider`: None when the provider runs on this machine (the sandbox)."""
        self._database_ok = database_ok
        self._telegram = telegram
        self._provider = provider
        self._probe_telegram = probe_telegram
        self._window = window
        self._clock = clock
        self._probed_at: float | None = None

    async def report(self) -> tuple[int, dict[str, Any]]:
        """The HTTP status (200 ready, 503 not) and the JSON body: each party's state, and
        `reason` when not ready."""
        parts = {
            "database": await self._database(),
            "telegram": await self._telegram_state(),
            "provider": self._heard(self._provider, "the provider") if self._provider else "ok",
        }
        reasons = [state for state in parts.values() if state != "ok" and not _idle(state)]
        body: dict[str, Any] = {"status": "unavailable" if reasons else "ok", **parts}
        if reasons:
            body["reason"] = "; ".join(reasons)
        return (503 if reasons else 200), body

    async def _database(self) -> str:
        try:
            async with asyncio.timeout(DATABASE_PING_SECONDS):
                if await self._database_ok():
                    return "ok"
        except TimeoutError:
            return f"the database did not answer within {DATABASE_PING_SECONDS:g} s"
        except Exception as exc:  # a ping that raises is a database not answering
            return f"the database did not answer ({type(exc).__name__})"
        return "the database did not answer"

    async def _telegram_state(self) -> str:
        now = self._clock()
        seen = self._telegram.last_seen()
        stale = seen is None or now - seen > self._window
        recently_probed = self._probed_at is not None and now - self._probed_at < self._window
        if stale and self._probe_telegram is not None and not recently_probed:
            self._probed_at = now
            # The probe's outcome is recorded like any call's (bot.sends); a failure here too.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(TELEGRAM_PROBE_SECONDS):
                    await self._probe_telegram()
            if self._telegram.last_seen() == seen:  # timed out before any outcome
                self._telegram.failed(f"getMe got no answer within {TELEGRAM_PROBE_SECONDS:g} s")
        return self._heard(self._telegram, "Telegram")

    def _heard(self, heartbeat: Heartbeat, who: str) -> str:
        now = self._clock()
        if heartbeat.failing and heartbeat.failed_at is not None:
            ago = now - heartbeat.failed_at
            if ago <= self._window:
                return f"{who} failed {ago:.0f} s ago: {heartbeat.reason}"
        if heartbeat.answered_at is not None and now - heartbeat.answered_at <= self._window:
            return "ok"
        return f"idle: {who} not asked in the last {self._window:g} s"


def _idle(state: str) -> bool:
    return state.startswith("idle")
