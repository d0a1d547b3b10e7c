"""The update queue: updates wait in it until the bot confirms them by a getUpdates offset
(long polling, one poll at a time as Telegram allows) or the fake POSTs them to the bot's webhook
(loopback hosts only), and the webhook methods that switch between the two."""

from __future__ import annotations

import asyncio
import time
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.fakes.telegram.params import _flag
from tests.fakes.telegram.protocol import _OPT_IN_UPDATES, _ApiError, _bad
from tests.fakes.telegram.state import Call, _Signal


class UpdateQueue:
    """The updates waiting for the bot, and how they reach it (getUpdates or the webhook)."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[dict[str, Any]] = []  # every update injected, in order
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self._closing = False
        self._active_polls = 0
        self._poll_generation = 0
        self._updates_signal = _Signal()
        self._pending: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    def _enqueue(self, update: dict[str, Any]) -> int:
        """Give the update the next update_id and queue it for the bot; returns the update_id."""
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        self.updates.append(update)
        self._pending.append(update)
        self._updates_signal.notify()
        return int(update["update_id"])

    async def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = call.params
        self._confirm(params.get("offset"))
        limit, timeout = _poll_limits(params)
        self._allow(params)
        return await self._long_poll(limit, timeout)

    def _confirm(self, offset: Any) -> None:
        """Drop the updates a getUpdates `offset` confirms (a negative one keeps the last few)."""
        if isinstance(offset, int) and offset != 0:
            if offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            else:
                self._pending = self._pending[offset:]

    def _allow(self, params: dict[str, Any]) -> None:
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]

    async def _long_poll(self, limit: int, timeout: float) -> list[dict[str, Any]]:
        """Up to `limit` updates, once there are some or after `timeout` seconds."""
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()  # an older poll still waiting is terminated (409)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._active_polls += 1
        try:
            while True:
                if generation != self._poll_generation:
                    raise _ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                batch = self._available(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._closing:
                    return batch
                await self._updates_signal.wait(remaining)
        finally:
            self._active_polls -= 1

    def _available(self, limit: int) -> list[dict[str, Any]]:
        allowed = set(self._allowed_updates or ())
        batch: list[dict[str, Any]] = []
        for update in self._pending:
            kind = next((k for k in update if k != "update_id"), "")
            if (kind in allowed) if allowed else (kind not in _OPT_IN_UPDATES):
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch

    async def _deliver_webhook_updates(self) -> None:
        """POST pending updates to the webhook, one at a time, retrying failures."""
        while True:
            url = self.webhook_url
            batch = self._available(1) if url else []
            if not batch:
                await self._updates_signal.wait(None)
                continue
            if not _is_loopback(url):
                self._webhook_error = (int(time.time()), "The fake delivers to loopback hosts only")
                await self._updates_signal.wait(None)
                continue
            update = batch[0]
            headers: dict[str, str] = {}
            if self.webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
            assert self._http is not None
            try:
                response = await self._http.post(url, json=update, headers=headers, timeout=10)
                error = None
                if not response.is_success:
                    error = f"Wrong response from the webhook: {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"Connection failed: {type(exc).__name__}"
            if error is None:
                if url == self.webhook_url:
                    self._pending = [
                        u for u in self._pending if u["update_id"] > update["update_id"]
                    ]
            else:
                self._webhook_error = (int(time.time()), error)
                await self._updates_signal.wait(0.2)

    def _set_webhook(self, call: Call) -> bool:
        params = call.params
        url = str(params.get("url", ""))
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        secret = params.get("secret_token")
        self.webhook_secret = str(secret) if secret else None
        self._allow(params)
        if _flag(params, "drop_pending_updates"):
            self._pending.clear()
        self._webhook_error = None
        self._updates_signal.notify()
        return True

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        if _flag(call.params, "drop_pending_updates"):
            self._pending.clear()
        self._updates_signal.notify()
        return True

    def _get_webhook_info(self, call: Call) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url and self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        if self.webhook_url and self._allowed_updates:
            info["allowed_updates"] = list(self._allowed_updates)
        return info


def _poll_limits(params: dict[str, Any]) -> tuple[int, float]:
    """The limit and the timeout of a getUpdates call, brought into Telegram's ranges."""
    limit = params.get("limit", 100)
    limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
    try:
        timeout = max(float(params.get("timeout", 0)), 0.0)
    except (TypeError, ValueError):
        timeout = 0.0
    return limit, timeout


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
